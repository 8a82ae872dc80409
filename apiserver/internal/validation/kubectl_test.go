package validation

import (
	"os/exec"
	"strings"
	"testing"

	"skiff.dev/api/testenv"
)

// TestKubectlShowsValidationErrors drives a real `skiff apiserver` with the
// installed kubectl and checks that defaulting and validation reach users the
// way kube-apiserver's do: 422 Invalid with upstream-shaped field errors,
// defaults visible on read, and immutable fields refused on update.
func TestKubectlShowsValidationErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real apiserver")
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed")
	}
	t.Parallel()
	env := testenv.StartAPIServer(t, testenv.Options{})
	steps := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"namespace", []string{"create", "namespace", "checks"}, []string{"namespace/checks created"}, false},
		{"bad namespace name", []string{"create", "namespace", "Checks"}, []string{
			`The Namespace "Checks" is invalid`, `metadata.name: Invalid value: "Checks": a lowercase RFC 1123 label must consist of`}, true},
		{"bad pod", []string{"apply", "-f", "testdata/kubectl/bad-pod.yaml"}, []string{
			`The Pod "Bad" is invalid`,
			`metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters`,
			`spec.containers[0].image: Required value`}, true},
		{"bad deployment", []string{"apply", "-f", "testdata/kubectl/bad-deployment.yaml"}, []string{
			`The Deployment "mismatch" is invalid`,
			`spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
			"spec.template.metadata.labels: Invalid value: {\"app\":\"api\"}: `selector` does not match template `labels`"}, true},
		{"bad service", []string{"apply", "-f", "testdata/kubectl/bad-service.yaml"}, []string{
			`The Service "web" is invalid`, "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}, true},
		{"bad cronjob", []string{"apply", "-f", "testdata/kubectl/bad-cronjob.yaml"}, []string{
			`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`}, true},
		{"bad wasm module", []string{"apply", "-f", "testdata/kubectl/bad-wasmmodule.yaml"}, []string{
			`The WasmModule "my-module" is invalid`, `metadata.name: Invalid value: "my-module": must be "sha256-" followed by the 64 lowercase hex digits`}, true},
		{"good objects", []string{"apply", "-f", "testdata/kubectl/good.yaml"}, []string{
			"deployment.apps/web created", "configmap/frozen created", "admissionpolicy.plugins.skiff.dev/audit-pods created"}, false},
		{"deployment defaults", []string{"get", "-n", "checks", "deploy/web", "-o",
			"jsonpath={.spec.replicas} {.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.dnsPolicy}"},
			[]string{"1 RollingUpdate 25% 10 IfNotPresent ClusterFirst"}, false},
		{"policy defaults", []string{"get", "admissionpolicy/audit-pods", "-o",
			"jsonpath={.spec.mode} {.spec.failurePolicy} {.spec.timeoutMilliseconds}"}, []string{"Enforce Fail 100"}, false},
		{"selector immutable", []string{"patch", "-n", "checks", "deploy/web", "--type=merge", "-p",
			`{"spec":{"selector":{"matchLabels":{"app":"web","v":"2"}},"template":{"metadata":{"labels":{"v":"2"}}}}}`},
			[]string{`The Deployment "web" is invalid`, "spec.selector: Invalid value", "field is immutable"}, true},
		{"scale", []string{"scale", "-n", "checks", "deploy/web", "--replicas=3"}, []string{"deployment.apps/web scaled"}, false},
		{"immutable configmap", []string{"patch", "-n", "checks", "cm/frozen", "--type=merge", "-p", `{"data":{"k":"w"}}`},
			[]string{"data: Forbidden: field is immutable when `immutable` is set"}, true},
		{"job gets a selector", []string{"create", "-n", "checks", "job", "once", "--image=busybox:1.36"}, []string{"job.batch/once created"}, false},
		{"job defaults", []string{"get", "-n", "checks", "job/once", "-o",
			"jsonpath={.spec.backoffLimit} {.spec.completions} {.spec.template.spec.restartPolicy} {.spec.selector.matchLabels}"},
			[]string{"6 1 Never", "batch.kubernetes.io/controller-uid"}, false},
	}
	for _, s := range steps {
		out, err := env.Kubectl(t, s.args...)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: kubectl %s: err=%v, wantErr=%v\n%s", s.name, strings.Join(s.args, " "), err, s.wantErr, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: kubectl %s: output lacks %q:\n%s", s.name, strings.Join(s.args, " "), w, out)
			}
		}
	}
}
