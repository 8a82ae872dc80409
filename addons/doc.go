// Package addons holds cluster add-ons: cluster DNS, the ingress controller and resource metrics.
package addons
