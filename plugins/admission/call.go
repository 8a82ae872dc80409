package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/plugins/abi"
)

// Attributes is one request as the chain sees it.
type Attributes struct {
	// Request is the admission request; Object and OldObject carry JSON in
	// their Raw fields.
	Request *admissionv1.AdmissionRequest
	// NamespaceLabels are the labels of the object's namespace (nil for
	// cluster-scoped objects).
	NamespaceLabels map[string]string
}

// outcome of one policy call.
type outcome struct {
	res      abi.AdmissionOutput
	err      error // policy failure (not a denial)
	duration time.Duration
}

// call runs a policy's entry point; env is the payload up to the request
// (`{"request":{…}`), to which call adds the settings.
func (c *Chain) call(ctx context.Context, p *policy, export string, env []byte) outcome {
	buf := c.bufs.get()
	defer c.bufs.put(buf)
	b := append((*buf)[:0], env...)
	if len(p.settings) > 0 {
		b = append(b, `,"settings":`...)
		b = append(b, p.settings...)
	}
	b = append(b, '}')
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	// The input is in guest memory before the result is written: one buffer.
	out, err := p.mod.CallAppend(ctx, export, b, b[:0])
	o := outcome{duration: time.Since(start)}
	*buf = b[:0]
	if cap(out) > cap(b) {
		*buf = out[:0]
	}
	if err != nil {
		o.err = err
		return o
	}
	if err := decodeOutput(out, &o.res); err != nil {
		o.err = fmt.Errorf("result is not an admission response: %w", err)
		return o
	}
	if o.res.Error != "" {
		o.err = &abi.GuestError{Message: o.res.Error}
	}
	return o
}

// envelope appends `{"request":<request JSON>` to b.
func envelope(b []byte, req *admissionv1.AdmissionRequest) ([]byte, error) {
	b = append(b, `{"request":`...)
	b, err := appendRequest(b, req)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encode admission request: %w", err))
	}
	return b, nil
}

// requestMeta decodes the objects' labels when one of the policies has a
// selector that needs them; otherwise it returns empty metadata.
func requestMeta(req *admissionv1.AdmissionRequest, policies []*policy) *objectMeta {
	for _, p := range policies {
		if p.match != nil && (p.match.hasObjSel || p.match.hasNSSel) {
			return decodeMeta(req)
		}
	}
	return &objectMeta{}
}

// denied builds the error a denial returns, shaped like a webhook denial.
func denied(policy string, res *abi.AdmissionOutput) *apierrors.StatusError {
	code := res.Code
	if code < http.StatusBadRequest {
		code = http.StatusBadRequest
	}
	msg := fmt.Sprintf("admission policy %q denied the request", policy)
	if res.Message != "" {
		msg += ": " + res.Message
	} else {
		msg += " without explanation"
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    code,
		Reason:  reasonForCode(code),
		Message: msg,
	}}
}

func reasonForCode(code int32) metav1.StatusReason {
	switch code {
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	}
	return ""
}

// failed builds the error of a policy failure under failurePolicy Fail.
func failed(policy string, err error) *apierrors.StatusError {
	return apierrors.NewInternalError(fmt.Errorf("failed calling admission policy %q: %w", policy, err))
}

// handleFailure applies the failure policy: nil to go on, or the error.
func (c *Chain) handleFailure(ctx context.Context, p *policy, err error) error {
	p.stats.recordError()
	c.log.Warn("admission policy failed", slog.String("policy", p.name), slog.Bool("failOpen", p.failOpen), slog.String("error", err.Error()))
	if p.failOpen {
		return nil
	}
	return failed(p.name, err)
}

// handleDenial records a denial and returns the error to return (nil in
// audit mode).
func (c *Chain) handleDenial(ctx context.Context, p *policy, req *admissionv1.AdmissionRequest, res *abi.AdmissionOutput) error {
	dry := req.DryRun != nil && *req.DryRun
	p.stats.recordDenial(req, res.Message, p.audit, dry)
	if !p.audit {
		return denied(p.name, res)
	}
	c.log.Info("admission policy would deny (audit)", slog.String("policy", p.name),
		slog.String("operation", string(req.Operation)), slog.String("resource", req.Resource.Resource),
		slog.String("namespace", req.Namespace), slog.String("name", req.Name), slog.String("message", res.Message))
	if c.opts.Audit != nil && !dry {
		c.opts.Audit(ctx, p.name, req, res.Message)
	}
	return nil
}

// Mutate runs matching mutating policies in name order, applying each JSON
// Patch to the object the next one sees. It returns the final object JSON
// (nil if unchanged) and warnings. A denial returns a webhook-style
// *apierrors.StatusError; a failing policy under failurePolicy Fail an
// InternalError.
func (c *Chain) Mutate(ctx context.Context, a Attributes) (object []byte, warnings []string, err error) {
	snap := c.current.Load()
	if len(snap.mutating) == 0 || a.Request == nil {
		return nil, nil, nil
	}
	req := *a.Request // shallow copy: Object is replaced as patches apply
	meta := requestMeta(&req, snap.mutating)
	buf := c.bufs.get()
	defer c.bufs.put(buf)
	var reqJSON []byte
	changed := false
	for _, p := range snap.mutating {
		if p.match == nil || !p.match.matches(&Attributes{Request: &req, NamespaceLabels: a.NamespaceLabels}, meta) {
			continue
		}
		if !p.ready {
			if err := c.handleFailure(ctx, p, fmt.Errorf("policy is not ready: %s", p.message)); err != nil {
				return nil, warnings, err
			}
			continue
		}
		if reqJSON == nil {
			if reqJSON, err = envelope((*buf)[:0], &req); err != nil {
				return nil, warnings, err
			}
			*buf = reqJSON
		}
		o := c.call(ctx, p, abi.ExportMutate, reqJSON)
		if o.err != nil {
			p.stats.recordCall(o.duration)
			if err := c.handleFailure(ctx, p, o.err); err != nil {
				return nil, warnings, err
			}
			continue
		}
		p.stats.recordCall(o.duration)
		warnings = append(warnings, o.res.Warnings...)
		if !o.res.Allowed {
			if err := c.handleDenial(ctx, p, &req, &o.res); err != nil {
				return nil, warnings, err
			}
			continue
		}
		p.stats.recordAllowed()
		if len(o.res.Patch) == 0 || string(o.res.Patch) == "null" || p.audit {
			continue
		}
		patched, err := applyPatch(req.Object.Raw, o.res.Patch)
		if err != nil {
			if err := c.handleFailure(ctx, p, err); err != nil {
				return nil, warnings, err
			}
			continue
		}
		req.Object.Raw, req.Object.Object = patched, nil
		reqJSON, changed = nil, true
	}
	if !changed {
		return nil, warnings, nil
	}
	return req.Object.Raw, warnings, nil
}

func applyPatch(doc, patch []byte) ([]byte, error) {
	if len(doc) == 0 {
		return nil, errors.New("patch returned for a request without an object")
	}
	pt, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON patch: %w", err)
	}
	out, err := pt.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("apply JSON patch: %w", err)
	}
	return out, nil
}

// Validate runs matching validating policies concurrently. Denials and
// failures are reported in policy name order, the first one winning.
func (c *Chain) Validate(ctx context.Context, a Attributes) (warnings []string, err error) {
	snap := c.current.Load()
	if len(snap.validating) == 0 || a.Request == nil {
		return nil, nil
	}
	meta := requestMeta(a.Request, snap.validating)
	var one [1]*policy
	run := one[:0]
	for _, p := range snap.validating {
		if p.match != nil && p.match.matches(&a, meta) {
			run = append(run, p)
		}
	}
	if len(run) == 0 {
		return nil, nil
	}
	buf := c.bufs.get()
	defer c.bufs.put(buf)
	reqJSON, err := envelope((*buf)[:0], a.Request)
	if err != nil {
		return nil, err
	}
	*buf = reqJSON
	var oneOutcome [1]outcome
	outcomes := oneOutcome[:]
	if len(run) > 1 {
		outcomes = make([]outcome, len(run))
	}
	callOne := func(i int) {
		if run[i].ready {
			outcomes[i] = c.call(ctx, run[i], abi.ExportValidate, reqJSON)
		} else {
			outcomes[i].err = fmt.Errorf("policy is not ready: %s", run[i].message)
		}
	}
	if len(run) == 1 {
		callOne(0)
	} else {
		var wg sync.WaitGroup
		for i := range run {
			wg.Go(func() { callOne(i) })
		}
		wg.Wait()
	}
	var first error
	for i, p := range run {
		o := &outcomes[i]
		if p.ready {
			p.stats.recordCall(o.duration)
		}
		var perr error
		switch {
		case o.err != nil:
			perr = c.handleFailure(ctx, p, o.err)
		case !o.res.Allowed:
			warnings = append(warnings, o.res.Warnings...)
			perr = c.handleDenial(ctx, p, a.Request, &o.res)
		default:
			warnings = append(warnings, o.res.Warnings...)
			p.stats.recordAllowed()
		}
		if first == nil {
			first = perr
		}
	}
	return warnings, first
}
