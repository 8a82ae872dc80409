package pod

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerIDPrefix is the runtime scheme in containerStatuses[].containerID.
const ContainerIDPrefix = "containerd://"

func ts(ns int64) metav1.Time {
	if ns == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Unix(0, ns).Truncate(time.Second))
}

// terminatedState maps an exited CRI container to a Terminated state.
func terminatedState(st *runtimeapi.ContainerStatus, killedReason string) *corev1.ContainerStateTerminated {
	reason := st.Reason
	if reason == "" {
		if st.ExitCode == 0 {
			reason = "Completed"
		} else {
			reason = "Error"
		}
	}
	msg := st.Message
	if killedReason != "" && msg == "" {
		msg = killedReason
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    st.ExitCode,
		Reason:      reason,
		Message:     msg,
		StartedAt:   ts(st.StartedAt),
		FinishedAt:  ts(st.FinishedAt),
		ContainerID: ContainerIDPrefix + st.Id,
	}
}

// containerStatus builds one container's status from its attempts.
func (w *worker) containerStatus(pod *corev1.Pod, c *corev1.Container, attempts []*runtimeapi.ContainerStatus, init bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	latest := first(attempts)
	if latest == nil {
		wr, ok := w.waiting[c.Name]
		if !ok {
			wr = waitReason{reason: "ContainerCreating"}
			if init {
				wr.reason = "PodInitializing"
			}
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: wr.reason, Message: wr.message}
		return cs
	}
	cs.RestartCount = int32(latest.GetMetadata().GetAttempt())
	cs.ContainerID = ContainerIDPrefix + latest.Id
	cs.ImageID = latest.ImageRef
	if img := latest.GetImage().GetImage(); img != "" && !strings.HasPrefix(img, "sha256:") {
		cs.Image = img
	}
	w.mu.Lock()
	killed := w.killed[latest.Id]
	w.mu.Unlock()
	switch latest.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: ts(latest.StartedAt)}
		started := true
		w.mu.Lock()
		if c.StartupProbe != nil {
			started = w.probeRes[latest.Id+"/startup"]
		}
		ready := started
		if c.ReadinessProbe != nil {
			ready = started && w.probeRes[latest.Id+"/readiness"]
		}
		w.mu.Unlock()
		cs.Started = &started
		cs.Ready = ready
		if len(attempts) > 1 && attempts[1].State == runtimeapi.ContainerState_CONTAINER_EXITED {
			cs.LastTerminationState.Terminated = terminatedState(attempts[1], w.killed[attempts[1].Id])
		}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		term := terminatedState(latest, killed)
		started := false
		cs.Started = &started
		if wr, ok := w.waiting[c.Name]; ok && wr.reason == "CrashLoopBackOff" && w.willRestart(pod, latest) {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: wr.reason, Message: wr.message}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
			if len(attempts) > 1 && attempts[1].State == runtimeapi.ContainerState_CONTAINER_EXITED {
				cs.LastTerminationState.Terminated = terminatedState(attempts[1], "")
			}
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	return cs
}

func (w *worker) willRestart(pod *corev1.Pod, st *runtimeapi.ContainerStatus) bool {
	switch restartPolicy(pod) {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return st.ExitCode != 0
	}
	return true
}

// computeStatus derives the pod status from the observed containers.
func (w *worker) computeStatus(pod *corev1.Pod, obs observed, sandboxReady bool) corev1.PodStatus {
	st := corev1.PodStatus{
		StartTime: &w.startTime,
		QOSClass:  pod.Status.QOSClass,
	}
	if st.QOSClass == "" {
		st.QOSClass = qosClass(pod)
	}
	if w.m.opts.NodeIP != "" {
		st.HostIP = w.m.opts.NodeIP
		st.HostIPs = []corev1.HostIP{{IP: w.m.opts.NodeIP}}
	}
	if sandboxReady {
		for i, ip := range w.podIPs {
			if i == 0 {
				st.PodIP = ip
			}
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}

	// Init containers.
	initialized := true
	initFailed := false
	var pendingInit []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(pod, c, obs[c.Name], true)
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			cs.Ready = true
		} else {
			initialized = false
			pendingInit = append(pendingInit, c.Name)
			if cs.State.Terminated != nil && restartPolicy(pod) == corev1.RestartPolicyNever {
				initFailed = true
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}

	// Containers.
	var pending, running, stopped, succeeded int
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var cs corev1.ContainerStatus
		if initialized {
			cs = w.containerStatus(pod, c, obs[c.Name], false)
		} else {
			reason := "PodInitializing"
			if initFailed {
				reason = "PodInitializing"
			}
			cs = corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
		}
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			pending++
		}
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case !initialized:
		st.Phase = corev1.PodPending
	case pending > 0:
		st.Phase = corev1.PodPending
	case running > 0:
		st.Phase = corev1.PodRunning
	case stopped > 0:
		switch {
		case restartPolicy(pod) == corev1.RestartPolicyAlways:
			st.Phase = corev1.PodRunning
		case stopped == succeeded:
			st.Phase = corev1.PodSucceeded
		case restartPolicy(pod) == corev1.RestartPolicyNever:
			st.Phase = corev1.PodFailed
		default:
			st.Phase = corev1.PodRunning
		}
	default:
		st.Phase = corev1.PodPending
	}

	// Conditions, keeping transition times of unchanged ones.
	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		old[c.Type] = c
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
			reason, msg = "", ""
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}
		if o, ok := old[t]; ok && o.Status == s {
			c.LastTransitionTime = o.LastTransitionTime
		}
		return c
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	containersReady := len(unready) == 0 && initialized
	readyReason, readyMsg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if terminal {
		containersReady = false
		readyReason, readyMsg = "PodCompleted", ""
	}
	sort.Strings(pendingInit)
	initReason, initMsg := "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pendingInit, " "))
	if terminal && st.Phase == corev1.PodSucceeded {
		initialized, initReason, initMsg = true, "PodCompleted", ""
	}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	if o, ok := old[corev1.PodScheduled]; ok {
		scheduled = o
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady && !terminal, "", ""),
		cond(corev1.PodInitialized, initialized, initReason, initMsg),
		cond(corev1.PodReady, containersReady, readyReason, readyMsg),
		cond(corev1.ContainersReady, containersReady, readyReason, readyMsg),
		scheduled,
	}
	// Keep conditions other components own (readiness gates, DisruptionTarget…).
	for _, c := range pod.Status.Conditions {
		switch c.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled:
		default:
			st.Conditions = append(st.Conditions, c)
		}
	}
	return st
}

// qosClass computes the pod's QoS class as upstream does (simplified to
// cpu and memory).
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	anySet, guaranteed := false, true
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				anySet = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !anySet:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
