package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pluginsv1 "skiff.dev/api/plugins/v1alpha1"
)

// maxWasm bounds an uploaded module.
const maxWasm = 64 << 20

const wasmModules = "/apis/plugins.skiff.dev/v1alpha1/wasmmodules"

// uploadWasm registers a module from the raw bytes in the body: it creates
// the WasmModule "sha256-<hex>" (or reuses an existing one) and uploads the
// content, both with the user's token. It answers with the WasmModule.
func (s *Server) uploadWasm(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWasm))
	if err != nil {
		writeStatus(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "module larger than 64 MiB")
		return
	}
	if len(data) < 8 || !bytes.Equal(data[:4], []byte("\x00asm")) {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "not a WebAssembly module (missing \\0asm magic)")
		return
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	name := "sha256-" + hexSum
	mod := pluginsv1.WasmModule{
		TypeMeta:   metav1.TypeMeta{APIVersion: pluginsv1.SchemeGroupVersion.String(), Kind: "WasmModule"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: pluginsv1.WasmModuleSpec{
			SHA256:      hexSum,
			Size:        int64(len(data)),
			Description: r.URL.Query().Get("description"),
		},
	}
	js, err := json.Marshal(mod)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	token := tokenFrom(r)
	resp, body, err := s.do(r.Context(), http.MethodPost, wasmModules, url.Values{}, token, "application/json", js)
	if err != nil {
		writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
		return
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		passThrough(w, resp, body)
		return
	}
	resp, body, err = s.do(r.Context(), http.MethodPut, wasmModules+"/"+name+"/content", url.Values{}, token, "application/wasm", data)
	if err != nil {
		writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
		return
	}
	if resp.StatusCode/100 != 2 {
		passThrough(w, resp, body)
		return
	}
	resp, body, err = s.do(r.Context(), http.MethodGet, wasmModules+"/"+name, url.Values{}, token, "", nil)
	if err != nil {
		writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
		return
	}
	passThrough(w, resp, body)
}
