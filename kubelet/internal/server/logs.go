package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// LogOptions select what ServeLog writes.
type LogOptions struct {
	Follow     bool
	Timestamps bool
	// TailLines < 0 means all lines.
	TailLines  int
	Since      time.Time
	LimitBytes int64
}

// logLine is one parsed CRI log line: "<RFC3339Nano> <stream> <P|F> <content>".
type logLine struct {
	ts      time.Time
	stream  string
	partial bool
	content []byte
}

func parseCRILine(b []byte) (logLine, bool) {
	var l logLine
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return l, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return l, false
	}
	l.ts = t
	b = b[sp+1:]
	sp = bytes.IndexByte(b, ' ')
	if sp < 0 {
		return l, false
	}
	l.stream = string(b[:sp])
	b = b[sp+1:]
	if len(b) >= 2 && (b[0] == 'P' || b[0] == 'F') && b[1] == ' ' {
		l.partial = b[0] == 'P'
		b = b[2:]
	} else if len(b) == 1 && (b[0] == 'P' || b[0] == 'F') {
		l.partial = b[0] == 'P'
		b = nil
	}
	l.content = b
	return l, true
}

func (l logLine) render(ts bool) []byte {
	var out []byte
	if ts {
		out = append(out, l.ts.UTC().Format(time.RFC3339Nano)...)
		out = append(out, ' ')
	}
	out = append(out, l.content...)
	if !l.partial {
		out = append(out, '\n')
	}
	return out
}

// WriteLog writes the CRI-format log file at path to w per opts, preceded
// by the rotated file path+".1" when there is one. With Follow it keeps
// reading until done returns true (container exited) and the file is
// drained, or ctx ends.
func WriteLog(ctx context.Context, w io.Writer, path string, opts LogOptions, done func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	var written int64
	emit := func(l logLine) (bool, error) {
		if !opts.Since.IsZero() && l.ts.Before(opts.Since) {
			return true, nil
		}
		b := l.render(opts.Timestamps)
		if opts.LimitBytes > 0 && written+int64(len(b)) > opts.LimitBytes {
			b = b[:opts.LimitBytes-written]
		}
		n, err := w.Write(b)
		written += int64(n)
		if err != nil {
			return false, err
		}
		return opts.LimitBytes <= 0 || written < opts.LimitBytes, nil
	}
	r := bufio.NewReaderSize(f, 64<<10)
	// First pass: everything present now, keeping only the tail if asked.
	var lines []logLine
	var pending []byte
	readAvailable := func() ([]logLine, error) {
		var out []logLine
		for {
			chunk, err := r.ReadBytes('\n')
			pending = append(pending, chunk...)
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			line := bytes.TrimSuffix(pending, []byte("\n"))
			if l, ok := parseCRILine(line); ok {
				l.content = append([]byte(nil), l.content...)
				out = append(out, l)
			}
			pending = pending[:0]
		}
	}
	lines, err = readAvailable()
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(path + ".1"); err == nil {
		var older []logLine
		for _, raw := range bytes.Split(b, []byte("\n")) {
			if l, ok := parseCRILine(raw); ok {
				older = append(older, l)
			}
		}
		lines = append(older, lines...)
	}
	if opts.TailLines >= 0 {
		// Count full lines from the end (partials belong to the next full line).
		full := 0
		start := len(lines)
		for start > 0 {
			if !lines[start-1].partial {
				if full == opts.TailLines {
					break
				}
				full++
			}
			start--
		}
		lines = lines[start:]
	}
	for _, l := range lines {
		more, err := emit(l)
		if err != nil || !more {
			return err
		}
	}
	flush()
	if !opts.Follow {
		return nil
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		exited := done()
		ls, err := readAvailable()
		if err != nil {
			return err
		}
		for _, l := range ls {
			more, err := emit(l)
			if err != nil || !more {
				return err
			}
		}
		if len(ls) > 0 {
			flush()
		}
		if exited && len(ls) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	pod, c, err := s.lookup(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := LogOptions{Follow: boolParam(r, "follow"), Timestamps: boolParam(r, "timestamps"), TailLines: -1}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid tailLines %q", v)))
			return
		}
		opts.TailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid limitBytes %q", v)))
			return
		}
		opts.LimitBytes = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceSeconds %q", v)))
			return
		}
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceTime %q", v)))
			return
		}
		opts.Since = t
	}
	attempts, err := s.opts.Pods.Containers(r.Context(), pod, c.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := pickLogContainer(pod, c.Name, attempts, boolParam(r, "previous"))
	if err != nil {
		writeError(w, err)
		return
	}
	id := st.Id
	done := func() bool {
		cs, err := s.opts.Runtime.ContainerStatus(r.Context(), id, false)
		return err != nil || cs.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	w.Header().Set("Content-Type", "text/plain")
	if err := WriteLog(r.Context(), w, st.LogPath, opts, done); err != nil {
		s.log.Debug("write log", "err", err)
	}
}

// pickLogContainer chooses the container attempt whose log to serve, as
// upstream: with previous, the one in lastState; otherwise the running or
// terminated one, else (restarting) the one in lastState.
func pickLogContainer(pod *corev1.Pod, name string, attempts []*runtimeapi.ContainerStatus, previous bool) (*runtimeapi.ContainerStatus, error) {
	byID := map[string]*runtimeapi.ContainerStatus{}
	for _, a := range attempts {
		byID[a.Id] = a
	}
	var status *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				status = &list[i]
			}
		}
	}
	id := func(cid string) string { return strings.TrimPrefix(cid, "containerd://") }
	if status != nil {
		last := status.LastTerminationState.Terminated
		var cid string
		switch {
		case previous:
			if last != nil {
				cid = last.ContainerID
			}
		case status.State.Running != nil || status.State.Terminated != nil:
			cid = status.ContainerID
		case last != nil:
			cid = last.ContainerID
		}
		if a, ok := byID[id(cid)]; ok && cid != "" {
			return a, nil
		}
	}
	// The status may lag behind the runtime: fall back to attempt order.
	idx := 0
	if previous {
		idx = 1
	}
	if len(attempts) > idx {
		return attempts[idx], nil
	}
	if previous {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod.Name))
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod.Name, waitingReason(pod, name)))
}

func waitingReason(pod *corev1.Pod, name string) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name == name && cs.State.Waiting != nil {
			return cs.State.Waiting.Reason
		}
	}
	return "ContainerCreating"
}
