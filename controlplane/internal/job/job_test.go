package job

import "testing"

func TestCompressIndexes(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 4}, "0-2,4"},
		{[]int{7, 1, 3, 2}, "1-3,7"},
	}
	for _, tc := range tests {
		set := map[int]bool{}
		for _, i := range tc.in {
			set[i] = true
		}
		if got := CompressIndexes(set); got != tc.want {
			t.Errorf("CompressIndexes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
