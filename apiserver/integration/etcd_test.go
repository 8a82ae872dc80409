package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/api/testenv"
	"skiff.dev/apiserver/internal/etcd"
)

// TestExternalEtcd runs two apiservers, one after the other, against one
// external etcd (--etcd-servers): what the first stored, the second serves.
func TestExternalEtcd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := etcd.Start(ctx, etcd.Options{DataDir: filepath.Join(t.TempDir(), "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	first := testenv.StartAPIServer(t, testenv.Options{EtcdServers: e.Endpoints()})
	cm, err := first.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first.Stop()

	second := testenv.StartAPIServer(t, testenv.Options{EtcdServers: e.Endpoints()})
	got, err := second.Client.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil || got.UID != cm.UID || got.Data["k"] != "v" {
		t.Fatalf("second apiserver: %+v %v", got, err)
	}
}
