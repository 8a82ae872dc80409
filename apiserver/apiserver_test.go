package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/api/pki"
	"skiff.dev/apiserver"
)

// env is one in-process apiserver shared by the tests of this package;
// each test works in namespaces of its own.
type env struct {
	url    string
	client kubernetes.Interface
	config *rest.Config
	http   *http.Client // admin credentials
	pkiDir string
}

var shared *env

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "apiserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	e, stop, err := startServer(ctx, dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		return 1
	}
	shared = e
	code := m.Run()
	cancel()
	stop()
	return code
}

// startServer runs a server in-process on a free port and waits until it
// is ready. stop waits for Run to return.
func startServer(ctx context.Context, dir string, adm apiserver.Admission) (*env, func(), error) {
	return startServerWith(ctx, apiserver.Options{DataDir: dir, Admission: adm})
}

// startServerWith is startServer with more options (DataDir is required).
func startServerWith(ctx context.Context, opts apiserver.Options) (*env, func(), error) {
	opts.Port = 0
	opts.KubeconfigPath = filepath.Join(opts.DataDir, "admin.kubeconfig")
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := apiserver.New(opts)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("server stopped: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, nil, fmt.Errorf("server not ready after 60s")
	}
	var cfg *rest.Config
	if opts.InsecureHTTP {
		cfg = &rest.Config{Host: srv.URL()}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", srv.KubeconfigPath())
	}
	if err != nil {
		cancel()
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}
	return &env{url: srv.URL(), client: cs, config: cfg, http: hc, pkiDir: srv.PKIDir()}, stop, nil
}

// namespace creates a fresh namespace for a test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + "-" + fmt.Sprint(time.Now().UnixNano()%100000)
	_, err := shared.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	// No controller-manager runs here to make the default ServiceAccount
	// that pods need.
	_, err = shared.client.CoreV1().ServiceAccounts(name).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create the default ServiceAccount: %v", err)
	}
	return name
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// do sends a raw request and decodes a Status from the answer.
func do(t *testing.T, method, path, contentType string, body []byte) (int, metav1.Status, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, shared.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := shared.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	_ = json.Unmarshal(b, &st)
	return resp.StatusCode, st, b
}

func TestErrorStatuses(t *testing.T) {
	ns := namespace(t)
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	code, _, _ := do(t, "POST", base, "application/json", []byte(`{"metadata":{"name":"exists"}}`))
	if code != 201 {
		t.Fatalf("seed create: %d", code)
	}
	big := bytes.Repeat([]byte("a"), 3<<20+10)
	tests := []struct {
		name        string
		method      string
		path        string
		ctype       string
		body        string
		wantCode    int
		wantReason  metav1.StatusReason
		wantMessage string
	}{
		{"unknown group", "GET", "/apis/example.com/v1/widgets", "", "", 404, metav1.StatusReasonNotFound, "could not find the requested resource"},
		{"unknown resource", "GET", "/api/v1/widgets", "", "", 404, metav1.StatusReasonNotFound, ""},
		{"unknown version", "GET", "/apis/apps/v9/deployments", "", "", 404, metav1.StatusReasonNotFound, ""},
		{"missing object", "GET", base + "/nope", "", "", 404, metav1.StatusReasonNotFound, `configmaps "nope" not found`},
		{"malformed json", "POST", base, "application/json", `{"metadata":`, 400, metav1.StatusReasonBadRequest, ""},
		{"empty body", "POST", base, "application/json", ``, 400, metav1.StatusReasonBadRequest, ""},
		{"already exists", "POST", base, "application/json", `{"metadata":{"name":"exists"}}`, 409, metav1.StatusReasonAlreadyExists, "already exists"},
		{"stale update", "PUT", base + "/exists", "application/json", `{"metadata":{"name":"exists","resourceVersion":"1"}}`, 409, metav1.StatusReasonConflict, "has been modified"},
		{"update missing", "PUT", base + "/ghost", "application/json", `{"metadata":{"name":"ghost"}}`, 404, metav1.StatusReasonNotFound, ""},
		{"invalid name", "POST", base, "application/json", `{"metadata":{"name":"Not_Valid"}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"no name", "POST", base, "application/json", `{"metadata":{}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"strict unknown field", "POST", base + "?fieldValidation=Strict", "application/json", `{"metadata":{"name":"s1"},"bogus":1}`, 400, metav1.StatusReasonBadRequest, `unknown field "bogus"`},
		{"wrong kind", "POST", base, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"k1"}}`, 400, metav1.StatusReasonBadRequest, "kind"},
		{"wrong version", "POST", base, "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"k2"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"namespace mismatch", "POST", base, "application/json", `{"metadata":{"name":"m1","namespace":"other"}}`, 400, metav1.StatusReasonBadRequest, "namespace"},
		{"name mismatch", "PUT", base + "/exists", "application/json", `{"metadata":{"name":"other"}}`, 400, metav1.StatusReasonBadRequest, "does not match"},
		{"missing namespace", "POST", "/api/v1/namespaces/no-such-ns/configmaps", "application/json", `{"metadata":{"name":"x"}}`, 404, metav1.StatusReasonNotFound, `namespaces "no-such-ns" not found`},
		{"too large", "POST", base, "application/json", string(big), 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"bad field selector", "GET", base + "?fieldSelector=spec.nope%3Dx", "", "", 400, metav1.StatusReasonBadRequest, "field label not supported"},
		{"bad label selector", "GET", base + "?labelSelector=a+in+(b", "", "", 400, metav1.StatusReasonBadRequest, ""},
		{"bad dryRun", "POST", base + "?dryRun=Some", "application/json", `{"metadata":{"name":"d1"}}`, 400, metav1.StatusReasonBadRequest, "dryRun"},
		{"unsupported patch", "PATCH", base + "/exists", "text/plain", `x`, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"bad json patch", "PATCH", base + "/exists", "application/json-patch+json", `{"op":1}`, 400, metav1.StatusReasonBadRequest, ""},
		{"delete protected ns", "DELETE", "/api/v1/namespaces/default", "", "", 403, metav1.StatusReasonForbidden, "may not be deleted"},
		{"binding to missing pod", "POST", "/api/v1/namespaces/" + ns + "/pods/nopod/binding", "application/json", `{"target":{"name":"n1"}}`, 404, metav1.StatusReasonNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, st, raw := do(t, tc.method, tc.path, tc.ctype, []byte(tc.body))
			if code != tc.wantCode || st.Reason != tc.wantReason || st.Kind != "Status" || st.Code != int32(tc.wantCode) {
				t.Fatalf("got %d %q (%s), want %d %q", code, st.Reason, raw, tc.wantCode, tc.wantReason)
			}
			if !strings.Contains(st.Message, tc.wantMessage) {
				t.Fatalf("message %q does not contain %q", st.Message, tc.wantMessage)
			}
		})
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func TestGenerationAndStatusSubresource(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.AppsV1().Deployments(ns)
	d := deployment("gen", 1)
	d.Status.Replicas = 7 // ignored on create
	d, err := c.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || d.Status.Replicas != 0 || d.UID == "" || d.CreationTimestamp.IsZero() || d.ResourceVersion == "" {
		t.Fatalf("create: generation=%d status=%d uid=%q rv=%q", d.Generation, d.Status.Replicas, d.UID, d.ResourceVersion)
	}
	// Metadata-only change keeps the generation.
	d.Labels = map[string]string{"x": "y"}
	if d, err = c.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 1 {
		t.Fatalf("label update: gen=%d err=%v", d.Generation, err)
	}
	// Spec change bumps it; status in a main update is ignored.
	*d.Spec.Replicas = 3
	d.Status.Replicas = 9
	if d, err = c.Update(ctx, d, metav1.UpdateOptions{}); err != nil || d.Generation != 2 || d.Status.Replicas != 0 {
		t.Fatalf("spec update: gen=%d status=%d err=%v", d.Generation, d.Status.Replicas, err)
	}
	// Status update changes status only.
	d.Status.Replicas = 3
	d.Status.ObservedGeneration = 2
	*d.Spec.Replicas = 10
	d.Labels["z"] = "w"
	if d, err = c.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Status.Replicas != 3 || *d.Spec.Replicas != 3 || d.Generation != 2 || d.Labels["z"] != "" {
		t.Fatalf("status update: status=%d spec=%d gen=%d labels=%v", d.Status.Replicas, *d.Spec.Replicas, d.Generation, d.Labels)
	}
	// Scale subresource.
	s, err := c.GetScale(ctx, "gen", metav1.GetOptions{})
	if err != nil || s.Spec.Replicas != 3 || s.Status.Replicas != 3 || s.Status.Selector != "app=gen" {
		t.Fatalf("get scale: %+v %v", s, err)
	}
	s.Spec.Replicas = 5
	if s, err = c.UpdateScale(ctx, "gen", s, metav1.UpdateOptions{}); err != nil || s.Spec.Replicas != 5 {
		t.Fatalf("update scale: %+v %v", s, err)
	}
	if d, err = c.Get(ctx, "gen", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 5 || d.Generation != 3 {
		t.Fatalf("after scale: %v %v", d, err)
	}
	// A stale scale update conflicts.
	s.ResourceVersion = "1"
	if _, err := c.UpdateScale(ctx, "gen", s, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale scale update: want conflict, got %v", err)
	}
}

func TestFinalizersAndPropagation(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fin", Finalizers: []string{"example.com/hold"}}}
	if _, err := c.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "fin", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("object with a finalizer must stay with deletionTimestamp: %v %v", got, err)
	}
	// Deleting again is fine and changes nothing.
	if err := c.Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got.Finalizers = nil
	if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("clearing the last finalizer must remove the object: %v", err)
	}

	// Propagation policies add the GC finalizers.
	for _, tc := range []struct {
		policy metav1.DeletionPropagation
		want   string
	}{{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents}, {metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents}} {
		name := strings.ToLower(string(tc.policy))
		if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := tc.policy
		if err := c.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &p}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, name, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != tc.want {
			t.Fatalf("%s: %v %v", tc.policy, got, err)
		}
	}

	// Preconditions.
	created, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pre"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := "1"
	if err := c.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}); !apierrors.IsConflict(err) {
		t.Fatalf("stale precondition: want conflict, got %v", err)
	}
	if err := c.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &created.UID}}); err != nil {
		t.Fatal(err)
	}
}

func TestPodBindingAndGracefulDelete(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.CoreV1().Pods(ns)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	created, err := c.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.Phase != corev1.PodPending {
		t.Fatalf("phase %q, want Pending", created.Status.Phase)
	}
	bind := func(node string) error {
		return c.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	}
	if err := bind("n1"); err != nil {
		t.Fatal(err)
	}
	if err := bind("n2"); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: want 409, got %v", err)
	}
	got, err := c.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "n1" {
		t.Fatalf("bound pod: %v %v", got, err)
	}
	list, err := c.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1,status.phase=Pending"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("field selector: %v %v", list, err)
	}
	// A bound pod is deleted gracefully, then for good with grace 0.
	if err := c.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete: %v %v", got, err)
	}
	zero := int64(0)
	if err := c.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod must be gone: %v", err)
	}
	// An unscheduled pod goes at once; eviction deletes too.
	for _, name := range []string{"q", "r"} {
		pod.Name = name
		if _, err := c.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "q", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "q", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unscheduled pod must be gone: %v", err)
	}
	code, _, raw := do(t, "POST", "/api/v1/namespaces/"+ns+"/pods/r/eviction", "application/json",
		[]byte(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"r"}}`))
	if code != 201 {
		t.Fatalf("eviction: %d %s", code, raw)
	}
	if _, err := c.Get(ctx, "r", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("evicted pod must be gone: %v", err)
	}
}

func TestListSelectorsAndPaging(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.CoreV1().ConfigMaps(ns)
	for i := 0; i < 25; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i),
			Labels: map[string]string{"tier": []string{"web", "db", "cache"}[i%3], "idx": fmt.Sprint(i)}}}
		if i%2 == 0 {
			cm.Labels["even"] = "true"
		}
		if _, err := c.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	selectors := []struct {
		label, field string
		want         int
	}{
		{"tier=web", "", 9},
		{"tier!=web", "", 16},
		{"tier in (db,cache)", "", 16},
		{"tier notin (db,cache)", "", 9},
		{"even", "", 13},
		{"!even", "", 12},
		{"tier=web,even", "", 5},
		{"", "metadata.name=cm-03", 1},
		{"", "metadata.name!=cm-03", 24},
		{"tier=db", "metadata.name=cm-01", 1},
		{"", "metadata.namespace=" + ns, 25},
	}
	for _, s := range selectors {
		list, err := c.List(ctx, metav1.ListOptions{LabelSelector: s.label, FieldSelector: s.field})
		if err != nil || len(list.Items) != s.want {
			t.Errorf("label %q field %q: got %d items (%v), want %d", s.label, s.field, len(list.Items), err, s.want)
		}
	}
	// Paging is consistent at the first page's revision.
	first, err := c.List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || len(first.Items) != 10 || first.Continue == "" {
		t.Fatalf("first page: %d items, continue %q, %v", len(first.Items), first.Continue, err)
	}
	if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-99"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := len(first.Items)
	next := first.Continue
	for next != "" {
		page, err := c.List(ctx, metav1.ListOptions{Limit: 10, Continue: next})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion != first.ResourceVersion {
			t.Fatalf("page at revision %s, first at %s", page.ResourceVersion, first.ResourceVersion)
		}
		seen += len(page.Items)
		next = page.Continue
	}
	if seen != 25 {
		t.Fatalf("paged list saw %d items, want 25 (the later create must not appear)", seen)
	}
	// deletecollection with a selector.
	if err := c.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "tier=web"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 17 {
		t.Fatalf("after deletecollection: %d items, %v", len(list.Items), err)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	nsc := shared.client.CoreV1().Namespaces()
	got, err := nsc.Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.Status.Phase != corev1.NamespaceActive || len(got.Spec.Finalizers) != 1 {
		t.Fatalf("new namespace: %+v %v", got, err)
	}
	if err := nsc.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = nsc.Get(ctx, ns, metav1.GetOptions{})
	if err != nil || got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
		t.Fatalf("deleted namespace must be Terminating: %+v %v", got.Status, err)
	}
	_, err = shared.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "being terminated") {
		t.Fatalf("create in terminating namespace: want 403, got %v", err)
	}
	// The namespace controller's last step: clear spec.finalizers.
	got.Spec.Finalizers = nil
	if _, err := nsc.Finalize(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nsc.Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("finalized namespace must be gone: %v", err)
	}
}

func TestDryRunAndGenerateName(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.CoreV1().ConfigMaps(ns)
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || !strings.HasPrefix(cm.Name, "gen-") || len(cm.Name) != len("gen-")+5 {
		t.Fatalf("dry-run create: %v %v", cm, err)
	}
	if _, err := c.Get(ctx, cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run must not store: %v", err)
	}
	real, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	real.Data = map[string]string{"a": "b"}
	if _, err := c.Update(ctx, real, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, real.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, real.Name, metav1.GetOptions{})
	if err != nil || got.Data != nil || got.ResourceVersion != real.ResourceVersion {
		t.Fatalf("dry-run update/delete must not write: %v %v", got, err)
	}
}

func TestServiceClusterIPs(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	c := shared.client.CoreV1().Services(ns)
	svc := func(name, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			ClusterIP: ip, Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	}
	a, err := c.Create(ctx, svc("a", ""), metav1.CreateOptions{})
	if err != nil || a.Spec.ClusterIP == "" || !strings.HasPrefix(a.Spec.ClusterIP, "10.") {
		t.Fatalf("allocated IP: %v %v", a, err)
	}
	if _, err := c.Create(ctx, svc("b", a.Spec.ClusterIP), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("duplicate IP: want 422, got %v", err)
	}
	if _, err := c.Create(ctx, svc("c", "192.168.0.1"), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("IP out of range: want 422, got %v", err)
	}
	headless, err := c.Create(ctx, svc("h", "None"), metav1.CreateOptions{})
	if err != nil || headless.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v %v", headless, err)
	}
	// An update that omits the IP keeps it.
	a.Spec.ClusterIP, a.Spec.ClusterIPs = "", nil
	a.Labels = map[string]string{"x": "y"}
	if a, err = c.Update(ctx, a, metav1.UpdateOptions{}); err != nil || a.Spec.ClusterIP == "" {
		t.Fatalf("update keeps clusterIP: %v %v", a, err)
	}
	ip := a.Spec.ClusterIP
	if err := c.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, svc("b", ip), metav1.CreateOptions{}); err != nil {
		t.Fatalf("released IP must be reusable: %v", err)
	}
	// Node ports.
	np := svc("np", "")
	np.Spec.Type = corev1.ServiceTypeNodePort
	np, err = c.Create(ctx, np, metav1.CreateOptions{})
	if err != nil || np.Spec.Ports[0].NodePort < 30000 || np.Spec.Ports[0].NodePort > 32767 {
		t.Fatalf("node port: %v %v", np, err)
	}
	dup := svc("np2", "")
	dup.Spec.Type = corev1.ServiceTypeNodePort
	dup.Spec.Ports[0].NodePort = np.Spec.Ports[0].NodePort
	if _, err := c.Create(ctx, dup, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("duplicate node port: want 422, got %v", err)
	}
}

func TestEventsAPIsShareObjects(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	now := metav1.NewMicroTime(time.Now())
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "scheduled.1"}, EventTime: now,
		ReportingController: "skiff-scheduler", ReportingInstance: "skiff-scheduler-1",
		Action: "Binding", Reason: "Scheduled", Type: corev1.EventTypeNormal, Note: "assigned to n1",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-1", UID: "u1"},
	}
	if _, err := shared.client.EventsV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := shared.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web-1,involvedObject.kind=Pod"})
	if err != nil || len(core.Items) != 1 || core.Items[0].Message != "assigned to n1" || core.Items[0].ReportingController != "skiff-scheduler" {
		t.Fatalf("core/v1 view: %+v %v", core, err)
	}
	legacy := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "legacy.1"}, Reason: "Pulled", Message: "pulled image",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-2"}, Source: corev1.EventSource{Component: "kubelet"},
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1, Type: corev1.EventTypeNormal}
	if _, err := shared.client.CoreV1().Events(ns).Create(ctx, legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := shared.client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=web-2"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Note != "pulled image" || list.Items[0].DeprecatedSource.Component != "kubelet" {
		t.Fatalf("events.k8s.io view: %+v %v", list, err)
	}
	got, err := shared.client.EventsV1().Events(ns).Get(ctx, "scheduled.1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: now}
	if _, err := shared.client.EventsV1().Events(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := shared.client.CoreV1().Events(ns).Get(ctx, "scheduled.1", metav1.GetOptions{})
	if err != nil || c.Series == nil || c.Series.Count != 2 {
		t.Fatalf("series through core/v1: %+v %v", c, err)
	}
}

func TestKubeletProxy(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	var mu sync.Mutex
	var paths []string
	var clients []string
	kubelet := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			clients = append(clients, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		mu.Unlock()
		_, _ = io.WriteString(w, "from kubelet "+r.URL.Path)
	}))
	// The kubelet's serving certificate comes from the cluster CA, which
	// the apiserver verifies kubelets against by default.
	ca, err := pki.LoadOrCreateCA(shared.pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.IssueServing(t.TempDir(), "kubelet", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	kubelet.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert}
	kubelet.StartTLS()
	defer kubelet.Close()
	u, _ := url.Parse(kubelet.URL)
	port, _ := strconv.Atoi(u.Port())
	nodeName := "proxy-node-" + ns
	node, err := shared.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := shared.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: corev1.PodSpec{NodeName: nodeName,
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	pod, err = shared.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Image: "busybox",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	if _, err := shared.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := shared.client.CoreV1().Pods(ns).GetLogs("logs", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(b), "from kubelet /containerLogs/"+ns+"/logs/c") {
		t.Fatalf("pod log: %q %v", b, err)
	}
	code, _, raw := do(t, "GET", "/api/v1/nodes/"+nodeName+"/proxy/stats/summary", "", nil)
	if code != 200 || string(raw) != "from kubelet /stats/summary" {
		t.Fatalf("node proxy: %d %q", code, raw)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, cn := range clients {
		if cn != "kube-apiserver-kubelet-client" {
			t.Errorf("kubelet saw client certificate %q, want kube-apiserver-kubelet-client", cn)
		}
	}
	if len(clients) == 0 {
		t.Error("the apiserver sent no client certificate to the kubelet")
	}
}

func TestMetadataClient(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	mc, err := metadata.NewForConfig(shared.config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	w, err := mc.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := shared.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m", Labels: map[string]string{"a": "b"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		p, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if !ok || p.Name != "m" || ev.Type != "ADDED" {
			t.Fatalf("metadata watch event: %v %#v", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("no metadata watch event")
	}
	list, err := mc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "a=b"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "m" {
		t.Fatalf("metadata list: %+v %v", list, err)
	}
	got, err := mc.Resource(gvr).Namespace(ns).Get(ctx, "m", metav1.GetOptions{})
	if err != nil || got.Labels["a"] != "b" || got.UID == "" {
		t.Fatalf("metadata get: %+v %v", got, err)
	}
	if err := mc.Resource(gvr).Namespace(ns).Delete(ctx, "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestWatchList(t *testing.T) {
	ctx, ns := ctxT(t), namespace(t)
	for _, name := range []string{"a", "b", "c"} {
		if _, err := shared.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	w, err := shared.client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{
		SendInitialEvents: &yes, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	added := 0
	for {
		select {
		case e := <-w.ResultChan():
			switch e.Type {
			case "ADDED":
				added++
			case "BOOKMARK":
				cm := e.Object.(*corev1.ConfigMap)
				if cm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
					continue
				}
				if added != 3 {
					t.Fatalf("initial events end after %d ADDED, want 3", added)
				}
				return
			default:
				t.Fatalf("unexpected %s event", e.Type)
			}
		case <-ctx.Done():
			t.Fatal("no initial-events-end bookmark")
		}
	}
}
