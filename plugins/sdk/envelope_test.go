package sdk

import (
	"encoding/json"
	"reflect"
	"testing"
)

var envelopeSample = []byte(`{"request":{"uid":"0b1c","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"web-7d4b9c","namespace":"default","operation":"CREATE","userInfo":{"username":"alice","groups":["system:authenticated"]},"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c","namespace":"default","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c","team":"a"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.2.3","ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},"status":{}},"oldObject":null,"dryRun":false,"options":null},"settings":{"labels":["team"]}}`)

func TestDecodeEnvelopeMatchesEncodingJSON(t *testing.T) {
	tests := []struct{ name, in string }{
		{"sample", string(envelopeSample)},
		{"whitespace", "{ \"request\" : {\n\t\"uid\" : \"1\" , \"name\":\"a\", \"dryRun\" : true , \"object\" : { \"a\" : [ 1, 2, {\"b\":\"}\"} ] } } ,\n \"settings\" : [ ] }\n"},
		{"escapes", `{"request":{"name":"a\"b","object":{"s":"x\\\"}"}},"settings":{"k":"\u00e9"}}`},
		{"unknown fields", `{"extra":{"x":[1,{"y":null}]},"request":{"requestKind":{"kind":"X"},"uid":"u","oldObject":{"a":1},"options":{"kind":"CreateOptions"}},"n":-1.5e3}`},
		{"nulls", `{"request":{"object":null,"dryRun":null,"userInfo":{"username":"u","extra":{"k":["v"]}}},"settings":null}`},
		{"empty", `{}`},
		{"numbers at end", `{"request":{"uid":"u"},"x":12}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeEnvelope([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var want admissionInput
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil {
				t.Fatal(err)
			}
			// RawMessage from encoding/json keeps "null"; the scanner drops it.
			for _, p := range []*json.RawMessage{&want.Request.Object, &want.Request.OldObject, &want.Request.Options, &want.Settings} {
				if string(*p) == "null" {
					*p = nil
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("scanner: %+v\njson:    %+v", got, want)
			}
		})
	}
	for _, bad := range []string{`{"request":`, `{"request":{"uid":1}}`, `[`, `{"request":{}} x`} {
		if _, err := decodeEnvelope([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for b.Loop() {
		if _, err := decodeEnvelope(envelopeSample); err != nil {
			b.Fatal(err)
		}
	}
}

func TestObjectMeta(t *testing.T) {
	tests := []struct {
		name, obj string
	}{
		{"pod", `{"kind":"Pod","metadata":{"name":"p","namespace":"n","labels":{"a":"1","b":""},"annotations":{"x":"{\"y\":1}"},"uid":"u"},"spec":{}}`},
		{"no labels", `{"metadata":{"generateName":"p-","labels":null}}`},
		{"escaped label value", `{"metadata":{"labels":{"a":"x\"y"}}}`},
		{"no metadata", `{"spec":{"x":[1,2]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := AdmissionRequest{Object: []byte(tc.obj)}
			got, err := req.ObjectMeta()
			if err != nil {
				t.Fatal(err)
			}
			var want Object
			if err := json.Unmarshal([]byte(tc.obj), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want.Metadata) {
				t.Fatalf("got %+v, want %+v", got, want.Metadata)
			}
		})
	}
	del := AdmissionRequest{OldObject: []byte(`{"metadata":{"name":"old"}}`)}
	if m, err := del.ObjectMeta(); err != nil || m.Name != "old" {
		t.Fatalf("old object: %+v %v", m, err)
	}
	if _, err := (&AdmissionRequest{}).ObjectMeta(); err == nil {
		t.Fatal("no object: no error")
	}
}
