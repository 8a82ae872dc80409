package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/google/uuid"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/apiserver/internal/storage"
)

// Store is one RBAC resource's store and etcd key prefix.
type Store struct {
	Interface storage.Interface
	Prefix    string // e.g. "/registry/rbac.authorization.k8s.io/clusterroles/"
}

func (s Store) key(namespace, name string) string {
	if namespace == "" {
		return s.Prefix + name
	}
	return s.Prefix + namespace + "/" + name
}

// Options name the four RBAC stores.
type Options struct {
	ClusterRoles, ClusterRoleBindings, Roles, RoleBindings Store
	Logger                                                 *slog.Logger
}

// errUnchanged aborts an update that would change nothing.
var errUnchanged = errors.New("unchanged")

// Reconcile creates the default policy objects that are missing and, unless
// an object is annotated rbac.authorization.kubernetes.io/autoupdate=false,
// adds the default rules, subjects and labels that it lacks (existing extra
// rules and subjects are kept, as in Kubernetes). A binding whose roleRef
// differs from the default is recreated. Several apiservers may reconcile
// at the same time.
func Reconcile(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var errs []error
	for _, cr := range ClusterRoles() {
		cr.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"}
		errs = append(errs, ensure(ctx, o, o.ClusterRoles, cr, func() runtime.Object { return &rbacv1.ClusterRole{} },
			func(cur runtime.Object) (bool, bool) {
				c := cur.(*rbacv1.ClusterRole)
				return both(mergeMeta(&c.ObjectMeta, &cr.ObjectMeta), mergeRules(&c.Rules, cr.Rules)), false
			}))
	}
	for _, ro := range Roles() {
		ro.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"}
		errs = append(errs, ensure(ctx, o, o.Roles, ro, func() runtime.Object { return &rbacv1.Role{} },
			func(cur runtime.Object) (bool, bool) {
				c := cur.(*rbacv1.Role)
				return both(mergeMeta(&c.ObjectMeta, &ro.ObjectMeta), mergeRules(&c.Rules, ro.Rules)), false
			}))
	}
	for _, b := range ClusterRoleBindings() {
		b.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"}
		errs = append(errs, ensure(ctx, o, o.ClusterRoleBindings, b, func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
			func(cur runtime.Object) (bool, bool) {
				c := cur.(*rbacv1.ClusterRoleBinding)
				if c.RoleRef != b.RoleRef {
					return false, true
				}
				return both(mergeMeta(&c.ObjectMeta, &b.ObjectMeta), mergeSubjects(&c.Subjects, b.Subjects)), false
			}))
	}
	for _, b := range RoleBindings() {
		b.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"}
		errs = append(errs, ensure(ctx, o, o.RoleBindings, b, func() runtime.Object { return &rbacv1.RoleBinding{} },
			func(cur runtime.Object) (bool, bool) {
				c := cur.(*rbacv1.RoleBinding)
				if c.RoleRef != b.RoleRef {
					return false, true
				}
				return both(mergeMeta(&c.ObjectMeta, &b.ObjectMeta), mergeSubjects(&c.Subjects, b.Subjects)), false
			}))
	}
	return errors.Join(errs...)
}

// ensure creates want or merges it into the stored object. merge changes
// cur in place and reports whether it changed and whether the object must
// be recreated instead.
func ensure(ctx context.Context, o Options, st Store, want metav1.Object, newObj func() runtime.Object, merge func(cur runtime.Object) (changed, recreate bool)) error {
	key := st.key(want.GetNamespace(), want.GetName())
	what := fmt.Sprintf("%T %s", want, key)
	for attempt := 0; attempt < 3; attempt++ {
		cur := newObj()
		err := st.Interface.Get(ctx, key, "", cur)
		if apierrors.IsNotFound(err) {
			obj := want.(runtime.Object).DeepCopyObject()
			m := obj.(metav1.Object)
			m.SetUID(types.UID(uuid.NewString()))
			m.SetCreationTimestamp(metav1.Now())
			err := st.Interface.Create(ctx, key, obj, newObj())
			if apierrors.IsAlreadyExists(err) {
				continue // another apiserver created it: merge into that
			}
			if err != nil {
				return fmt.Errorf("create %s: %w", what, err)
			}
			o.Logger.Info("created default RBAC object", "key", key)
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", what, err)
		}
		recreate := false
		err = st.Interface.GuaranteedUpdate(ctx, key, newObj(), false, nil, func(current runtime.Object) (runtime.Object, error) {
			m := current.(metav1.Object)
			if m.GetAnnotations()[AnnotationAutoupdate] == "false" {
				return nil, errUnchanged
			}
			upd := current.DeepCopyObject()
			changed, rc := merge(upd)
			if rc {
				recreate = true
				return nil, errUnchanged
			}
			if !changed {
				return nil, errUnchanged
			}
			return upd, nil
		})
		switch {
		case errors.Is(err, errUnchanged) && recreate:
			uid := cur.(metav1.Object).GetUID()
			if err := st.Interface.Delete(ctx, key, newObj(), &storage.Preconditions{UID: &uid}, nil); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("delete %s to recreate it: %w", what, err)
			}
			o.Logger.Info("recreating default RBAC binding with another roleRef", "key", key)
			continue
		case errors.Is(err, errUnchanged):
			return nil
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("update %s: %w", what, err)
		}
		o.Logger.Info("updated default RBAC object", "key", key)
		return nil
	}
	return fmt.Errorf("reconcile %s: gave up after concurrent changes", what)
}

// mergeMeta adds want's labels and missing annotations to m.
func mergeMeta(m, want *metav1.ObjectMeta) bool {
	changed := false
	for k, v := range want.Labels {
		if m.Labels[k] != v {
			if m.Labels == nil {
				m.Labels = map[string]string{}
			}
			m.Labels[k] = v
			changed = true
		}
	}
	for k, v := range want.Annotations {
		if _, ok := m.Annotations[k]; !ok {
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[k] = v
			changed = true
		}
	}
	return changed
}

// mergeRules appends the rules of want that rules lacks.
func mergeRules(rules *[]rbacv1.PolicyRule, want []rbacv1.PolicyRule) bool {
	changed := false
	for _, w := range want {
		found := false
		for _, have := range *rules {
			if reflect.DeepEqual(normalize(have), normalize(w)) {
				found = true
				break
			}
		}
		if !found {
			*rules = append(*rules, w)
			changed = true
		}
	}
	return changed
}

// normalize maps nil and empty slices alike for comparison.
func normalize(r rbacv1.PolicyRule) rbacv1.PolicyRule {
	z := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	return rbacv1.PolicyRule{Verbs: z(r.Verbs), APIGroups: z(r.APIGroups), Resources: z(r.Resources),
		ResourceNames: z(r.ResourceNames), NonResourceURLs: z(r.NonResourceURLs)}
}

// mergeSubjects appends the subjects of want that subjects lacks.
func mergeSubjects(subjects *[]rbacv1.Subject, want []rbacv1.Subject) bool {
	changed := false
	for _, w := range want {
		found := false
		for _, have := range *subjects {
			if have.Kind == w.Kind && have.Name == w.Name && have.Namespace == w.Namespace {
				found = true
				break
			}
		}
		if !found {
			*subjects = append(*subjects, w)
			changed = true
		}
	}
	return changed
}

// both is a || b without short-circuiting, so every merge runs.
func both(a, b bool) bool { return a || b }
