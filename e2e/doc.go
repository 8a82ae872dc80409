// Package e2e holds end-to-end suites that start real skiff processes
// (`skiff up` with its own containerd) and drive them with the installed
// kubectl and client-go, as users do. The cluster launcher is in e2e/cluster.
package e2e
