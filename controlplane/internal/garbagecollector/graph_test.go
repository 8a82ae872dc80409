package garbagecollector

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestGraph(t *testing.T) {
	g := newGraph()
	ref := func(uid types.UID) metav1.OwnerReference { return metav1.OwnerReference{UID: uid} }
	g.upsert(&node{uid: "rs", owners: []metav1.OwnerReference{ref("deploy")}})
	g.upsert(&node{uid: "pod-a", owners: []metav1.OwnerReference{ref("rs")}})
	g.upsert(&node{uid: "pod-b", owners: []metav1.OwnerReference{ref("rs")}})
	if n := len(g.dependentsOf("rs")); n != 2 {
		t.Fatalf("rs has %d dependents, want 2", n)
	}
	if !g.hasDependents("deploy") {
		t.Fatal("an owner known only from ownerReferences has no dependents")
	}
	// Re-owning pod-b moves it.
	g.upsert(&node{uid: "pod-b", owners: []metav1.OwnerReference{ref("other")}})
	if n := len(g.dependentsOf("rs")); n != 1 {
		t.Fatalf("after re-owning: rs has %d dependents, want 1", n)
	}
	if old := g.remove("pod-a"); old == nil || old.uid != "pod-a" {
		t.Fatal("remove did not return the node")
	}
	if g.hasDependents("rs") {
		t.Fatal("removed dependent still indexed")
	}
	if g.remove("missing") != nil {
		t.Fatal("removing an unknown uid returned a node")
	}
}
