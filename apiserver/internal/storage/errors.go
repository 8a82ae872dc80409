package storage

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// optimisticLockMsg is the Kubernetes wording for a stale resourceVersion.
const optimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

// continueExpiredMsg explains a continue token whose revision was compacted.
const continueExpiredMsg = "The provided continue parameter is too old to display a consistent list result. " +
	"You can start a new list without the continue parameter, or use the continue token in this response to " +
	"retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - " +
	"objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."

func (s *Store) errNotFound(key string) error {
	return apierrors.NewNotFound(s.cfg.GroupResource, s.nameOf(key))
}

func (s *Store) errAlreadyExists(key string) error {
	return apierrors.NewAlreadyExists(s.cfg.GroupResource, s.nameOf(key))
}

func (s *Store) errConflict(key string, err error) error {
	return apierrors.NewConflict(s.cfg.GroupResource, s.nameOf(key), err)
}

func (s *Store) errOptimisticLock(key string) error {
	return s.errConflict(key, errors.New(optimisticLockMsg))
}

// errTooOld is 410 Gone (reason Expired) for a resourceVersion older than
// the history kept (compacted in etcd or evicted from the watch cache).
func errTooOld(rv, oldest int64) error {
	return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, oldest))
}

// errTooLarge is 504 Timeout for a resourceVersion the store has not seen
// yet, with the ResourceVersionTooLarge cause clients (reflectors) look for.
func errTooLarge(rv, current int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", rv, current), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{
		Type:    metav1.CauseTypeResourceVersionTooLarge,
		Message: "Too large resource version",
	}}
	return err
}

func errBadResourceVersion(rv string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q: must be a non-negative integer", rv))
}

// interpret converts an etcd or context error into a StatusError. Errors
// that already are StatusErrors pass through.
func (s *Store) interpret(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(fmt.Sprintf("%s %s: request did not complete in time", op, s.cfg.GroupResource), 1)
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrGRPCRequestTooLarge):
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("%s %s: object too large for storage", op, s.cfg.GroupResource))
	case errors.Is(err, rpctypes.ErrNoSpace), errors.Is(err, rpctypes.ErrGRPCNoSpace):
		return apierrors.NewInternalError(fmt.Errorf("%s %s: etcd database space exceeded: %w", op, s.cfg.GroupResource, err))
	}
	return apierrors.NewInternalError(fmt.Errorf("%s %s: %w", op, s.cfg.GroupResource, err))
}

func isCompacted(err error) bool {
	return errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrGRPCCompacted)
}

func isFutureRev(err error) bool {
	return errors.Is(err, rpctypes.ErrFutureRev) || errors.Is(err, rpctypes.ErrGRPCFutureRev)
}
