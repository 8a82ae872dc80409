package core

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func conflict(name string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, name, errAlreadyBound)
}

type alreadyBound struct{}

func (alreadyBound) Error() string { return "pod is already assigned to a node" }

var errAlreadyBound = alreadyBound{}
