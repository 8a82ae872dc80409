package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxBody bounds request bodies the helpers accept.
const maxBody = 8 << 20

// yaml is a gateway that speaks YAML to the browser and JSON to the
// apiserver: GET returns an object as YAML (without managedFields), and
// POST/PUT convert a YAML body to JSON and forward it, returning the
// apiserver's answer (the object, or a Status with validation causes)
// unchanged. The query's "path" names the apiserver path; dryRun and
// fieldManager are forwarded.
func (s *Server) yaml(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if err := validAPIPath(path); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("path %q: %v", path, err))
		return
	}
	q := url.Values{}
	if v := r.URL.Query().Get("dryRun"); v != "" {
		q.Set("dryRun", v)
	}
	switch r.Method {
	case http.MethodGet:
		resp, body, err := s.do(r.Context(), http.MethodGet, path, q, tokenFrom(r), "", nil)
		if err != nil {
			writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
			return
		}
		if resp.StatusCode != http.StatusOK {
			passThrough(w, resp, body)
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			writeStatus(w, http.StatusBadGateway, "InternalError", "apiserver sent invalid JSON: "+err.Error())
			return
		}
		if md, ok := obj["metadata"].(map[string]any); ok {
			delete(md, "managedFields")
		}
		out, err := yaml.Marshal(obj)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		_, _ = w.Write(out)
	case http.MethodPost, http.MethodPut:
		in, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeStatus(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", err.Error())
			return
		}
		js, err := yaml.YAMLToJSONStrict(in)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid YAML: "+err.Error())
			return
		}
		if !bytes.HasPrefix(bytes.TrimSpace(js), []byte("{")) {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "the YAML must be a single object (a mapping)")
			return
		}
		q.Set("fieldManager", "skiff-dashboard")
		resp, body, err := s.do(r.Context(), r.Method, path, q, tokenFrom(r), "application/json", js)
		if err != nil {
			writeStatus(w, http.StatusBadGateway, "ServiceUnavailable", err.Error())
			return
		}
		passThrough(w, resp, body)
	default:
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET, POST or PUT")
	}
}

func passThrough(w http.ResponseWriter, resp *http.Response, body []byte) {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func validAPIPath(p string) error {
	if !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/apis/") {
		return fmt.Errorf("must start with /api/ or /apis/")
	}
	if strings.ContainsAny(p, "?#") {
		return fmt.Errorf("must not carry a query")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("must be clean")
		}
	}
	return nil
}

// do performs one upstream request with the user's token and reads the
// whole answer.
func (s *Server) do(ctx context.Context, method, path string, q url.Values, token, contentType string, body []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	return resp, b, nil
}
