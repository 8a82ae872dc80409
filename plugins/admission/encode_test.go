package admission

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/plugins/abi"
)

func TestAppendRequestMatchesEncodingJSON(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		req  admissionv1.AdmissionRequest
	}{
		{"empty", admissionv1.AdmissionRequest{}},
		{"pod create", admissionv1.AdmissionRequest{
			UID: "0b1c", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: "web", Namespace: "default",
			Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
			Object: runtime.RawExtension{Raw: []byte(`{"kind":"Pod","metadata":{"name":"web","labels":{"a":"b"}}}`)}, DryRun: &no,
		}},
		{"update with everything", admissionv1.AdmissionRequest{
			UID: "u", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Resource:    metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			SubResource: "scale", RequestKind: &metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
			RequestResource:    &metav1.GroupVersionResource{Group: "apps", Version: "v1beta1", Resource: "deployments"},
			RequestSubResource: "scale", Name: "d", Namespace: "ns", Operation: admissionv1.Update,
			UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", UID: "42", Groups: []string{"a", "b"},
				Extra: map[string]authenticationv1.ExtraValue{"z": {"1", "2"}, "a": {"x"}, "n": nil}},
			Object:    runtime.RawExtension{Raw: []byte(`{"spec":{"replicas":3}}`)},
			OldObject: runtime.RawExtension{Raw: []byte(` {"spec":{"replicas":1}}` + "\n")},
			DryRun:    &yes, Options: runtime.RawExtension{Raw: []byte(`{"kind":"UpdateOptions"}`)},
		}},
		{"escapes", admissionv1.AdmissionRequest{
			Name: "quote\" back\\slash\nnew\ttab\x01ctl <html> & é \u2028 \xff", Operation: admissionv1.Delete,
			UserInfo: authenticationv1.UserInfo{Groups: []string{}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendRequest(nil, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("appendRequest:\n got %s\nwant %s", got, want)
			}
			var back admissionv1.AdmissionRequest
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(back.Object.Raw), bytes.TrimSpace(tc.req.Object.Raw)) {
				t.Fatalf("object %s, want %s", back.Object.Raw, tc.req.Object.Raw)
			}
		})
	}
}

func TestDecodeOutput(t *testing.T) {
	tests := []struct {
		in   string
		want abi.AdmissionOutput
	}{
		{`{"allowed":true}`, abi.AdmissionOutput{Allowed: true}},
		{`{"allowed": true}`, abi.AdmissionOutput{Allowed: true}},
		{`{"allowed":false,"code":403,"message":"no"}`, abi.AdmissionOutput{Code: 403, Message: "no"}},
		{`{"allowed":true,"warnings":["w"]}`, abi.AdmissionOutput{Allowed: true, Warnings: []string{"w"}}},
	}
	for _, tc := range tests {
		var got abi.AdmissionOutput
		if err := decodeOutput([]byte(tc.in), &got); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// BenchmarkEnvelope measures building the request payload (native).
func BenchmarkEnvelope(b *testing.B) {
	req := admissionv1.AdmissionRequest{
		UID: "0b1c", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: "web", Namespace: "default",
		Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
		Object: runtime.RawExtension{Raw: bytes.Repeat([]byte(`{"a":"b"}`), 1)},
	}
	var buf []byte
	for b.Loop() {
		buf, _ = envelope(buf[:0], &req)
	}
}
