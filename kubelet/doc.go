// Package kubelet is skiff's node agent: it registers a Node, keeps its
// Lease, and runs the pods bound to it on containerd through CRI. It also
// serves container logs, exec/attach and stats over HTTP for the API
// server to proxy to, and in hollow mode simulates many nodes without a
// runtime for scale tests.
//
// Use: fill Options (or bind them to flags with AddFlags), then Run.
package kubelet
