package dns

import "k8s.io/apimachinery/pkg/runtime"

type runtimeObject = runtime.Object

func toRuntime(objs []runtimeObject) []runtime.Object { return objs }
