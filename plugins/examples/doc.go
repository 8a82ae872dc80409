// Package examples holds example skiff plugins, one directory each. The Go
// ones are main packages built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o x.wasm ./examples/<name>
//
// and also compile natively, so their logic is unit-tested with go test.
// wat/ and assemblyscript/ hold the same ABI implemented without an SDK.
package examples
