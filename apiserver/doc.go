// Package apiserver is skiff's Kubernetes-compatible API server: REST and watch over etcd, discovery, validation, admission (with Wasm policies) and subresources.
package apiserver
