package rest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	pluginsv1alpha1 "skiff.dev/api/plugins/v1alpha1"
	"skiff.dev/apiserver/internal/registry"
)

var nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name of the object"}
var ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: "Time since creation"}

func columnsFor(res *registry.Resource) []metav1.TableColumnDefinition {
	str := func(n string) metav1.TableColumnDefinition {
		return metav1.TableColumnDefinition{Name: n, Type: "string"}
	}
	switch res.GVK().GroupKind().String() {
	case "Pod":
		return []metav1.TableColumnDefinition{nameColumn, str("Ready"), str("Status"), {Name: "Restarts", Type: "string"}, ageColumn,
			{Name: "IP", Type: "string", Priority: 1}, {Name: "Node", Type: "string", Priority: 1}}
	case "Deployment.apps":
		return []metav1.TableColumnDefinition{nameColumn, str("Ready"), {Name: "Up-to-date", Type: "integer"}, {Name: "Available", Type: "integer"}, ageColumn}
	case "ReplicaSet.apps":
		return []metav1.TableColumnDefinition{nameColumn, {Name: "Desired", Type: "integer"}, {Name: "Current", Type: "integer"}, {Name: "Ready", Type: "integer"}, ageColumn}
	case "Node":
		return []metav1.TableColumnDefinition{nameColumn, str("Status"), str("Roles"), ageColumn, str("Version")}
	case "Service":
		return []metav1.TableColumnDefinition{nameColumn, str("Type"), str("Cluster-IP"), str("External-IP"), str("Port(s)"), ageColumn}
	case "Namespace":
		return []metav1.TableColumnDefinition{nameColumn, str("Status"), ageColumn}
	case "ConfigMap":
		return []metav1.TableColumnDefinition{nameColumn, {Name: "Data", Type: "integer"}, ageColumn}
	case "Secret":
		return []metav1.TableColumnDefinition{nameColumn, str("Type"), {Name: "Data", Type: "integer"}, ageColumn}
	case "Event":
		return []metav1.TableColumnDefinition{str("Last Seen"), str("Type"), str("Reason"), str("Object"), str("Message"), {Name: "Name", Type: "string", Format: "name", Priority: 1}}
	case "Job.batch":
		return []metav1.TableColumnDefinition{nameColumn, str("Status"), str("Completions"), ageColumn}
	case "DaemonSet.apps":
		return []metav1.TableColumnDefinition{nameColumn, {Name: "Desired", Type: "integer"}, {Name: "Current", Type: "integer"}, {Name: "Ready", Type: "integer"}, {Name: "Up-to-date", Type: "integer"}, {Name: "Available", Type: "integer"}, ageColumn}
	case "StatefulSet.apps":
		return []metav1.TableColumnDefinition{nameColumn, str("Ready"), ageColumn}
	case "WasmModule.plugins.skiff.dev":
		return []metav1.TableColumnDefinition{nameColumn, {Name: "Size", Type: "integer"}, str("Uploaded"), str("Description"), ageColumn}
	case "AdmissionPolicy.plugins.skiff.dev":
		return []metav1.TableColumnDefinition{nameColumn, str("Module"), str("Mutating"), str("Mode"), ageColumn}
	case "SchedulerPlugin.plugins.skiff.dev":
		return []metav1.TableColumnDefinition{nameColumn, str("Module"), str("Filter"), str("Score"), {Name: "Weight", Type: "integer"}, ageColumn}
	case "Lease.coordination.k8s.io":
		return []metav1.TableColumnDefinition{nameColumn, str("Holder"), ageColumn}
	case "Role.rbac.authorization.k8s.io", "ClusterRole.rbac.authorization.k8s.io":
		return []metav1.TableColumnDefinition{nameColumn, {Name: "Created At", Type: "date"}}
	case "RoleBinding.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io":
		return []metav1.TableColumnDefinition{nameColumn, str("Role"), ageColumn,
			{Name: "Users", Type: "string", Priority: 1}, {Name: "Groups", Type: "string", Priority: 1}, {Name: "ServiceAccounts", Type: "string", Priority: 1}}
	}
	return []metav1.TableColumnDefinition{nameColumn, ageColumn}
}

func age(m metav1.Object) string {
	ts := m.GetCreationTimestamp()
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}

func cellsFor(obj runtime.Object, m metav1.Object) []any {
	switch o := obj.(type) {
	case *corev1.Pod:
		ready, restarts := 0, int32(0)
		for _, c := range o.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
		}
		status := string(o.Status.Phase)
		if o.Status.Reason != "" {
			status = o.Status.Reason
		}
		for _, c := range o.Status.ContainerStatuses {
			if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
				status = c.State.Waiting.Reason
			}
		}
		if o.DeletionTimestamp != nil {
			status = "Terminating"
		}
		ip, node := o.Status.PodIP, o.Spec.NodeName
		if ip == "" {
			ip = "<none>"
		}
		if node == "" {
			node = "<none>"
		}
		return []any{o.Name, fmt.Sprintf("%d/%d", ready, len(o.Spec.Containers)), status, fmt.Sprint(restarts), age(m), ip, node}
	case *appsv1.Deployment:
		want := int32(1)
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
		return []any{o.Name, fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, want), int64(o.Status.UpdatedReplicas), int64(o.Status.AvailableReplicas), age(m)}
	case *appsv1.ReplicaSet:
		want := int32(1)
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
		return []any{o.Name, int64(want), int64(o.Status.Replicas), int64(o.Status.ReadyReplicas), age(m)}
	case *corev1.Node:
		status := "Unknown"
		for _, c := range o.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					status = "Ready"
				} else {
					status = "NotReady"
				}
			}
		}
		if o.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		var roles []string
		for k := range o.Labels {
			if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && r != "" {
				roles = append(roles, r)
			}
		}
		role := "<none>"
		if len(roles) > 0 {
			role = strings.Join(roles, ",")
		}
		return []any{o.Name, status, role, age(m), o.Status.NodeInfo.KubeletVersion}
	case *corev1.Service:
		var ports []string
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				ports = append(ports, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
			} else {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
			}
		}
		ext := "<none>"
		if len(o.Spec.ExternalIPs) > 0 {
			ext = strings.Join(o.Spec.ExternalIPs, ",")
		} else if o.Spec.Type == corev1.ServiceTypeExternalName {
			ext = o.Spec.ExternalName
		}
		cip := o.Spec.ClusterIP
		if cip == "" {
			cip = "<none>"
		}
		pstr := "<none>"
		if len(ports) > 0 {
			pstr = strings.Join(ports, ",")
		}
		return []any{o.Name, string(o.Spec.Type), cip, ext, pstr, age(m)}
	case *corev1.Namespace:
		return []any{o.Name, string(o.Status.Phase), age(m)}
	case *corev1.ConfigMap:
		return []any{o.Name, int64(len(o.Data) + len(o.BinaryData)), age(m)}
	case *corev1.Secret:
		return []any{o.Name, string(o.Type), int64(len(o.Data)), age(m)}
	case *corev1.Event:
		last := o.LastTimestamp.Time
		if last.IsZero() {
			last = o.EventTime.Time
		}
		if o.Series != nil && !o.Series.LastObservedTime.IsZero() {
			last = o.Series.LastObservedTime.Time
		}
		seen := "<unknown>"
		if !last.IsZero() {
			seen = duration.HumanDuration(time.Since(last))
		}
		object := strings.ToLower(o.InvolvedObject.Kind) + "/" + o.InvolvedObject.Name
		return []any{seen, o.Type, o.Reason, object, strings.TrimSpace(o.Message), o.Name}
	case *batchv1.Job:
		status := "Running"
		for _, c := range o.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				status = string(c.Type)
			}
		}
		want := int32(1)
		if o.Spec.Completions != nil {
			want = *o.Spec.Completions
		}
		return []any{o.Name, status, fmt.Sprintf("%d/%d", o.Status.Succeeded, want), age(m)}
	case *appsv1.DaemonSet:
		st := o.Status
		return []any{o.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady), int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), age(m)}
	case *appsv1.StatefulSet:
		want := int32(1)
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
		return []any{o.Name, fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, want), age(m)}
	case *pluginsv1alpha1.WasmModule:
		return []any{o.Name, o.Spec.Size, fmt.Sprint(o.Status.Uploaded), o.Spec.Description, age(m)}
	case *pluginsv1alpha1.AdmissionPolicy:
		mode := string(o.Spec.Mode)
		if mode == "" {
			mode = string(pluginsv1alpha1.ModeEnforce)
		}
		return []any{o.Name, shortModule(o.Spec.Module), fmt.Sprint(o.Spec.Mutating), mode, age(m)}
	case *pluginsv1alpha1.SchedulerPlugin:
		return []any{o.Name, shortModule(o.Spec.Module), fmt.Sprint(o.Spec.Filter), fmt.Sprint(o.Spec.Score), int64(o.Spec.Weight), age(m)}
	case *coordinationv1.Lease:
		holder := "<none>"
		if o.Spec.HolderIdentity != nil {
			holder = *o.Spec.HolderIdentity
		}
		return []any{o.Name, holder, age(m)}
	case *rbacv1.Role, *rbacv1.ClusterRole:
		return []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
	case *rbacv1.RoleBinding:
		return bindingCells(m, o.RoleRef, o.Subjects)
	case *rbacv1.ClusterRoleBinding:
		return bindingCells(m, o.RoleRef, o.Subjects)
	}
	return []any{m.GetName(), age(m)}
}

// shortModule abbreviates a "sha256-<64 hex>" module name for tables.
func shortModule(name string) string {
	if len(name) > len(pluginsv1alpha1.ModuleNamePrefix)+12 {
		return name[:len(pluginsv1alpha1.ModuleNamePrefix)+12]
	}
	return name
}

func includeObject(r *http.Request) metav1.IncludeObjectPolicy {
	switch p := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); p {
	case metav1.IncludeNone, metav1.IncludeObject:
		return p
	}
	return metav1.IncludeMetadata
}

func row(obj runtime.Object, policy metav1.IncludeObjectPolicy) metav1.TableRow {
	m, _ := meta.Accessor(obj)
	r := metav1.TableRow{Cells: cellsFor(obj, m)}
	switch policy {
	case metav1.IncludeObject:
		r.Object = runtime.RawExtension{Object: obj}
	case metav1.IncludeMetadata:
		pm := &metav1.PartialObjectMetadata{}
		if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
			if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
				pm.ObjectMeta = *om.DeepCopy()
			}
		}
		pm.Kind, pm.APIVersion = "PartialObjectMetadata", "meta.k8s.io/v1"
		pm.ManagedFields = nil
		r.Object = runtime.RawExtension{Object: pm}
	}
	return r
}

func newTable(res *registry.Resource) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: columnsFor(res)}
	t.Kind, t.APIVersion = "Table", "meta.k8s.io/v1"
	return t
}

// toTable renders one object as a meta.k8s.io Table.
func toTable(res *registry.Resource, obj runtime.Object, r *http.Request) *metav1.Table {
	t := newTable(res)
	if m, err := meta.Accessor(obj); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
	}
	t.Rows = []metav1.TableRow{row(obj, includeObject(r))}
	return t
}

// listToTable renders a list as a meta.k8s.io Table.
func listToTable(res *registry.Resource, list runtime.Object, r *http.Request) *metav1.Table {
	t := newTable(res)
	if lm, err := meta.ListAccessor(list); err == nil {
		t.ResourceVersion, t.Continue, t.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
	}
	policy := includeObject(r)
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		t.Rows = append(t.Rows, row(o, policy))
		return nil
	})
	if t.Rows == nil {
		t.Rows = []metav1.TableRow{}
	}
	return t
}

// bindingCells are kubectl's RoleBinding columns: name, "Kind/role", age,
// then users, groups and "namespace:name" service accounts.
func bindingCells(m metav1.Object, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{m.GetName(), ref.Kind + "/" + ref.Name, age(m), strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
