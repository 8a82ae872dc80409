package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/api/testenv"
)

// TestImpersonation covers kubectl --as: the admin may act as anyone, the
// request then runs with the impersonated user's rights; a user without
// the impersonate verb is refused with 403.
func TestImpersonation(t *testing.T) {
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	ctx := context.Background()

	as := func(base *rest.Config, user string, groups ...string) kubernetes.Interface {
		cfg := rest.CopyConfig(base)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The admin impersonates a ServiceAccount: whoami and RBAC see the SA.
	sa := as(env.Config, "system:serviceaccount:default:robot")
	who, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami as the ServiceAccount: %v", err)
	}
	if got := who.Status.UserInfo.Username; got != "system:serviceaccount:default:robot" {
		t.Fatalf("whoami = %q", got)
	}
	if _, err := sa.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list pods as an unbound ServiceAccount: got %v, want 403", err)
	}

	// A user without the impersonate verb cannot become the admin.
	alice := env.UserConfig(t, "alice")
	_, err = as(alice, "admin", "system:masters").CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "impersonate") {
		t.Fatalf("alice impersonating the admin: got %v, want 403 naming impersonate", err)
	}

	// Granted impersonate on one user only, alice may act as that user.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"bob"}}}}
	if _, err := env.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates-bob"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}
	if _, err := env.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = testenv.Poll(10*time.Second, func() (bool, error) {
		who, err := as(alice, "bob").AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err == nil && who.Status.UserInfo.Username == "bob", nil
	})
	if err != nil {
		t.Fatalf("alice acting as bob: %v", err)
	}
	if _, err := as(alice, "carol").CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice impersonating carol: got %v, want 403", err)
	}
}
