// Package events serves events.k8s.io/v1 Events from the core/v1 Event
// store, converting between the two shapes, so that — as upstream — both
// APIs read and write the same objects: an event a controller records
// through events.k8s.io/v1 shows up in `kubectl describe` (core/v1), and
// one etcd watch feeds both.
package events

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff.dev/apiserver/internal/storage"
)

// Store adapts a core/v1 Event store to events.k8s.io/v1 Events.
type Store struct {
	core storage.Interface
}

var _ storage.Interface = (*Store)(nil)

// New wraps core, the store of core/v1 Events.
func New(core storage.Interface) *Store { return &Store{core: core} }

// ToCore converts an events.k8s.io/v1 Event to core/v1.
func ToCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          *in.ObjectMeta.DeepCopy(),
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// FromCore converts a core/v1 Event to events.k8s.io/v1.
func FromCore(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		ObjectMeta:               *in.ObjectMeta.DeepCopy(),
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

func toCore(obj runtime.Object) (*corev1.Event, error) {
	switch e := obj.(type) {
	case *eventsv1.Event:
		return ToCore(e), nil
	case *corev1.Event:
		return e, nil
	}
	return nil, apierrors.NewInternalError(fmt.Errorf("events: unexpected object %T", obj))
}

func fromCore(obj runtime.Object) (*eventsv1.Event, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("events: unexpected stored object %T", obj))
	}
	return FromCore(e), nil
}

func assign(out runtime.Object, e *eventsv1.Event) error {
	dst, ok := out.(*eventsv1.Event)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("events: unexpected output %T", out))
	}
	*dst = *e
	return nil
}

// coreField renames an events.k8s.io selector field to its core/v1 name.
func coreField(f string) string {
	switch f {
	case "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid":
		return "involvedObject." + f[len("regarding."):]
	case "reportingController":
		return "reportingComponent"
	}
	return f
}

func translate(opts storage.ListOptions) (storage.ListOptions, error) {
	if opts.Predicate.Field == nil {
		return opts, nil
	}
	sel, err := opts.Predicate.Field.Transform(func(f, v string) (string, string, error) {
		return coreField(f), v, nil
	})
	if err != nil {
		return opts, apierrors.NewBadRequest(err.Error())
	}
	opts.Predicate.Field = sel
	return opts, nil
}

// Create implements storage.Interface.
func (s *Store) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	in, err := toCore(obj)
	if err != nil {
		return err
	}
	var stored corev1.Event
	if err := s.core.Create(ctx, key, in, &stored); err != nil {
		return err
	}
	return assign(out, FromCore(&stored))
}

// Get implements storage.Interface.
func (s *Store) Get(ctx context.Context, key, resourceVersion string, out runtime.Object) error {
	var e corev1.Event
	if err := s.core.Get(ctx, key, resourceVersion, &e); err != nil {
		return err
	}
	return assign(out, FromCore(&e))
}

// List implements storage.Interface.
func (s *Store) List(ctx context.Context, key string, opts storage.ListOptions, listObj runtime.Object) error {
	opts, err := translate(opts)
	if err != nil {
		return err
	}
	var core corev1.EventList
	if err := s.core.List(ctx, key, opts, &core); err != nil {
		return err
	}
	out, ok := listObj.(*eventsv1.EventList)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("events: unexpected list %T", listObj))
	}
	out.ListMeta = core.ListMeta
	out.Items = make([]eventsv1.Event, len(core.Items))
	for i := range core.Items {
		out.Items[i] = *FromCore(&core.Items[i])
	}
	return nil
}

// GuaranteedUpdate implements storage.Interface.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool, pre *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	var stored corev1.Event
	err := s.core.GuaranteedUpdate(ctx, key, &stored, ignoreNotFound, pre, func(current runtime.Object) (runtime.Object, error) {
		cur, err := fromCore(current)
		if err != nil {
			return nil, err
		}
		updated, err := tryUpdate(cur)
		if err != nil {
			return nil, err
		}
		return toCore(updated)
	})
	if err != nil {
		return err
	}
	return assign(out, FromCore(&stored))
}

// Delete implements storage.Interface.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, pre *storage.Preconditions, validate storage.ValidateDeletionFunc) error {
	var last corev1.Event
	var v storage.ValidateDeletionFunc
	if validate != nil {
		v = func(ctx context.Context, current runtime.Object) error {
			cur, err := fromCore(current)
			if err != nil {
				return err
			}
			return validate(ctx, cur)
		}
	}
	if err := s.core.Delete(ctx, key, &last, pre, v); err != nil {
		return err
	}
	return assign(out, FromCore(&last))
}

// Watch implements storage.Interface.
func (s *Store) Watch(ctx context.Context, key string, opts storage.ListOptions) (watch.Interface, error) {
	opts, err := translate(opts)
	if err != nil {
		return nil, err
	}
	w, err := s.core.Watch(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
		if e, ok := ev.Object.(*corev1.Event); ok {
			ev.Object = FromCore(e)
		}
		return ev, true
	}), nil
}

// Count implements storage.Interface.
func (s *Store) Count(ctx context.Context, key string) (int64, error) { return s.core.Count(ctx, key) }
