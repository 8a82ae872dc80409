// Package names holds the names of the built-in scheduler plugins, as
// profiles in the configuration file refer to them.
package names

// Built-in plugin names (the same as upstream kube-scheduler's).
const (
	NodeName                        = "NodeName"
	NodeUnschedulable               = "NodeUnschedulable"
	NodeAffinity                    = "NodeAffinity"
	TaintToleration                 = "TaintToleration"
	NodeResourcesFit                = "NodeResourcesFit"
	NodeResourcesBalancedAllocation = "NodeResourcesBalancedAllocation"
	NodePorts                       = "NodePorts"
	ImageLocality                   = "ImageLocality"
	InterPodAffinity                = "InterPodAffinity"
	PodTopologySpread               = "PodTopologySpread"
	DefaultPreemption               = "DefaultPreemption"
	DefaultBinder                   = "DefaultBinder"
)
