// Package e2e holds end-to-end suites that start real skiff processes and drive them with kubectl and client-go.
package e2e
