// Package kubelet is skiff's node agent: it registers a Node, keeps its Lease, and runs the pods bound to it on containerd through CRI.
package kubelet
