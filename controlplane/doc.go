// Package controlplane is skiff's controller-manager: the workload
// (ReplicaSet, Deployment, Job, CronJob, DaemonSet, StatefulSet), garbage
// collector, namespace lifecycle, node lifecycle, node IPAM, Endpoints,
// EndpointSlice, ServiceAccount, pod GC and Event TTL controllers.
//
// Each controller lives in its own package under internal/ and follows the
// client-go pattern: shared informers feed a rate-limited workqueue of keys
// and an idempotent, level-based sync writes status through the status
// subresource. Run starts the enabled controllers, optionally behind a
// leader-election Lease so several replicas can run:
//
//	opts := controlplane.Defaults()
//	opts.Kubeconfig = "/path/to/kubeconfig" // or opts.RESTConfig
//	err := controlplane.Run(ctx, opts)
package controlplane
