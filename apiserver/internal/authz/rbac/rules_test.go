package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func res(verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: verb, APIGroup: group, Resource: resource,
		Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
}

func path(verb, p string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: verb, Path: p}
}

func TestRuleAllows(t *testing.T) {
	rule := func(verbs, groups, resources, names []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
	}
	s := func(v ...string) []string { return v }
	cases := []struct {
		name  string
		rule  rbacv1.PolicyRule
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"exact", rule(s("get"), s(""), s("pods"), nil), res("get", "", "pods", "", "ns", "p"), true},
		{"other verb", rule(s("get"), s(""), s("pods"), nil), res("list", "", "pods", "", "ns", ""), false},
		{"verb star", rule(s("*"), s(""), s("pods"), nil), res("deletecollection", "", "pods", "", "ns", ""), true},
		{"other group", rule(s("get"), s("apps"), s("pods"), nil), res("get", "", "pods", "", "ns", "p"), false},
		{"group star", rule(s("get"), s("*"), s("deployments"), nil), res("get", "apps", "deployments", "", "ns", "d"), true},
		{"resource star", rule(s("get"), s(""), s("*"), nil), res("get", "", "secrets", "", "ns", "s"), true},
		{"resource star covers subresources", rule(s("update"), s(""), s("*"), nil), res("update", "", "pods", "status", "ns", "p"), true},
		{"resource does not cover subresource", rule(s("get"), s(""), s("pods"), nil), res("get", "", "pods", "log", "ns", "p"), false},
		{"subresource exact", rule(s("get"), s(""), s("pods/log"), nil), res("get", "", "pods", "log", "ns", "p"), true},
		{"subresource other", rule(s("get"), s(""), s("pods/log"), nil), res("get", "", "pods", "exec", "ns", "p"), false},
		{"subresource does not cover resource", rule(s("get"), s(""), s("pods/log"), nil), res("get", "", "pods", "", "ns", "p"), false},
		{"star subresource", rule(s("update"), s("apps"), s("*/scale"), nil), res("update", "apps", "deployments", "scale", "ns", "d"), true},
		{"star subresource other", rule(s("update"), s("apps"), s("*/scale"), nil), res("update", "apps", "deployments", "status", "ns", "d"), false},
		{"star subresource not resource", rule(s("update"), s("apps"), s("*/scale"), nil), res("update", "apps", "deployments", "", "ns", "d"), false},
		{"prefix-like subresource", rule(s("get"), s(""), s("pod/slog"), nil), res("get", "", "pods", "log", "ns", "p"), false},
		{"resource name", rule(s("get"), s(""), s("configmaps"), s("a", "b")), res("get", "", "configmaps", "", "ns", "b"), true},
		{"resource name other", rule(s("get"), s(""), s("configmaps"), s("a")), res("get", "", "configmaps", "", "ns", "b"), false},
		{"resource names never match list", rule(s("list"), s(""), s("configmaps"), s("a")), res("list", "", "configmaps", "", "ns", ""), false},
		{"resource rule vs path", rule(s("get"), s("*"), s("*"), nil), path("get", "/healthz"), false},
		{"url exact", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/healthz")}, path("get", "/healthz"), true},
		{"url exact other", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/healthz")}, path("get", "/healthz/etcd"), false},
		{"url prefix", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/apis/*")}, path("get", "/apis/apps/v1"), true},
		{"url prefix needs slash", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/apis/*")}, path("get", "/apis"), false},
		{"url star", rbacv1.PolicyRule{Verbs: s("*"), NonResourceURLs: s("*")}, path("post", "/anything"), true},
		{"url wrong verb", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("/version")}, path("post", "/version"), false},
		{"url rule vs resource", rbacv1.PolicyRule{Verbs: s("*"), NonResourceURLs: s("*")}, res("get", "", "pods", "", "ns", "p"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RuleAllows(tc.attrs, &tc.rule); got != tc.want {
				t.Errorf("RuleAllows(%+v, %+v) = %v, want %v", tc.attrs, tc.rule, got, tc.want)
			}
		})
	}
}
