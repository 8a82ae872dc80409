package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestDaemonSet(t *testing.T) {
	c := newCluster(t, 3)
	c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "ds")
	// Only nodes labelled role=edge run the daemon.
	label := func(node, role string) {
		patch := fmt.Sprintf(`{"metadata":{"labels":{"role":%q}}}`, role)
		if _, err := c.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	label(c.nodes.NodeName(0), "edge")
	label(c.nodes.NodeName(1), "edge")
	label(c.nodes.NodeName(2), "core")
	tmpl := podTemplate("agent", "agent:1")
	tmpl.Spec.NodeSelector = map[string]string{"role": "edge"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: tmpl},
	}
	if _, err := c.client.AppsV1().DaemonSets("ds").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podsOn := func(image string) func() (bool, error) {
		return func() (bool, error) {
			pods, err := c.client.CoreV1().Pods("ds").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
			if err != nil {
				return false, err
			}
			var nodes []string
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != image {
					return false, nil
				}
				nodes = append(nodes, p.Spec.NodeName)
			}
			sort.Strings(nodes)
			d, err := c.client.AppsV1().DaemonSets("ds").Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			s := d.Status
			return fmt.Sprint(nodes) == fmt.Sprint([]string{c.nodes.NodeName(0), c.nodes.NodeName(1)}) &&
				s.DesiredNumberScheduled == 2 && s.NumberAvailable == 2 && s.UpdatedNumberScheduled == 2 && s.ObservedGeneration >= d.Generation, nil
		}
	}
	poll(t, 60*time.Second, "one agent:1 pod on each edge node", podsOn("agent:1"))

	d, err := c.client.AppsV1().DaemonSets("ds").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if _, err := c.client.AppsV1().DaemonSets("ds").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "rolling update to agent:2", podsOn("agent:2"))

	out, err := c.env.Kubectl(t, "-n", "ds", "rollout", "history", "daemonset/agent")
	if err != nil || !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Fatalf("kubectl rollout history daemonset: %v\n%s", err, out)
	}
	out, err = c.env.Kubectl(t, "-n", "ds", "rollout", "status", "daemonset/agent", "--timeout=60s")
	if err != nil {
		t.Fatalf("kubectl rollout status daemonset: %v\n%s", err, out)
	}
	out, err = c.env.Kubectl(t, "-n", "ds", "rollout", "undo", "daemonset/agent")
	if err != nil {
		t.Fatalf("kubectl rollout undo daemonset: %v\n%s", err, out)
	}
	poll(t, 60*time.Second, "undo back to agent:1", podsOn("agent:1"))
}

func TestStatefulSet(t *testing.T) {
	c := newCluster(t, 2)
	c.startCM(t, nil)
	ctx := context.Background()
	ns(t, c, "sts")
	three := int32(3)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &three, ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: podTemplate("db", "db:1"),
		},
	}
	// Ordered creation: watch the order in which pods appear.
	w, err := c.client.CoreV1().Pods("sts").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.client.AppsV1().StatefulSets("sts").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(image string, n int) func() (bool, error) {
		return func() (bool, error) {
			s, err := c.client.AppsV1().StatefulSets("sts").Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pods, err := c.client.CoreV1().Pods("sts").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
			if err != nil {
				return false, err
			}
			if len(pods.Items) != n {
				return false, nil
			}
			for _, p := range pods.Items {
				if p.Spec.Containers[0].Image != image || p.DeletionTimestamp != nil || p.Spec.Hostname != p.Name || p.Spec.Subdomain != "db" {
					return false, nil
				}
			}
			st := s.Status
			return st.ReadyReplicas == int32(n) && st.UpdatedReplicas == int32(n) && st.CurrentRevision == st.UpdateRevision && st.ObservedGeneration >= s.Generation, nil
		}
	}
	poll(t, 60*time.Second, "3 ready db:1 pods", ready("db:1", 3))
	var order []string
	for len(order) < 3 {
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "ADDED" {
				order = append(order, p.Name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("pods seen: %v", order)
		}
	}
	if fmt.Sprint(order) != "[db-0 db-1 db-2]" {
		t.Fatalf("creation order %v, want [db-0 db-1 db-2]", order)
	}

	s, err := c.client.AppsV1().StatefulSets("sts").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Template.Spec.Containers[0].Image = "db:2"
	if _, err := c.client.AppsV1().StatefulSets("sts").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 90*time.Second, "rolling update to db:2", ready("db:2", 3))
	out, err := c.env.Kubectl(t, "-n", "sts", "rollout", "status", "statefulset/db", "--timeout=60s")
	if err != nil {
		t.Fatalf("kubectl rollout status statefulset: %v\n%s", err, out)
	}
	out, err = c.env.Kubectl(t, "-n", "sts", "rollout", "history", "statefulset/db")
	if err != nil || !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Fatalf("kubectl rollout history statefulset: %v\n%s", err, out)
	}

	s, err = c.client.AppsV1().StatefulSets("sts").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	s.Spec.Replicas = &one
	if _, err := c.client.AppsV1().StatefulSets("sts").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "scale down to db-0", func() (bool, error) {
		pods, err := c.client.CoreV1().Pods("sts").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Name == "db-0", err
	})
}
