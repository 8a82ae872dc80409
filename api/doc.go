// Package api holds what every skiff component may import: skiff's own API
// types (group plugins.skiff.dev), shared constants and the Wasm ABI wire
// types. It depends only on k8s.io/api, apimachinery and client-go.
package api
