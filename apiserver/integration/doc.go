// Package integration drives a real `skiff apiserver` process (built from
// cmd/skiff and started by api/testenv) with the installed kubectl binary
// and with client-go: informers, watch resumption and compaction.
package integration
