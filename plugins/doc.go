// Package plugins is the Wasm host runtime (wazero) used by the apiserver and scheduler, plus the guest SDK, example plugins and the plugin CLI.
package plugins
