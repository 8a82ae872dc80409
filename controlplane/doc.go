// Package controlplane is skiff's controller-manager: workload, namespace, garbage-collection, node-lifecycle, endpoints, IPAM and service-account controllers.
package controlplane
