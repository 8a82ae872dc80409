package pod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// waitReason is why a container is not running right now.
type waitReason struct {
	reason, message string
}

// worker drives one pod. Fields below mu are shared with event handlers
// and probers; the rest belong to the run goroutine.
type worker struct {
	m    *Manager
	uid  types.UID
	kick chan struct{}
	log  *slog.Logger

	mu       sync.Mutex
	pod      *corev1.Pod
	deleted  bool
	admitted bool
	finished bool
	probeRes map[string]bool // key: containerID + "/" + kind

	backoff   map[string]time.Duration
	waiting   map[string]waitReason
	probers   map[string]context.CancelFunc
	sandbox   string
	sbConfig  *runtimeapi.PodSandboxConfig
	podIPs    []string
	mounts    map[string]string // volume name → host path
	startTime metav1.Time
	killed    map[string]string    // container ID → reason it was killed
	pullRetry map[string]time.Time // container name → next image pull attempt
	settled   bool                 // the last sync found nothing left to start
	volumesAt time.Time            // last time volume contents were written
	// sandboxRetry is when a failed sandbox creation may be retried.
	sandboxRetry time.Time
	// releaseSlot gives back the start slot held by the current sync
	// (nil when none is held).
	releaseSlot func()
}

// volumeRefresh is how often configMap/secret volume contents are rewritten.
const volumeRefresh = 30 * time.Second

func newWorker(m *Manager, pod *corev1.Pod) *worker {
	return &worker{
		m:         m,
		uid:       pod.UID,
		kick:      make(chan struct{}, 1),
		log:       m.log.With(slog.String("pod", pod.Namespace+"/"+pod.Name)),
		probeRes:  map[string]bool{},
		backoff:   map[string]time.Duration{},
		waiting:   map[string]waitReason{},
		probers:   map[string]context.CancelFunc{},
		killed:    map[string]string{},
		pullRetry: map[string]time.Time{},
	}
}

func (w *worker) update(pod *corev1.Pod, deleted bool) {
	w.mu.Lock()
	w.pod = pod
	if deleted {
		w.deleted = true
	}
	w.mu.Unlock()
	w.poke()
}

func (w *worker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

func (w *worker) admittedPod() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.admitted && !w.finished && !w.deleted
}

func (w *worker) run(ctx context.Context) {
	defer w.stopProbers("")
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-time.After(w.resyncAfter()):
		}
		if w.sync(ctx) {
			return
		}
	}
}

// sync does one level-based pass and reports whether the worker is done.
func (w *worker) sync(ctx context.Context) bool {
	pod, deleted := w.snapshot()
	if deleted || pod.DeletionTimestamp != nil {
		w.terminate(ctx, pod, deleted)
		return true
	}
	w.mu.Lock()
	admitted, finished := w.admitted, w.finished
	w.mu.Unlock()
	if finished {
		return false
	}
	if !admitted {
		if isTerminal(pod.Status.Phase) {
			// Finished before a kubelet restart: make sure nothing runs.
			w.stopSandboxes(ctx, pod, false)
			w.setFinished()
			return false
		}
		if reason, msg := w.m.admit(pod); reason != "" {
			w.log.Info("pod rejected", slog.String("reason", reason), slog.String("message", msg))
			w.m.opts.Recorder.Event(pod, corev1.EventTypeWarning, reason, msg)
			st := pod.Status.DeepCopy()
			st.Phase = corev1.PodFailed
			st.Reason = reason
			st.Message = msg
			w.writeStatus(ctx, pod, *st)
			w.setFinished()
			return false
		}
		w.mu.Lock()
		w.admitted = true
		w.mu.Unlock()
	}
	if pod.Status.StartTime != nil && w.startTime.IsZero() {
		w.startTime = *pod.Status.StartTime
	}
	if w.startTime.IsZero() {
		w.startTime = metav1.NewTime(time.Now().Truncate(time.Second))
	}
	status := w.syncRuntime(ctx, pod)
	w.settled = status.Phase != corev1.PodPending
	w.writeStatus(ctx, pod, status)
	if isTerminal(status.Phase) {
		w.log.Info("pod finished", slog.String("phase", string(status.Phase)))
		w.stopProbers("")
		w.stopSandboxes(ctx, pod, false)
		w.setFinished()
	}
	return false
}

// resyncAfter is the wait before the next unprompted sync: short while the
// pod has pending work (back-off, retries, start-up), long once settled.
func (w *worker) resyncAfter() time.Duration {
	if len(w.waiting) > 0 || !w.settled {
		return w.m.opts.Relist
	}
	return w.m.opts.Resync
}

func (w *worker) setFinished() {
	w.mu.Lock()
	w.finished = true
	w.mu.Unlock()
}

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// writeStatus writes st when it differs from what the API server has.
func (w *worker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) {
	if apiequality.Semantic.DeepEqual(pod.Status, st) {
		return
	}
	p := pod.DeepCopy()
	p.Status = st
	updated, err := w.m.opts.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			w.poke()
			return
		}
		w.log.Warn("update pod status", slog.Any("err", err))
		return
	}
	w.mu.Lock()
	if w.pod.ResourceVersion == pod.ResourceVersion {
		w.pod = updated
	}
	w.mu.Unlock()
}

// sandboxes lists the pod's sandboxes, newest first.
func (w *worker) sandboxes(ctx context.Context) ([]*runtimeapi.PodSandbox, error) {
	sbs, err := w.m.opts.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: string(w.uid)}})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	return sbs, nil
}

// stopSandboxes stops (and with remove, removes) every sandbox of the pod.
func (w *worker) stopSandboxes(ctx context.Context, pod *corev1.Pod, remove bool) {
	sbs, err := w.sandboxes(ctx)
	if err != nil {
		w.log.Warn("stop sandboxes", slog.Any("err", err))
		return
	}
	for _, sb := range sbs {
		if remove {
			if err := w.m.removeSandbox(ctx, sb.Id); err != nil {
				w.log.Warn("remove sandbox", slog.String("sandbox", sb.Id), slog.Any("err", err))
			}
			continue
		}
		if err := w.m.opts.Runtime.StopPodSandbox(ctx, sb.Id); err != nil {
			w.log.Warn("stop sandbox", slog.String("sandbox", sb.Id), slog.Any("err", err))
		}
	}
}

// ensureSandbox returns a ready sandbox for the pod, creating one if needed.
func (w *worker) ensureSandbox(ctx context.Context, pod *corev1.Pod) (string, error) {
	sbs, err := w.sandboxes(ctx)
	if err != nil {
		return "", err
	}
	if len(sbs) > 0 && sbs[0].State == runtimeapi.PodSandboxState_SANDBOX_READY {
		if sbs[0].Id != w.sandbox {
			w.sandbox = sbs[0].Id
			w.setPodIPs(nil)
			cfg, err := w.m.sandboxConfig(pod, sbs[0].GetMetadata().GetAttempt())
			if err != nil {
				return "", err
			}
			w.sbConfig = cfg
		}
		if w.podIPs == nil {
			w.setPodIPs(w.m.sandboxIPs(ctx, pod, w.sandbox))
		}
		return w.sandbox, nil
	}
	for _, sb := range sbs {
		if err := w.m.removeSandbox(ctx, sb.Id); err != nil {
			w.log.Warn("remove dead sandbox", slog.String("sandbox", sb.Id), slog.Any("err", err))
		}
	}
	attempt := uint32(len(sbs))
	cfg, err := w.m.sandboxConfig(pod, attempt)
	if err != nil {
		return "", err
	}
	if err := mkdirAll(cfg.LogDirectory); err != nil {
		return "", err
	}
	handler := ""
	if pod.Spec.RuntimeClassName != nil {
		handler = *pod.Spec.RuntimeClassName
	}
	t0 := time.Now()
	id, err := w.m.opts.Runtime.RunPodSandbox(ctx, cfg, handler)
	if err != nil {
		w.m.opts.Recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return "", fmt.Errorf("run pod sandbox: %w", err)
	}
	w.log.Debug("sandbox started", slog.String("sandbox", id), slog.Duration("took", time.Since(t0)))
	w.sandbox, w.sbConfig = id, cfg
	w.setPodIPs(w.m.sandboxIPs(ctx, pod, id))
	return id, nil
}

// setPodIPs records the sandbox's IPs; probers read them.
func (w *worker) setPodIPs(ips []string) {
	w.mu.Lock()
	w.podIPs = ips
	w.mu.Unlock()
}

// observed is the runtime's view of one pod container: attempts newest first.
type observed map[string][]*runtimeapi.ContainerStatus

func (w *worker) observe(ctx context.Context, sandbox string) (observed, error) {
	cs, err := w.m.opts.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{PodSandboxId: sandbox})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	byName := map[string][]*runtimeapi.Container{}
	for _, c := range cs {
		n := c.GetMetadata().GetName()
		byName[n] = append(byName[n], c)
	}
	out := observed{}
	for name, list := range byName {
		sort.Slice(list, func(i, j int) bool { return list[i].GetMetadata().GetAttempt() > list[j].GetMetadata().GetAttempt() })
		for i, c := range list {
			if i >= 2 {
				// Keep the current and the previous attempt (for lastState
				// and --previous logs); older ones go, with their logs.
				if st, err := w.m.opts.Runtime.ContainerStatus(ctx, c.Id, false); err == nil && st.GetStatus().GetLogPath() != "" {
					_ = os.Remove(st.Status.LogPath)
				}
				_ = w.m.opts.Runtime.RemoveContainer(ctx, c.Id)
				continue
			}
			st, err := w.m.opts.Runtime.ContainerStatus(ctx, c.Id, false)
			if err != nil || st.Status == nil {
				continue
			}
			out[name] = append(out[name], st.Status)
		}
	}
	return out, nil
}

func sortByAttemptDesc(s []*runtimeapi.ContainerStatus) {
	sort.Slice(s, func(i, j int) bool { return s[i].GetMetadata().GetAttempt() > s[j].GetMetadata().GetAttempt() })
}

// syncRuntime drives sandbox and containers one step and returns the status.
func (w *worker) syncRuntime(ctx context.Context, pod *corev1.Pod) corev1.PodStatus {
	if time.Now().Before(w.sandboxRetry) {
		return w.computeStatus(pod, nil, false)
	}
	if w.sandbox == "" && w.m.starts != nil {
		// First start (or adoption) of the pod: take a start slot, given
		// back when this pass ends or before an image pull.
		select {
		case w.m.starts <- struct{}{}:
			w.releaseSlot = sync.OnceFunc(func() { <-w.m.starts })
			defer func() { w.releaseSlot(); w.releaseSlot = nil }()
		case <-ctx.Done():
			return w.computeStatus(pod, nil, false)
		}
	}
	sandbox, err := w.ensureSandbox(ctx, pod)
	if err != nil {
		w.log.Warn("sandbox", slog.Any("err", err))
		w.setAllWaiting(pod, "ContainerCreating", err.Error())
		// Back off like container restarts, so a broken network does not
		// make the runtime create sandboxes in a tight loop.
		d := min(max(w.backoff["/sandbox"]*2, w.m.opts.Relist), w.m.opts.BackoffMax)
		w.backoff["/sandbox"] = d
		w.sandboxRetry = time.Now().Add(d)
		return w.computeStatus(pod, nil, false)
	}
	delete(w.backoff, "/sandbox")
	if w.mounts != nil && time.Since(w.volumesAt) > volumeRefresh {
		// Refresh configMap, secret, downwardAPI and projected contents
		// (upstream updates them eventually too).
		if mounts, err := w.m.prepareVolumes(ctx, pod); err == nil {
			w.mounts = mounts
		}
		w.volumesAt = time.Now()
	}
	if w.mounts == nil {
		w.volumesAt = time.Now()
		mounts, err := w.m.prepareVolumes(ctx, pod)
		if err != nil {
			w.log.Warn("volumes", slog.Any("err", err))
			w.setAllWaiting(pod, "ContainerCreating", err.Error())
			return w.computeStatus(pod, nil, true)
		}
		w.mounts = mounts
	}
	obs, err := w.observe(ctx, sandbox)
	if err != nil {
		w.log.Warn("observe", slog.Any("err", err))
		return w.computeStatus(pod, nil, true)
	}
	if w.act(ctx, pod, obs) {
		if o, err := w.observe(ctx, sandbox); err == nil {
			obs = o
		}
	}
	w.syncProbers(ctx, pod, obs)
	return w.computeStatus(pod, obs, true)
}

func (w *worker) setAllWaiting(pod *corev1.Pod, reason, msg string) {
	for _, c := range pod.Spec.InitContainers {
		w.waiting[c.Name] = waitReason{reason, msg}
	}
	for _, c := range pod.Spec.Containers {
		w.waiting[c.Name] = waitReason{reason, msg}
	}
}

// act starts, restarts or kills containers; it reports whether it did anything.
func (w *worker) act(ctx context.Context, pod *corev1.Pod, obs observed) bool {
	did := false
	policy := restartPolicy(pod)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := first(obs[c.Name])
		switch {
		case latest == nil:
			w.start(ctx, pod, c, 0)
			return true
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && latest.ExitCode == 0:
			continue
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED:
			if policy == corev1.RestartPolicyNever {
				return false
			}
			return w.restart(ctx, pod, c, latest)
		default:
			return false // still running
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := first(obs[c.Name])
		switch {
		case latest == nil:
			w.start(ctx, pod, c, 0)
			did = true
		case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
			w.mu.Lock()
			reason, kill := w.killReason(latest.Id)
			w.mu.Unlock()
			if kill {
				w.log.Info("killing container", slog.String("container", c.Name), slog.String("reason", reason))
				w.m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed %s, will be restarted", c.Name, strings.ToLower(reason))
				w.killed[latest.Id] = reason
				w.killContainer(ctx, pod, c, latest.Id, gracePeriod(pod))
				did = true
			}
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED:
			if policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && latest.ExitCode != 0) {
				if w.restart(ctx, pod, c, latest) {
					did = true
				}
			}
		case latest.State == runtimeapi.ContainerState_CONTAINER_CREATED:
			// A container created but never started (a start that failed mid-way).
			if err := w.m.opts.Runtime.StartContainer(ctx, latest.Id); err != nil {
				w.waiting[c.Name] = waitReason{"RunContainerError", err.Error()}
				_ = w.m.opts.Runtime.RemoveContainer(ctx, latest.Id)
			}
			did = true
		}
	}
	return did
}

// killReason reports whether a probe failure asks for the container to be killed.
func (w *worker) killReason(id string) (string, bool) {
	if failed, ok := w.probeRes[id+"/liveness-failed"]; ok && failed {
		return "Liveness probe failed", true
	}
	if failed, ok := w.probeRes[id+"/startup-failed"]; ok && failed {
		return "Startup probe failed", true
	}
	return "", false
}

// restart starts the next attempt of c unless it is backing off.
func (w *worker) restart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, latest *runtimeapi.ContainerStatus) bool {
	finished := time.Unix(0, latest.FinishedAt)
	started := time.Unix(0, latest.StartedAt)
	delay, seen := w.backoff[c.Name]
	if seen && latest.StartedAt > 0 && finished.Sub(started) > 10*time.Minute {
		delete(w.backoff, c.Name)
		seen = false
	}
	if seen && time.Now().Before(finished.Add(delay)) {
		if w.waiting[c.Name].reason != "CrashLoopBackOff" {
			w.m.opts.Recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
		w.waiting[c.Name] = waitReason{"CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID)}
		return false
	}
	next := w.m.opts.BackoffBase
	if seen {
		next = min(delay*2, w.m.opts.BackoffMax)
	}
	w.backoff[c.Name] = next
	w.start(ctx, pod, c, latest.GetMetadata().GetAttempt()+1)
	return true
}

// start pulls the image if needed and creates and starts one container attempt.
func (w *worker) start(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32) {
	rec := w.m.opts.Recorder
	t0 := time.Now()
	pullKey := "image/" + c.Name
	if until, ok := w.pullRetry[c.Name]; ok && time.Now().Before(until) {
		w.waiting[c.Name] = waitReason{"ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image)}
		return
	}
	imageRef, reason, err := w.m.ensureImage(ctx, pod, c, w.sbConfig, w.releaseSlot)
	if err != nil {
		w.log.Warn("image", slog.String("container", c.Name), slog.Any("err", err))
		w.waiting[c.Name] = waitReason{reason, err.Error()}
		rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
		d := w.backoff[pullKey]
		d = min(max(d*2, w.m.opts.BackoffBase), w.m.opts.BackoffMax)
		w.backoff[pullKey] = d
		w.pullRetry[c.Name] = time.Now().Add(d)
		return
	}
	delete(w.pullRetry, c.Name)
	delete(w.backoff, pullKey)
	cfg, err := w.m.containerConfig(ctx, pod, c, attempt, imageRef, w.mounts, w.podIPs)
	if err != nil {
		w.log.Warn("container config", slog.String("container", c.Name), slog.Any("err", err))
		w.waiting[c.Name] = waitReason{"CreateContainerConfigError", err.Error()}
		rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	id, err := w.m.opts.Runtime.CreateContainer(ctx, w.sandbox, cfg, w.sbConfig)
	if err != nil {
		w.log.Warn("create container", slog.String("container", c.Name), slog.Any("err", err))
		w.waiting[c.Name] = waitReason{"CreateContainerError", err.Error()}
		rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	rec.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	if err := w.m.opts.Runtime.StartContainer(ctx, id); err != nil {
		w.log.Warn("start container", slog.String("container", c.Name), slog.Any("err", err))
		w.waiting[c.Name] = waitReason{"RunContainerError", err.Error()}
		rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	rec.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	delete(w.waiting, c.Name)
	w.log.Debug("container started", slog.String("container", c.Name), slog.Int("attempt", int(attempt)), slog.Duration("took", time.Since(t0)))
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if err := w.m.runHandler(ctx, pod, c, id, w.podIPs, c.Lifecycle.PostStart, 30*time.Second); err != nil {
			w.log.Warn("postStart hook failed; killing container", slog.String("container", c.Name), slog.Any("err", err))
			w.killed[id] = "PostStartHookError"
			_ = w.m.opts.Runtime.StopContainer(ctx, id, 2)
		}
	}
}

// killContainer runs the preStop hook and stops the container within grace.
func (w *worker) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64) {
	start := time.Now()
	if c != nil && pod.DeletionTimestamp != nil {
		w.m.opts.Recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
	}
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		if err := w.m.runHandler(ctx, pod, c, id, w.podIPs, c.Lifecycle.PreStop, time.Duration(grace)*time.Second); err != nil {
			w.log.Info("preStop hook failed", slog.String("container", c.Name), slog.Any("err", err))
		}
		grace -= int64(time.Since(start) / time.Second)
		if grace < 2 {
			grace = 2
		}
	}
	if err := w.m.opts.Runtime.StopContainer(ctx, id, grace); err != nil {
		w.log.Warn("stop container", slog.String("container", id), slog.Any("err", err))
	}
}

func gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// terminate stops everything of the pod honouring its grace period and, if
// the API object still exists, deletes it for good.
func (w *worker) terminate(ctx context.Context, pod *corev1.Pod, gone bool) {
	w.stopProbers("")
	grace := gracePeriod(pod)
	if gone && grace > 2 {
		grace = 2
	}
	w.log.Info("terminating pod", slog.Int64("gracePeriod", grace))
	sbs, err := w.sandboxes(ctx)
	if err == nil {
		var wg sync.WaitGroup
		for _, sb := range sbs {
			if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
				continue
			}
			cs, err := w.m.opts.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{PodSandboxId: sb.Id,
				State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
			if err != nil {
				continue
			}
			for _, c := range cs {
				spec := findContainer(pod, c.GetMetadata().GetName())
				wg.Add(1)
				go func(id string) {
					defer wg.Done()
					w.killContainer(ctx, pod, spec, id, grace)
				}(c.Id)
			}
		}
		wg.Wait()
	}
	if !gone {
		// Report the final container states before the object goes away.
		if obs, err := w.observe(ctx, w.sandbox); err == nil && w.sandbox != "" {
			st := w.computeStatus(pod, obs, false)
			w.writeStatus(ctx, pod, st)
		}
	}
	w.stopSandboxes(ctx, pod, true)
	w.m.cleanupPodDirs(pod.UID, pod.Namespace, pod.Name)
	if !gone {
		zero := int64(0)
		uid := pod.UID
		err := w.m.opts.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && !errors.Is(err, context.Canceled) {
			w.log.Warn("delete pod", slog.Any("err", err))
		}
	}
	w.log.Info("pod terminated")
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func first(s []*runtimeapi.ContainerStatus) *runtimeapi.ContainerStatus {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// restartPolicy is the pod's restart policy, Always when unset.
func restartPolicy(pod *corev1.Pod) corev1.RestartPolicy {
	if pod.Spec.RestartPolicy == "" {
		return corev1.RestartPolicyAlways
	}
	return pod.Spec.RestartPolicy
}
