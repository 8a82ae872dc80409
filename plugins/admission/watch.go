package admission

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/api/plugins/v1alpha1"
)

// ModulesFromAPI returns an Options.Modules that reads a WasmModule's bytes
// through the API (GET …/wasmmodules/NAME/content). The apiserver itself
// may read them from storage instead; this serves any other process.
func ModulesFromAPI(cfg *rest.Config) (func(ctx context.Context, name string) ([]byte, error), error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("admission: client: %w", err)
	}
	rc := cs.Discovery().RESTClient()
	return func(ctx context.Context, name string) ([]byte, error) {
		path := "/apis/" + v1alpha1.GroupName + "/" + v1alpha1.Version + "/" + v1alpha1.ResourceWasmModules + "/" + name + "/" + v1alpha1.SubresourceContent
		b, err := rc.Get().AbsPath(path).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("get wasmmodule %s content: %w", name, err)
		}
		return b, nil
	}, nil
}

// resyncPeriod retries policies that failed to load (e.g. their module's
// content was not uploaded yet) even without an event.
const resyncPeriod = 30 * time.Second

// Watch keeps the chain in sync with the cluster's AdmissionPolicies until
// ctx ends: it watches AdmissionPolicies and WasmModules through the API
// and calls Sync with the full set after every change (changes arriving
// together are coalesced), so a create, update or delete takes effect in
// well under a second. It returns once ctx is done.
func Watch(ctx context.Context, chain *Chain, cfg *rest.Config) error {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admission: watch: %w", err)
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(dc, resyncPeriod)
	policies := factory.ForResource(v1alpha1.SchemeGroupVersion.WithResource(v1alpha1.ResourceAdmissionPolicies)).Informer()
	modules := factory.ForResource(v1alpha1.SchemeGroupVersion.WithResource(v1alpha1.ResourceWasmModules)).Informer()
	kick := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, o any) { notify(o) },
		DeleteFunc: notify,
	}
	if _, err := policies.AddEventHandler(handler); err != nil {
		return err
	}
	if _, err := modules.AddEventHandler(handler); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), policies.HasSynced, modules.HasSynced) {
		return ctx.Err()
	}
	notify(nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		var list []v1alpha1.AdmissionPolicy
		for _, o := range policies.GetStore().List() {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			var ap v1alpha1.AdmissionPolicy
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ap); err != nil {
				chain.log.Warn("admission policy not decodable", slog.String("policy", u.GetName()), slog.String("error", err.Error()))
				continue
			}
			list = append(list, ap)
		}
		chain.Sync(ctx, list)
	}
}
