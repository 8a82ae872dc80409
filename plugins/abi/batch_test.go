package abi

import (
	"errors"
	"reflect"
	"testing"
)

func sampleBatch() *Batch {
	return &Batch{
		Fields:      FieldAll,
		Pod:         []byte(`{"metadata":{"name":"p"}}`),
		Settings:    []byte(`{"k":1}`),
		PodRequests: Resources{MilliCPU: 500, Memory: 1 << 30, Pods: 1},
		PodExtended: []Quantity{{Name: "nvidia.com/gpu", Value: 2}},
		Nodes: []Node{
			{
				Name:        "n1",
				Allocatable: Resources{MilliCPU: 4000, Memory: 16 << 30, Pods: 110},
				Requested:   Resources{MilliCPU: 100, Memory: 1 << 20, Pods: 3},
				Extended:    []ExtendedResource{{Name: "nvidia.com/gpu", Allocatable: 4, Requested: 1}},
				Labels:      []Label{{"a", "1"}, {"zone", "z1"}},
				Taints:      []Taint{{"dedicated", "gpu", "NoSchedule"}},
			},
			{Name: "n2"},
		},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		fields uint32
	}{
		{"all fields", FieldAll},
		{"resources only", FieldResources},
		{"labels only", FieldLabels},
		{"nothing", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleBatch()
			in.Fields = tc.fields
			buf := AppendBatch(nil, in)
			var got Batch
			// Decode twice into the same Batch: reuse must not leak old data.
			for _, zero := range []bool{false, true} {
				if err := DecodeBatch(&Reader{B: buf, ZeroCopy: zero}, &got); err != nil {
					t.Fatal(err)
				}
			}
			want := sampleBatch()
			want.Fields = tc.fields
			for i := range want.Nodes {
				n := &want.Nodes[i]
				if tc.fields&FieldResources == 0 {
					n.Allocatable, n.Requested = Resources{}, Resources{}
				}
				if tc.fields&FieldExtended == 0 || len(n.Extended) == 0 {
					n.Extended = got.Nodes[i].Extended[:0]
				}
				if tc.fields&FieldLabels == 0 || len(n.Labels) == 0 {
					n.Labels = got.Nodes[i].Labels[:0]
				}
				if tc.fields&FieldTaints == 0 || len(n.Taints) == 0 {
					n.Taints = got.Nodes[i].Taints[:0]
				}
			}
			if !reflect.DeepEqual(&got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, *want)
			}
		})
	}
}

func TestDecodeBatchRejectsCorruptInput(t *testing.T) {
	buf := AppendBatch(nil, sampleBatch())
	for cut := 0; cut < len(buf); cut++ {
		var b Batch
		if err := DecodeBatch(&Reader{B: buf[:cut]}, &b); err == nil {
			t.Fatalf("truncated at %d of %d: no error", cut, len(buf))
		}
	}
	bad := append([]byte(nil), buf...)
	bad[0] = 'X'
	var b Batch
	if err := DecodeBatch(&Reader{B: bad}, &b); err == nil {
		t.Fatal("bad magic accepted")
	}
	// A huge node count cannot make the decoder allocate.
	huge := AppendBatchHeader(nil, &Batch{})
	huge = append(huge, 0xff, 0xff, 0xff, 0x7f)
	if err := DecodeBatch(&Reader{B: huge}, &b); !errors.Is(err, ErrShort) {
		t.Fatalf("huge count: %v", err)
	}
}

func TestResults(t *testing.T) {
	rs := []FilterResult{{Code: FilterSuccess}, {Code: FilterUnschedulable, Reason: "full"}}
	got, err := DecodeFilterResults(AppendFilterResults(nil, rs))
	if err != nil || !reflect.DeepEqual(got, rs) {
		t.Fatalf("filter results: %v %v", got, err)
	}
	scores := []int64{0, 50, 100}
	gs, err := DecodeScores(AppendScores(nil, scores))
	if err != nil || !reflect.DeepEqual(gs, scores) {
		t.Fatalf("scores: %v %v", gs, err)
	}
	_, err = DecodeScores(AppendError(nil, "boom"))
	var ge *GuestError
	if !errors.As(err, &ge) || ge.Message != "boom" {
		t.Fatalf("error result: %v", err)
	}
	if _, err := DecodeScores([]byte{0, 0}); err == nil {
		t.Fatal("short result accepted")
	}
	if _, err := DecodeFilterResults(append(AppendScores(nil, nil)[:4], 9, 0, 0, 0)); err == nil {
		t.Fatal("count beyond data accepted")
	}
	if p, n := Unpack(Pack(0x12345678, 0x9abcdef0)); p != 0x12345678 || n != 0x9abcdef0 {
		t.Fatalf("pack/unpack: %x %x", p, n)
	}
}
