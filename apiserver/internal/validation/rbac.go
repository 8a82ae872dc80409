package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---- RBAC (rbac.authorization.k8s.io/v1) ----

// rbacName accepts any name that is a valid path segment, like upstream
// (role names such as "system:node" contain colons).
func rbacName(name string, _ bool) []string { return path.IsValidPathSegmentName(name) }

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		rp := p.Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func validateRole(r *rbacv1.Role) field.ErrorList {
	errs := metaCreate(&r.ObjectMeta, true, rbacName)
	return append(errs, validatePolicyRules(r.Rules, true, field.NewPath("rules"))...)
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := metaCreate(&r.ObjectMeta, false, rbacName)
	return append(errs, validateClusterRoleBody(r)...)
}

func validateClusterRoleBody(r *rbacv1.ClusterRole) field.ErrorList {
	errs := validatePolicyRules(r.Rules, false, field.NewPath("rules"))
	if r.AggregationRule != nil {
		ap := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(ap, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range r.AggregationRule.ClusterRoleSelectors {
			errs = append(errs, metav1validation.ValidateLabelSelector(&r.AggregationRule.ClusterRoleSelectors[i],
				metav1validation.LabelSelectorValidationOptions{}, ap.Index(i))...)
		}
	}
	return errs
}

func validateRoleRef(ref rbacv1.RoleRef, clusterOnly bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	switch {
	case ref.Kind == "ClusterRole":
	case ref.Kind == "Role" && !clusterOnly:
	case clusterOnly:
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, []string{"ClusterRole"}))
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, []string{"Role", "ClusterRole"}))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range rbacName(ref.Name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	return errs
}

func validateSubjects(subjects []rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range subjects {
		sp := p.Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				for _, msg := range apivalidation.ValidateServiceAccountName(s.Name, false) {
					errs = append(errs, field.Invalid(sp.Child("name"), s.Name, msg))
				}
			}
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if !namespaced && s.Namespace == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return errs
}

func validateRoleBinding(b *rbacv1.RoleBinding) field.ErrorList {
	errs := metaCreate(&b.ObjectMeta, true, rbacName)
	errs = append(errs, validateRoleRef(b.RoleRef, false, field.NewPath("roleRef"))...)
	return append(errs, validateSubjects(b.Subjects, true, field.NewPath("subjects"))...)
}

func validateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := metaCreate(&b.ObjectMeta, false, rbacName)
	errs = append(errs, validateRoleRef(b.RoleRef, true, field.NewPath("roleRef"))...)
	return append(errs, validateSubjects(b.Subjects, false, field.NewPath("subjects"))...)
}

func roleRefImmutable(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

// validateRBACUpdate validates an update of an RBAC object; ok is false
// when old is not of obj's kind.
func validateRBACUpdate(obj, old any) (errs field.ErrorList, ok bool) {
	switch o := obj.(type) {
	case *rbacv1.Role:
		if p, ok := old.(*rbacv1.Role); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validatePolicyRules(o.Rules, true, field.NewPath("rules"))...), true
		}
	case *rbacv1.ClusterRole:
		if p, ok := old.(*rbacv1.ClusterRole); ok {
			return append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), validateClusterRoleBody(o)...), true
		}
	case *rbacv1.RoleBinding:
		if p, ok := old.(*rbacv1.RoleBinding); ok {
			errs := append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), roleRefImmutable(o.RoleRef, p.RoleRef)...)
			return append(errs, validateSubjects(o.Subjects, true, field.NewPath("subjects"))...), true
		}
	case *rbacv1.ClusterRoleBinding:
		if p, ok := old.(*rbacv1.ClusterRoleBinding); ok {
			errs := append(metaUpdate(&o.ObjectMeta, &p.ObjectMeta), roleRefImmutable(o.RoleRef, p.RoleRef)...)
			return append(errs, validateSubjects(o.Subjects, false, field.NewPath("subjects"))...), true
		}
	}
	return nil, false
}
