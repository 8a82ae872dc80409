package admission_test

import (
	"context"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/plugins/admission"
	"skiff.dev/plugins/internal/wasmtest"
)

// TestCatchAllPolicyNeverSeesSecrets loads a policy that denies whatever it
// is called with, under catch-all rules, and one under rules naming
// secrets: only the second is ever called with Secret data.
func TestCatchAllPolicyNeverSeesSecrets(t *testing.T) {
	e := newEnv(t)
	deny := e.store.add(wasmtest.WAT(t, "testdata/denyall.wat"))
	rules := func(resources ...string) policyOpt {
		return func(p *v1alpha1.AdmissionPolicy) {
			p.Spec.Rules = []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: resources},
			}}
		}
	}
	secret := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"default"},"data":{"password":"aHVudGVyMg=="}}`)
	req := func(op admissionv1.Operation, kind, resource string, obj, old []byte) admission.Attributes {
		r := &admissionv1.AdmissionRequest{
			UID:       "uid-1",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: resource},
			Name:      "s",
			Namespace: "default",
			Operation: op,
		}
		if obj != nil {
			r.Object = runtime.RawExtension{Raw: obj}
		}
		if old != nil {
			r.OldObject = runtime.RawExtension{Raw: old}
		}
		return admission.Attributes{Request: r, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "default"}}
	}
	secretRequests := map[string]admission.Attributes{
		"create": req(admissionv1.Create, "Secret", "secrets", secret, nil),
		"update": req(admissionv1.Update, "Secret", "secrets", secret, secret),
		"delete": req(admissionv1.Delete, "Secret", "secrets", nil, secret),
	}

	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("catch-all", deny, rules("*", "*/*"))})
	mustReady(t, e.chain, "catch-all")
	for name, a := range secretRequests {
		if _, err := e.chain.Validate(context.Background(), a); err != nil {
			t.Errorf("secret %s reached the catch-all policy: %v", name, err)
		}
		if _, _, err := e.chain.Mutate(context.Background(), a); err != nil {
			t.Errorf("secret %s reached the catch-all policy (mutate): %v", name, err)
		}
	}
	cm := req(admissionv1.Create, "ConfigMap", "configmaps", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"}}`), nil)
	if _, err := e.chain.Validate(context.Background(), cm); statusCode(err) == 0 {
		t.Fatalf("the catch-all policy did not see a ConfigMap: %v", err)
	}

	e.chain.Sync(context.Background(), []v1alpha1.AdmissionPolicy{policy("secrets", deny, rules("secrets"))})
	mustReady(t, e.chain, "secrets")
	for name, a := range secretRequests {
		if _, err := e.chain.Validate(context.Background(), a); statusCode(err) == 0 {
			t.Errorf("secret %s did not reach the policy naming secrets: %v", name, err)
		}
	}
}
