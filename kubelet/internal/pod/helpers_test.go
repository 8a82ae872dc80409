package pod

import "k8s.io/apimachinery/pkg/util/intstr"

type intstrT = intstr.IntOrString

func intstrFromInt(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }
