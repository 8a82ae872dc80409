// Package scheduler assigns pods to nodes through a filter/score framework with built-in and Wasm plugins, binding through the pods/binding subresource.
package scheduler
