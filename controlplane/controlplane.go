package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"skiff.dev/controlplane/internal/cronjob"
	"skiff.dev/controlplane/internal/daemonset"
	"skiff.dev/controlplane/internal/deployment"
	"skiff.dev/controlplane/internal/endpoints"
	"skiff.dev/controlplane/internal/endpointslice"
	"skiff.dev/controlplane/internal/eventttl"
	"skiff.dev/controlplane/internal/garbagecollector"
	"skiff.dev/controlplane/internal/job"
	"skiff.dev/controlplane/internal/namespace"
	"skiff.dev/controlplane/internal/nodeipam"
	"skiff.dev/controlplane/internal/nodelifecycle"
	"skiff.dev/controlplane/internal/podgc"
	"skiff.dev/controlplane/internal/replicaset"
	"skiff.dev/controlplane/internal/rootca"
	"skiff.dev/controlplane/internal/serviceaccount"
	"skiff.dev/controlplane/internal/statefulset"
)

// runner is a started controller.
type runner interface {
	Run(ctx context.Context, workers int)
}

// deps is what controllers are built from.
type deps struct {
	opts      Options
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	informers informers.SharedInformerFactory
	recorder  func(component string) record.EventRecorder
	log       *slog.Logger
	// rootCA is the PEM bundle the root CA publisher distributes.
	rootCA []byte
}

type builder func(d *deps) (runner, error)

func builders() map[string]builder {
	return map[string]builder{
		"replicaset": func(d *deps) (runner, error) {
			return replicaset.New(replicaset.Options{
				Client: d.client, ReplicaSets: d.informers.Apps().V1().ReplicaSets(), Pods: d.informers.Core().V1().Pods(),
				Recorder: d.recorder("replicaset-controller"), Log: d.log,
			}), nil
		},
		"deployment": func(d *deps) (runner, error) {
			return deployment.New(deployment.Options{
				Client: d.client, Deployments: d.informers.Apps().V1().Deployments(), ReplicaSets: d.informers.Apps().V1().ReplicaSets(),
				Pods: d.informers.Core().V1().Pods(), Recorder: d.recorder("deployment-controller"), Log: d.log,
			}), nil
		},
		"garbagecollector": func(d *deps) (runner, error) {
			return garbagecollector.New(garbagecollector.Options{
				Dynamic: d.dynamic, Discovery: d.client.Discovery(), Log: d.log,
			}), nil
		},
		"namespace": func(d *deps) (runner, error) {
			return namespace.New(namespace.Options{
				Client: d.client, Dynamic: d.dynamic, Discovery: d.client.Discovery(),
				Namespaces: d.informers.Core().V1().Namespaces(), Log: d.log,
			}), nil
		},
		"serviceaccount": func(d *deps) (runner, error) {
			return serviceaccount.New(serviceaccount.Options{
				Client: d.client, Namespaces: d.informers.Core().V1().Namespaces(),
				ServiceAccounts: d.informers.Core().V1().ServiceAccounts(), Log: d.log,
			}), nil
		},
		"endpoints": func(d *deps) (runner, error) {
			return endpoints.New(endpoints.Options{
				Client: d.client, Services: d.informers.Core().V1().Services(), Pods: d.informers.Core().V1().Pods(),
				Endpoints: d.informers.Core().V1().Endpoints(), Log: d.log,
			}), nil
		},
		"endpointslice": func(d *deps) (runner, error) {
			return endpointslice.New(endpointslice.Options{
				Client: d.client, Services: d.informers.Core().V1().Services(), Pods: d.informers.Core().V1().Pods(),
				EndpointSlices: d.informers.Discovery().V1().EndpointSlices(), Log: d.log,
			}), nil
		},
		"nodelifecycle": func(d *deps) (runner, error) {
			return nodelifecycle.New(nodelifecycle.Options{
				Client: d.client, Nodes: d.informers.Core().V1().Nodes(), Leases: d.informers.Coordination().V1().Leases(),
				Pods: d.informers.Core().V1().Pods(), MonitorPeriod: d.opts.NodeMonitorPeriod, GracePeriod: d.opts.NodeMonitorGracePeriod,
				DefaultTolerationSeconds: d.opts.DefaultTolerationSeconds, Recorder: d.recorder("node-controller"), Log: d.log,
			}), nil
		},
		"job": func(d *deps) (runner, error) {
			return job.New(job.Options{
				Client: d.client, Jobs: d.informers.Batch().V1().Jobs(), Pods: d.informers.Core().V1().Pods(),
				Recorder: d.recorder("job-controller"), Log: d.log, BackoffBase: d.opts.JobBackoffBase,
			}), nil
		},
		"podgc": func(d *deps) (runner, error) {
			return podgc.New(podgc.Options{
				Client: d.client, Pods: d.informers.Core().V1().Pods(), Nodes: d.informers.Core().V1().Nodes(),
				TerminatedThreshold: d.opts.TerminatedPodGCThreshold, Period: d.opts.PodGCPeriod, Log: d.log,
			}), nil
		},
		"root-ca-cert-publisher": func(d *deps) (runner, error) {
			if len(d.rootCA) == 0 {
				d.log.Info("no root CA (--root-ca-file or a CA in the client config): not publishing kube-root-ca.crt")
				return nil, nil
			}
			return rootca.New(rootca.Options{
				Client: d.client, Namespaces: d.informers.Core().V1().Namespaces(), ConfigMaps: d.informers.Core().V1().ConfigMaps(),
				RootCA: d.rootCA, Log: d.log,
			})
		},
		"eventttl": func(d *deps) (runner, error) {
			return eventttl.New(eventttl.Options{Client: d.client, TTL: d.opts.EventTTL, Log: d.log}), nil
		},
		"cronjob": func(d *deps) (runner, error) {
			return cronjob.New(cronjob.Options{
				Client: d.client, CronJobs: d.informers.Batch().V1().CronJobs(), Jobs: d.informers.Batch().V1().Jobs(),
				Recorder: d.recorder("cronjob-controller"), Log: d.log,
			}), nil
		},
		"daemonset": func(d *deps) (runner, error) {
			return daemonset.New(daemonset.Options{
				Client: d.client, DaemonSets: d.informers.Apps().V1().DaemonSets(), Nodes: d.informers.Core().V1().Nodes(),
				Pods: d.informers.Core().V1().Pods(), Recorder: d.recorder("daemonset-controller"), Log: d.log,
			}), nil
		},
		"statefulset": func(d *deps) (runner, error) {
			return statefulset.New(statefulset.Options{
				Client: d.client, StatefulSets: d.informers.Apps().V1().StatefulSets(), Pods: d.informers.Core().V1().Pods(),
				Recorder: d.recorder("statefulset-controller"), Log: d.log,
			}), nil
		},
		"nodeipam": func(d *deps) (runner, error) {
			p, err := netip.ParsePrefix(d.opts.ClusterCIDR)
			if err != nil {
				return nil, err
			}
			return nodeipam.New(nodeipam.Options{
				Client: d.client, Nodes: d.informers.Core().V1().Nodes(), ClusterCIDR: p, MaskSize: d.opts.NodeCIDRMaskSize,
				Recorder: d.recorder("node-ipam-controller"), Log: d.log,
			})
		},
	}
}

func restConfig(o Options) (*rest.Config, error) {
	var cfg *rest.Config
	if o.RESTConfig != nil {
		cfg = rest.CopyConfig(o.RESTConfig)
	} else {
		c, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
		}
		cfg = c
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	if cfg.ContentType == "" {
		// JSON, like kubectl: the most exercised encoding of the skiff
		// apiserver. Protobuf also passes the integration tests and measured
		// the same in the benchmark; set RESTConfig.ContentType to use it.
		cfg.ContentType = "application/json"
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "skiff-controller-manager"
	}
	return cfg, nil
}

// Run runs the controller-manager until ctx is done. With LeaderElect it
// first acquires the Lease and returns an error if it loses it.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := restConfig(o)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("clientset: %w", err)
	}
	if !o.LeaderElect {
		return runControllers(ctx, o, cfg, client)
	}
	id := o.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = host + "_" + utilrand.String(8)
	}
	ensureNamespace(ctx, client, o.LeaderElectNamespace, o.Logger)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaderElectNamespace, Name: o.LeaderElectName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var runErr error
	lost := errors.New("lost leader election lease")
	leCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            o.LeaderElectName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				o.Logger.Info("became leader", slog.String("identity", id))
				runErr = runControllers(ctx, o, cfg, client)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					runErr = errors.Join(runErr, lost)
				}
				cancel()
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					o.Logger.Info("leader is elsewhere", slog.String("leader", identity))
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(leCtx)
	return runErr
}

func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string, log *slog.Logger) {
	_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			log.Warn("create leader-election namespace", slog.String("namespace", name), slog.Any("err", err))
		}
	}
}

func runControllers(ctx context.Context, o Options, cfg *rest.Config, client kubernetes.Interface) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 12*time.Hour)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	rootCA, err := rootCABundle(o, cfg)
	if err != nil {
		return err
	}
	d := &deps{
		opts: o, client: client, dynamic: dyn, informers: factory, log: o.Logger, rootCA: rootCA,
		recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
	}
	var runners []runner
	var names []string
	all := builders()
	for _, name := range controllerNames {
		b, ok := all[name]
		if !ok || !o.enabled(name) {
			continue
		}
		r, err := b(d)
		if err != nil {
			return fmt.Errorf("start %s controller: %w", name, err)
		}
		if r == nil {
			continue // not configured to run
		}
		runners = append(runners, r)
		names = append(names, name)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	o.Logger.Info("controllers starting", slog.Any("controllers", names))
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx, o.Workers)
		}()
	}
	wg.Wait()
	o.Logger.Info("controllers stopped")
	return nil
}

// rootCABundle is the CA the root CA publisher distributes: --root-ca-file,
// else the CA the client config trusts (nil when there is none).
func rootCABundle(o Options, cfg *rest.Config) ([]byte, error) {
	switch {
	case o.RootCAFile != "":
		b, err := os.ReadFile(o.RootCAFile)
		if err != nil {
			return nil, fmt.Errorf("--root-ca-file: %w", err)
		}
		return b, nil
	case len(cfg.TLSClientConfig.CAData) > 0:
		return cfg.TLSClientConfig.CAData, nil
	case cfg.TLSClientConfig.CAFile != "":
		b, err := os.ReadFile(cfg.TLSClientConfig.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		return b, nil
	}
	return nil, nil
}
