// Command preferlabel is a scheduler score plugin that prefers nodes with a
// label value. Settings:
//
//	{"key": "disktype", "value": "ssd"}
//
// Matching nodes score 100, others 0; with an empty value any node having
// the key matches.
package main

import (
	"fmt"

	"skiff.dev/plugins/sdk"
)

// Settings name the preferred label.
type Settings struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Validate requires a key.
func (s Settings) Validate() error {
	if s.Key == "" {
		return fmt.Errorf("key is required")
	}
	return nil
}

// Score scores each node.
func Score(req *sdk.SchedulingRequest, s Settings) ([]int64, error) {
	scores := req.Scores()
	for i := range req.Nodes {
		if v, ok := sdk.NodeLabel(&req.Nodes[i], s.Key); ok && (s.Value == "" || v == s.Value) {
			scores[i] = 100
		}
	}
	return scores, nil
}

func init() { sdk.HandleScore(Score, sdk.NodeLabels) }

func main() {}
