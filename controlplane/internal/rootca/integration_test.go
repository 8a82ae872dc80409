package rootca_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
	"skiff.dev/controlplane"
	"skiff.dev/controlplane/internal/rootca"
)

// TestPublishesOnRealAPIServer runs the controller-manager with only the
// publisher against a real apiserver: existing and new namespaces get the
// ConfigMap, and a deleted or edited one comes back.
func TestPublishesOnRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	env := testenv.StartAPIServer(t, testenv.Options{})
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	const ca = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(caFile, []byte(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := controlplane.Defaults()
	o.RESTConfig = env.Config
	o.Controllers = []string{"root-ca-cert-publisher"}
	o.RootCAFile = caFile
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	done := make(chan error, 1)
	go func() { done <- controlplane.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controlplane.Run: %v", err)
		}
	})

	client := env.Client
	published := func(ns string) {
		t.Helper()
		err := testenv.Poll(30*time.Second, func() (bool, error) {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, rootca.Name, metav1.GetOptions{})
			return err == nil && cm.Data[rootca.Key] == ca && len(cm.Data) == 1, nil
		})
		if err != nil {
			t.Fatalf("%s/%s: %v", ns, rootca.Name, err)
		}
	}
	published("default")
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rootca-new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	published("rootca-new")

	if err := client.CoreV1().ConfigMaps("rootca-new").Delete(ctx, rootca.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	published("rootca-new")

	cm, err := client.CoreV1().ConfigMaps("default").Get(ctx, rootca.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{rootca.Key: "forged", "extra": "x"}
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	published("default")
}
