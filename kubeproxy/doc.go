// Package kubeproxy programs Service virtual IPs with iptables from Services and EndpointSlices.
package kubeproxy
