package abi

import (
	"errors"
	"reflect"
	"strconv"
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
		{"extended only", FieldExtended},
		{"nothing", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleBatch()
			in.Fields = tc.fields
			buf := AppendBatch(nil, in)
			var got Batch
			// Decode a batch with every field group first, then this one
			// twice into the same Batch: reuse must not leak old data.
			if err := DecodeBatch(&Reader{B: AppendBatch(nil, sampleBatch())}, &got); err != nil {
				t.Fatal(err)
			}
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
			want.dirty = got.dirty
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
	for _, fields := range []uint32{FieldResources, FieldExtended} {
		one := sampleBatch()
		one.Fields = fields
		obuf := AppendBatch(nil, one)
		for cut := 0; cut < len(obuf); cut++ {
			var b Batch
			if err := DecodeBatch(&Reader{B: obuf[:cut], ZeroCopy: true}, &b); err == nil {
				t.Fatalf("fields %b, truncated at %d of %d: no error", fields, cut, len(obuf))
			}
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
	into := make([]int64, 3)
	if err := DecodeScoresInto(into, AppendScores(nil, scores)); err != nil || !reflect.DeepEqual(into, scores) {
		t.Fatalf("scores into: %v %v", into, err)
	}
	if err := DecodeScoresInto(make([]int64, 2), AppendScores(nil, scores)); err == nil {
		t.Fatal("3 scores decoded into 2 slots")
	}
	rsInto := make([]FilterResult, 2)
	if err := DecodeFilterResultsInto(rsInto, AppendFilterResults(nil, rs)); err != nil || !reflect.DeepEqual(rsInto, rs) {
		t.Fatalf("filter results into: %v %v", rsInto, err)
	}
	if err := DecodeFilterResultsInto(make([]FilterResult, 3), AppendFilterResults(nil, rs)); err == nil {
		t.Fatal("2 filter results decoded into 3 slots")
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

// BenchmarkDecodeBatch decodes 420 nodes natively, as the Go guest SDK
// does (zero copy, one reused Batch). A Go guest runs the same code many
// times slower but with the same shape, so this is where to look first.
func BenchmarkDecodeBatch(b *testing.B) {
	for _, tc := range []struct {
		name   string
		fields uint32
	}{{"resources", FieldResources}, {"extended", FieldExtended}, {"all", FieldAll}} {
		in := &Batch{Fields: tc.fields, Pod: []byte(`{}`)}
		for i := range 420 {
			in.Nodes = append(in.Nodes, Node{
				Name:        "hollow-" + strconv.Itoa(10000+i),
				Allocatable: Resources{MilliCPU: 32000, Memory: 128 << 30, Pods: 110},
				Requested:   Resources{MilliCPU: int64(i) * 100, Memory: int64(i) << 20, Pods: int64(i % 110)},
				Labels:      []Label{{"kubernetes.io/hostname", "hollow"}, {"topology.kubernetes.io/zone", "zone-1"}},
			})
		}
		buf := AppendBatch(nil, in)
		b.Run(tc.name, func(b *testing.B) {
			var out Batch
			for b.Loop() {
				if err := DecodeBatch(&Reader{B: buf, ZeroCopy: true}, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
