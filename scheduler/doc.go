// Package scheduler assigns pods to nodes through a filter/score framework
// with built-in and Wasm plugins, binding through the pods/binding
// subresource. It is the one public door of the module: fill Options (or
// bind them to flags with AddFlags), then call Run.
package scheduler
