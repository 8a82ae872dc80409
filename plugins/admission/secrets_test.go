package admission

import (
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/api/plugins/v1alpha1"
)

// TestSecretsNeedAnExplicitRule: a policy sees Secrets only through a rule
// that names "secrets" in resources; wildcards in resources, apiGroups or
// apiVersions never reach them, for any operation or object shape.
func TestSecretsNeedAnExplicitRule(t *testing.T) {
	all := []string{"*"}
	core := []string{""}
	secretObj := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","labels":{"app":"web"}},"data":{"p":"eA=="}}`)
	secretList := []byte(`{"apiVersion":"v1","kind":"SecretList","items":[]}`)
	type reqFn func() *admissionv1.AdmissionRequest
	secretReq := func(op admissionv1.Operation, sub string) reqFn {
		return func() *admissionv1.AdmissionRequest {
			r := &admissionv1.AdmissionRequest{
				Kind:        metav1.GroupVersionKind{Version: "v1", Kind: "Secret"},
				Resource:    metav1.GroupVersionResource{Version: "v1", Resource: "secrets"},
				SubResource: sub, Namespace: "default", Name: "s", Operation: op,
			}
			switch op {
			case admissionv1.Delete:
				r.OldObject = runtime.RawExtension{Raw: secretObj}
			case admissionv1.Update:
				r.Object, r.OldObject = runtime.RawExtension{Raw: secretObj}, runtime.RawExtension{Raw: secretObj}
			default:
				r.Object = runtime.RawExtension{Raw: secretObj}
			}
			return r
		}
	}
	// A list of Secrets under another resource name (defence in depth: the
	// kind alone marks Secret data).
	listReq := func() *admissionv1.AdmissionRequest {
		return &admissionv1.AdmissionRequest{
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "SecretList"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "secretlists"},
			Namespace: "default", Operation: admissionv1.Delete,
			OldObject: runtime.RawExtension{Raw: secretList},
		}
	}
	requestKindReq := func() *admissionv1.AdmissionRequest {
		r := secretReq(admissionv1.Create, "")()
		r.Kind, r.Resource = metav1.GroupVersionKind{Version: "v1", Kind: "Thing"}, metav1.GroupVersionResource{Version: "v1", Resource: "things"}
		r.RequestKind = &metav1.GroupVersionKind{Version: "v1", Kind: "Secret"}
		return r
	}
	configMap := func() *admissionv1.AdmissionRequest {
		return &admissionv1.AdmissionRequest{
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Namespace: "default", Name: "c", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: []byte(`{"kind":"ConfigMap","metadata":{"name":"c"}}`)},
		}
	}
	// A Secret-like kind in another group is not core Secret data.
	otherGroup := func() *admissionv1.AdmissionRequest {
		return &admissionv1.AdmissionRequest{
			Kind:      metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Secret"},
			Resource:  metav1.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "secrets"},
			Namespace: "default", Name: "s", Operation: admissionv1.Create,
		}
	}
	tests := []struct {
		name                        string
		groups, versions, resources []string
		req                         reqFn
		want                        bool
	}{
		{"* hides a Secret create", all, all, all, secretReq(admissionv1.Create, ""), false},
		{"* hides a Secret update", all, all, all, secretReq(admissionv1.Update, ""), false},
		{"* hides a Secret delete (oldObject)", all, all, all, secretReq(admissionv1.Delete, ""), false},
		{"core group and * hide a Secret", core, []string{"v1"}, all, secretReq(admissionv1.Create, ""), false},
		{"*/* hides a Secret subresource", all, all, []string{"*/*"}, secretReq(admissionv1.Update, "status"), false},
		{"*/status hides a Secret subresource", all, all, []string{"*/status"}, secretReq(admissionv1.Update, "status"), false},
		{"* hides a SecretList", all, all, all, listReq, false},
		{"* hides a request made as a Secret", all, all, all, requestKindReq, false},
		{"secrets named", core, []string{"v1"}, []string{"secrets"}, secretReq(admissionv1.Create, ""), true},
		{"secrets named with group and version wildcards", all, all, []string{"secrets"}, secretReq(admissionv1.Delete, ""), true},
		{"secrets named among others", all, all, []string{"pods", "secrets"}, secretReq(admissionv1.Update, ""), true},
		{"secrets/* names the subresources", all, all, []string{"secrets/*"}, secretReq(admissionv1.Update, "status"), true},
		{"secrets does not name subresources", all, all, []string{"secrets"}, secretReq(admissionv1.Update, "status"), false},
		{"* still matches ConfigMaps", all, all, all, configMap, true},
		{"* matches another group's secrets", all, all, all, otherGroup, true},
	}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := []admissionregistrationv1.RuleWithOperations{{Operations: ops,
				Rule: admissionregistrationv1.Rule{APIGroups: tc.groups, APIVersions: tc.versions, Resources: tc.resources}}}
			m, err := newMatcher(v1alpha1.AdmissionPolicySpec{Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			req := tc.req()
			if got := m.matches(&Attributes{Request: req}, decodeMeta(req)); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
			// The apiserver's cheap pre-check agrees for resource requests.
			if req.Kind.Kind != "SecretList" && req.RequestKind == nil {
				c := &Chain{}
				c.current.Store(&snapshot{validating: []*policy{{spec: v1alpha1.AdmissionPolicySpec{Rules: rules}}}})
				gvr := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
				if got := c.Handles(gvr, req.SubResource, req.Operation); got != tc.want {
					t.Fatalf("Handles = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
