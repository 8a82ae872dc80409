package apiserver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
)

func moduleJSON(name, digest string, size int) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"plugins.skiff.dev/v1alpha1","kind":"WasmModule","metadata":{"name":%q},"spec":{"sha256":%q,"size":%d}}`, name, digest, size))
}

func TestWasmModuleContent(t *testing.T) {
	base := "/apis/plugins.skiff.dev/v1alpha1/wasmmodules"
	// 5 MiB and a bit: several etcd chunks, more than the 3 MiB object limit.
	// A nonce keeps the content (and so the name) unique across -count runs.
	data := append([]byte(fmt.Sprint(time.Now().UnixNano())), bytes.Repeat([]byte("\x00asm-skiff-test-"), (5<<20)/16+3)...)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	name := pluginsv1alpha1.ModuleNamePrefix + digest
	if code, _, raw := do(t, "POST", base, "application/json", moduleJSON(name, digest, len(data))); code != 201 {
		t.Fatalf("create module: %d %s", code, raw)
	}
	if code, st, _ := do(t, "GET", base+"/"+name+"/content", "", nil); code != 404 || st.Reason != metav1.StatusReasonNotFound {
		t.Fatalf("content before upload: %d %+v", code, st)
	}
	tests := []struct {
		name     string
		ctype    string
		body     []byte
		wantCode int
	}{
		{"wrong content type", "application/json", data, 415},
		{"wrong bytes", "application/wasm", data[:100], 422},
		{"upload", "application/wasm", data, 200},
		{"idempotent re-upload", "application/octet-stream", data, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, raw := do(t, "PUT", base+"/"+name+"/content", tc.ctype, tc.body)
			if code != tc.wantCode {
				t.Fatalf("got %d (%s), want %d", code, truncate(raw), tc.wantCode)
			}
			if code == 200 {
				var mod pluginsv1alpha1.WasmModule
				if err := json.Unmarshal(raw, &mod); err != nil || !mod.Status.Uploaded {
					t.Fatalf("upload answer: %s %v", truncate(raw), err)
				}
			}
		})
	}
	code, _, raw := do(t, "GET", base+"/"+name+"/content", "", nil)
	if code != 200 || !bytes.Equal(raw, data) {
		t.Fatalf("download: %d, %d bytes (want %d)", code, len(raw), len(data))
	}
	// Deleting the module deletes its bytes.
	if code, _, raw := do(t, "DELETE", base+"/"+name, "", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, raw)
	}
	if code, _, raw := do(t, "POST", base, "application/json", moduleJSON(name, digest, len(data))); code != 201 {
		t.Fatalf("re-create module: %d %s", code, raw)
	}
	if code, _, _ := do(t, "GET", base+"/"+name+"/content", "", nil); code != 404 {
		t.Fatalf("content after delete and re-create: %d, want 404", code)
	}
	// A name that does not match the bytes.
	otherSum := sha256.Sum256(append(data, 'x'))
	otherDigest := hex.EncodeToString(otherSum[:])
	other := pluginsv1alpha1.ModuleNamePrefix + otherDigest
	if code, _, raw := do(t, "POST", base, "application/json", moduleJSON(other, otherDigest, 4)); code != 201 {
		t.Fatalf("create other: %d %s", code, raw)
	}
	if code, st, _ := do(t, "PUT", base+"/"+other+"/content", "application/wasm", []byte("abcd")); code != 422 || !strings.Contains(st.Message, "sha256") {
		t.Fatalf("mismatched upload: %d %q", code, st.Message)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// recorder is an Admission that labels ConfigMaps, denies names starting
// with "deny-" and records what it saw.
type recorder struct {
	mu    sync.Mutex
	calls []string
	users map[string]bool // who the requests came from
}

func (a *recorder) Handles(gvr schema.GroupVersionResource, sub string, op admissionv1.Operation) bool {
	return gvr.Resource == "configmaps"
}

func (a *recorder) Mutate(ctx context.Context, req *admissionv1.AdmissionRequest, nsLabels map[string]string) ([]byte, []string, error) {
	a.record("mutate", req, nsLabels)
	if req.Operation != admissionv1.Create {
		return nil, nil, nil
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(req.Object.Raw, &cm); err != nil {
		return nil, nil, err
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels["mutated"] = "yes"
	cm.UID = "tampered" // must be ignored
	b, err := json.Marshal(&cm)
	return b, []string{"mutated by test"}, err
}

func (a *recorder) Validate(ctx context.Context, req *admissionv1.AdmissionRequest, nsLabels map[string]string) ([]string, error) {
	a.record("validate", req, nsLabels)
	if strings.HasPrefix(req.Name, "deny-") {
		return nil, errors.New("names starting with deny- are not allowed")
	}
	if req.Operation == admissionv1.Create && !strings.Contains(string(req.Object.Raw), `"mutated":"yes"`) {
		return nil, apierrors.NewBadRequest("validating admission ran before mutation")
	}
	return nil, nil
}

func (a *recorder) record(phase string, req *admissionv1.AdmissionRequest, nsLabels map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("%s %s %s %s dry=%v team=%s", phase, req.Operation, req.Resource.Resource, req.Name, *req.DryRun, nsLabels["team"]))
	if a.users == nil {
		a.users = map[string]bool{}
	}
	a.users[req.UserInfo.Username+" "+strings.Join(req.UserInfo.Groups, ",")] = true
}

func TestAdmissionChain(t *testing.T) {
	adm := &recorder{}
	e, stop, err := startServer(context.Background(), t.TempDir(), adm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := ctxT(t)
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adm", Labels: map[string]string{"team": "blue"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := e.client.CoreV1().ConfigMaps("adm")
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["mutated"] != "yes" || cm.UID == "tampered" {
		t.Fatalf("mutation: labels=%v uid=%s", cm.Labels, cm.UID)
	}
	_, err = c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "deny-me"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "deny-") {
		t.Fatalf("denied create: want 403, got %v", err)
	}
	if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{"All"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "ok", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Secrets are not handled: no calls for them.
	if _, err := e.client.CoreV1().Secrets("adm").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mutate CREATE configmaps ok dry=false team=blue",
		"validate CREATE configmaps ok dry=false team=blue",
		"mutate CREATE configmaps deny-me dry=false team=blue",
		"validate CREATE configmaps deny-me dry=false team=blue",
		"mutate CREATE configmaps dry dry=true team=blue",
		"validate CREATE configmaps dry dry=true team=blue",
		"validate DELETE configmaps ok dry=false team=blue",
	}
	adm.mu.Lock()
	defer adm.mu.Unlock()
	if strings.Join(adm.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("admission calls:\n%s\nwant:\n%s", strings.Join(adm.calls, "\n"), strings.Join(want, "\n"))
	}
	// Admission sees the authenticated user (the admin kubeconfig's).
	if len(adm.users) != 1 || !adm.users["admin system:masters,system:authenticated"] {
		t.Fatalf("admission saw users %v, want admin in system:masters", adm.users)
	}
}

func TestTableOutput(t *testing.T) {
	ns := namespace(t)
	if code, _, raw := do(t, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "application/json", []byte(`{"metadata":{"name":"t1"},"data":{"a":"b"}}`)); code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	req, _ := http.NewRequest("GET", shared.url+"/api/v1/namespaces/"+ns+"/configmaps", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := shared.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &table); err != nil || table.Kind != "Table" || len(table.Rows) != 1 {
		t.Fatalf("table: %s %v", b, err)
	}
	if table.Rows[0].Cells[0] != "t1" || table.ColumnDefinitions[1].Name != "Data" {
		t.Fatalf("table row: %+v", table.Rows[0].Cells)
	}
}
