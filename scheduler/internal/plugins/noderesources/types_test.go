package noderesources

import v1 "k8s.io/api/core/v1"

type v1Pod = v1.Pod
