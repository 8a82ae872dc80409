package sdk

import (
	"encoding/json"
	"testing"
)

var splitIn = []byte(`{"request":{"uid":"0b1c","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"web-7d4b9c","namespace":"default","operation":"CREATE","userInfo":{"username":"alice","groups":["system:authenticated"]},"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c","namespace":"default","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c","team":"a"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.2.3","ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},"status":{}},"oldObject":null,"dryRun":false,"options":null},"settings":{"labels":["team"]}}`)

func BenchmarkEnvelope(b *testing.B) {
	for b.Loop() {
		var in admissionInput
		json.Unmarshal(splitIn, &in)
	}
}

func BenchmarkObject(b *testing.B) {
	var in admissionInput
	json.Unmarshal(splitIn, &in)
	for b.Loop() {
		var o Object
		in.Request.DecodeObject(&o)
	}
}

func BenchmarkEncode(b *testing.B) {
	for b.Loop() {
		encodeAdmission(Allow(), false)
	}
}
