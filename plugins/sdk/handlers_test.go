package sdk

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"skiff.dev/plugins/abi"
)

type testSettings struct {
	Max int `json:"max"`
}

func (s testSettings) Validate() error {
	if s.Max < 0 {
		return errors.New("max must not be negative")
	}
	return nil
}

func reset() {
	handlers.entry = map[string]func([]byte) []byte{}
	handlers.settings = nil
	handlers.fields = 0
}

func invoke(t *testing.T, export string, in string) abi.AdmissionOutput {
	t.Helper()
	out, err := Invoke(export, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var res abi.AdmissionOutput
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	return res
}

func TestAdmissionHandlers(t *testing.T) {
	reset()
	decodes := 0
	HandleValidate(func(req AdmissionRequest, s testSettings) Response {
		decodes++
		switch req.Name {
		case "panic":
			panic("boom")
		case "deny":
			return Response{Message: "no", Code: 403}
		case "fail":
			return Fail(errors.New("cannot tell"))
		}
		var obj Object
		if err := req.DecodeObject(&obj); err != nil {
			return Fail(err)
		}
		if len(obj.Metadata.Labels) > s.Max {
			return Denyf("%d labels, at most %d", len(obj.Metadata.Labels), s.Max)
		}
		return Allow().WithWarning("checked")
	})
	HandleMutate(func(req AdmissionRequest, _ struct{}) Response {
		return Patched(PatchOp{Op: "add", Path: "/metadata/labels/x", Value: 0})
	})
	obj := `"object":{"metadata":{"labels":{"a":"1","b":"2"}}}`
	tests := []struct {
		name, export, in string
		want             abi.AdmissionOutput
	}{
		{"allowed", "validate", `{"request":{"name":"ok",` + obj + `},"settings":{"max":2}}`, abi.AdmissionOutput{Allowed: true, Warnings: []string{"checked"}}},
		{"denied", "validate", `{"request":{"name":"ok",` + obj + `},"settings":{"max":1}}`, abi.AdmissionOutput{Message: "2 labels, at most 1"}},
		{"denied with code", "validate", `{"request":{"name":"deny"}}`, abi.AdmissionOutput{Message: "no", Code: 403}},
		{"panic becomes an error", "validate", `{"request":{"name":"panic"}}`, abi.AdmissionOutput{Error: "panic: boom"}},
		{"failure", "validate", `{"request":{"name":"fail"}}`, abi.AdmissionOutput{Error: "cannot tell"}},
		{"bad JSON", "validate", `{"request":`, abi.AdmissionOutput{Error: "decode request: unexpected end of JSON input"}},
		{"bad settings at call time", "validate", `{"request":{"name":"ok"},"settings":{"max":-1}}`, abi.AdmissionOutput{Error: "settings: max must not be negative"}},
		{"mutate patch", "mutate", `{"request":{}}`, abi.AdmissionOutput{Allowed: true, Patch: json.RawMessage(`[{"op":"add","path":"/metadata/labels/x","value":0}]`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := invoke(t, tc.export, tc.in)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tc.want)
			if string(gb) != string(wb) {
				t.Fatalf("got %s\nwant %s", gb, wb)
			}
		})
	}
	if _, err := Invoke("filter", nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("unregistered entry point: %v", err)
	}
	if c := capabilities(); c != abi.CapValidate|abi.CapMutate|abi.CapValidateSettings {
		t.Fatalf("capabilities = %b", c)
	}
}

func TestValidateSettings(t *testing.T) {
	reset()
	HandleValidate(func(AdmissionRequest, testSettings) Response { return Allow() })
	tests := []struct {
		in, wantMsg string
	}{
		{``, ""},
		{`null`, ""},
		{`{"max":3}`, ""},
		{`{"max":-1}`, "max must not be negative"},
		{`{"mx":3}`, `unknown field "mx"`},
		{`[1]`, "cannot unmarshal array"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			out, _ := Invoke(abi.ExportValidateSettings, []byte(tc.in))
			var res abi.SettingsOutput
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.Valid != (tc.wantMsg == "") || !strings.Contains(res.Message, tc.wantMsg) {
				t.Fatalf("got %+v, want message %q", res, tc.wantMsg)
			}
		})
	}
}

func TestSchedulingHandlers(t *testing.T) {
	reset()
	HandleScore(func(req *SchedulingRequest, s testSettings) ([]int64, error) {
		out := make([]int64, len(req.Nodes))
		for i := range req.Nodes {
			if v, ok := NodeLabel(&req.Nodes[i], "rank"); ok && v == "top" {
				out[i] = int64(s.Max)
			}
		}
		return out, nil
	}, NodeLabels)
	HandleFilter(func(req *SchedulingRequest, _ testSettings) ([]FilterResult, error) {
		return nil, nil // wrong length: an error
	}, NodeResources)
	if f := nodeFields(); f != abi.FieldLabels|abi.FieldResources {
		t.Fatalf("node fields = %b", f)
	}
	batch := abi.AppendBatch(nil, &abi.Batch{Fields: abi.FieldLabels, Settings: []byte(`{"max":7}`), Nodes: []abi.Node{
		{Name: "a", Labels: []abi.Label{{Key: "rank", Value: "top"}}}, {Name: "b"},
	}})
	out, _ := Invoke(abi.ExportScore, batch)
	scores, err := abi.DecodeScores(out)
	if err != nil || len(scores) != 2 || scores[0] != 7 || scores[1] != 0 {
		t.Fatalf("scores = %v, %v", scores, err)
	}
	out, _ = Invoke(abi.ExportFilter, batch)
	if _, err := abi.DecodeFilterResults(out); err == nil || !strings.Contains(err.Error(), "0 results for 2 nodes") {
		t.Fatalf("filter length mismatch: %v", err)
	}
	out, _ = Invoke(abi.ExportScore, []byte("garbage"))
	if _, err := abi.DecodeScores(out); err == nil {
		t.Fatal("garbage batch scored")
	}
}

func TestEncodeAdmission(t *testing.T) {
	tests := []struct {
		name     string
		r        Response
		mutating bool
		want     abi.AdmissionOutput
	}{
		{"allow", Allow(), false, abi.AdmissionOutput{Allowed: true}},
		{"deny", Deny(`bad "thing"` + "\n\x01é\xff"), false, abi.AdmissionOutput{Message: "bad \"thing\"\n\x01é\ufffd"}},
		{"deny with code and warnings", Response{Message: "no", Code: 403, Warnings: []string{"a", "b"}}, false,
			abi.AdmissionOutput{Message: "no", Code: 403, Warnings: []string{"a", "b"}}},
		{"error", Fail(errors.New("boom")), false, abi.AdmissionOutput{Error: "boom"}},
		{"patch ignored when validating", Patched(PatchOp{Op: "add", Path: "/x", Value: 1}), false, abi.AdmissionOutput{Allowed: true}},
		{"patch", Patched(PatchOp{Op: "add", Path: "/x", Value: 1}), true,
			abi.AdmissionOutput{Allowed: true, Patch: json.RawMessage(`[{"op":"add","path":"/x","value":1}]`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeAdmission(tc.r, tc.mutating)
			var got abi.AdmissionOutput
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v (%s), want %+v", got, b, tc.want)
			}
		})
	}
}

// BenchmarkValidateHandler runs a whole validate call natively (envelope
// decoding, ObjectMeta, response encoding).
func BenchmarkValidateHandler(b *testing.B) {
	h := admissionHandler(func(req AdmissionRequest, s struct{ Labels []string }) Response {
		meta, err := req.ObjectMeta()
		if err != nil {
			return Fail(err)
		}
		for _, l := range s.Labels {
			if _, ok := meta.Labels[l]; !ok {
				return Deny("missing " + l)
			}
		}
		return Allow()
	}, false)
	in := []byte(`{"request":{"uid":"0b1c","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"web-7d4b9c","namespace":"default","operation":"CREATE","userInfo":{"username":"alice","groups":["system:authenticated"]},"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c","namespace":"default","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c","team":"a"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.2.3","ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},"status":{}},"oldObject":null,"dryRun":false,"options":null},"settings":{"Labels":["team"]}}`)
	for b.Loop() {
		if out := h(in); string(out) != `{"allowed":true}` {
			b.Fatalf("%s", out)
		}
	}
}
