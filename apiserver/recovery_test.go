package apiserver

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	var got error
	h := withPanicRecovery(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
		func(w http.ResponseWriter, _ *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusInternalServerError)
		},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil))
	if rec.Code != http.StatusInternalServerError || !apierrors.IsInternalError(got) {
		t.Fatalf("code %d, err %v; want a 500 InternalError", rec.Code, got)
	}
}
