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

func rule(ops []string, groups, versions, resources []string, scope string) admissionregistrationv1.RuleWithOperations {
	r := admissionregistrationv1.RuleWithOperations{Rule: admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources}}
	for _, o := range ops {
		r.Operations = append(r.Operations, admissionregistrationv1.OperationType(o))
	}
	if scope != "" {
		s := admissionregistrationv1.ScopeType(scope)
		r.Scope = &s
	}
	return r
}

type reqSpec struct {
	group, version, resource, sub, ns, op string
	labels, oldLabels                     string // JSON objects
	nsLabels                              map[string]string
}

func (r reqSpec) attrs() (*Attributes, *objectMeta) {
	req := &admissionv1.AdmissionRequest{
		Resource:    metav1.GroupVersionResource{Group: r.group, Version: r.version, Resource: r.resource},
		SubResource: r.sub, Namespace: r.ns, Operation: admissionv1.Operation(r.op),
	}
	if r.labels != "" {
		req.Object = runtime.RawExtension{Raw: []byte(`{"metadata":{"labels":` + r.labels + `}}`)}
	}
	if r.oldLabels != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(`{"metadata":{"labels":` + r.oldLabels + `}}`)}
	}
	return &Attributes{Request: req, NamespaceLabels: r.nsLabels}, decodeMeta(req)
}

func TestMatching(t *testing.T) {
	all := []string{"*"}
	pods := reqSpec{version: "v1", resource: "pods", ns: "default", op: "CREATE", labels: `{"app":"web"}`, nsLabels: map[string]string{"env": "prod"}}
	with := func(r reqSpec, f func(*reqSpec)) reqSpec { f(&r); return r }
	sel := func(s string) *metav1.LabelSelector {
		ls, err := metav1.ParseToLabelSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	tests := []struct {
		name   string
		rules  []admissionregistrationv1.RuleWithOperations
		nsSel  *metav1.LabelSelector
		objSel *metav1.LabelSelector
		req    reqSpec
		want   bool
	}{
		{"exact", []admissionregistrationv1.RuleWithOperations{rule([]string{"CREATE"}, []string{""}, []string{"v1"}, []string{"pods"}, "")}, nil, nil, pods, true},
		{"other operation", []admissionregistrationv1.RuleWithOperations{rule([]string{"UPDATE"}, []string{""}, []string{"v1"}, []string{"pods"}, "")}, nil, nil, pods, false},
		{"wildcards", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, nil, nil, pods, true},
		{"other group", []admissionregistrationv1.RuleWithOperations{rule(all, []string{"apps"}, all, all, "")}, nil, nil, pods, false},
		{"* skips subresources", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, nil, nil, with(pods, func(r *reqSpec) { r.sub = "status" }), false},
		{"pods/status", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"pods/status"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.sub = "status" }), true},
		{"pods/status not pods", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"pods/status"}, "")}, nil, nil, pods, false},
		{"*/* all", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"*/*"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.sub = "binding" }), true},
		{"*/status", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"*/status"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.sub = "status" }), true},
		{"secrets hidden from *", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"*"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.resource = "secrets" }), false},
		{"secrets hidden from */*", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"*/*"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.resource = "secrets" }), false},
		{"secrets named", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, []string{"secrets"}, "")}, nil, nil, with(pods, func(r *reqSpec) { r.resource = "secrets" }), true},
		{"Namespaced scope", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "Namespaced")}, nil, nil, pods, true},
		{"Cluster scope", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "Cluster")}, nil, nil, pods, false},
		{"namespaceSelector match", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, sel("env=prod"), nil, pods, true},
		{"namespaceSelector miss", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, sel("env=dev"), nil, pods, false},
		{"namespaceSelector ignores cluster-scoped", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, sel("env=dev"), nil,
			reqSpec{version: "v1", resource: "nodes", op: "CREATE"}, true},
		{"namespaceSelector on a Namespace uses its labels", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, sel("env=dev"), nil,
			reqSpec{version: "v1", resource: "namespaces", op: "CREATE", labels: `{"env":"dev"}`}, true},
		{"objectSelector match", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, nil, sel("app=web"), pods, true},
		{"objectSelector miss", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, nil, sel("app=db"), pods, false},
		{"objectSelector old object", []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")}, nil, sel("app=db"),
			with(pods, func(r *reqSpec) { r.op = "DELETE"; r.labels = ""; r.oldLabels = `{"app":"db"}` }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newMatcher(v1alpha1.AdmissionPolicySpec{Rules: tc.rules, NamespaceSelector: tc.nsSel, ObjectSelector: tc.objSel})
			if err != nil {
				t.Fatal(err)
			}
			a, meta := tc.req.attrs()
			if got := m.matches(a, meta); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatcherRejectsBadSpecs(t *testing.T) {
	all := []string{"*"}
	tests := []struct {
		name string
		spec v1alpha1.AdmissionPolicySpec
	}{
		{"no rules", v1alpha1.AdmissionPolicySpec{}},
		{"empty resources", v1alpha1.AdmissionPolicySpec{Rules: []admissionregistrationv1.RuleWithOperations{rule(all, all, all, nil, "")}}},
		{"bad scope", v1alpha1.AdmissionPolicySpec{Rules: []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "Galaxy")}}},
		{"bad selector", v1alpha1.AdmissionPolicySpec{Rules: []admissionregistrationv1.RuleWithOperations{rule(all, all, all, all, "")},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newMatcher(tc.spec); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestHandles(t *testing.T) {
	c, err := New(Options{Modules: nil})
	if err == nil {
		t.Fatal("New without Modules succeeded")
	}
	c = &Chain{}
	c.current.Store(&snapshot{validating: []*policy{{spec: v1alpha1.AdmissionPolicySpec{Rules: []admissionregistrationv1.RuleWithOperations{
		rule([]string{"CREATE"}, []string{""}, []string{"v1"}, []string{"pods"}, "Namespaced")}}}}})
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	if !c.Handles(pods, "", admissionv1.Create) || c.Handles(pods, "", admissionv1.Delete) || c.Handles(pods, "status", admissionv1.Create) {
		t.Fatal("Handles mismatch")
	}
}
