package validation

import (
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	metaPath   = field.NewPath("metadata")
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

const (
	isNegativeErrorMsg   = apivalidation.IsNegativeErrorMsg
	isNotPositiveMessage = "must be greater than zero"
	fieldImmutableMsg    = apivalidation.FieldImmutableErrorMsg
)

// metaCreate validates metadata of a new object.
func metaCreate(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMeta(m, namespaced, nameFn, metaPath)
}

// metaUpdate validates the metadata of an updated object against the stored one.
func metaUpdate(m, old *metav1.ObjectMeta) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(m, old, metaPath)
	errs = append(errs, apivalidation.ValidateFinalizers(m.Finalizers, metaPath.Child("finalizers"))...)
	return errs
}

func typeName(obj runtime.Object) string {
	if obj == nil {
		return "<nil>"
	}
	return reflect.TypeOf(obj).String()
}

func nonNegative(v int64, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, isNegativeErrorMsg)}
	}
	return nil
}

func positive(v int64, p *field.Path) field.ErrorList {
	if v <= 0 {
		return field.ErrorList{field.Invalid(p, v, isNotPositiveMessage)}
	}
	return nil
}

func immutable(newVal, oldVal any, p *field.Path) field.ErrorList {
	if !apiequality.Semantic.DeepEqual(newVal, oldVal) {
		return field.ErrorList{field.Invalid(p, newVal, fieldImmutableMsg)}
	}
	return nil
}

func dnsLabel(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func dnsSubdomain(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func qualifiedName(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func labelValue(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidLabelValue(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func validIP(v string, p *field.Path) field.ErrorList {
	return utilvalidation.IsValidIP(p, v)
}

func labelSelector(s *metav1.LabelSelector, p *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, p)
}

func portNum(port int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p, port, msg))
	}
	return errs
}

func portName(name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortName(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// oneOf reports v as NotSupported unless it is one of allowed; empty v is Required.
func oneOf[T ~string](v T, p *field.Path, allowed ...T) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

// optionalOneOf is oneOf that accepts an empty value.
func optionalOneOf[T ~string](v T, p *field.Path, allowed ...T) field.ErrorList {
	if v == "" {
		return nil
	}
	return oneOf(v, p, allowed...)
}
