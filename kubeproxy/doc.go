// Package kubeproxy programs Service virtual IPs with iptables from Services
// and EndpointSlices.
//
// Two chain layouts are available. The default is flat: one KUBE-SVC chain
// per Service port that picks an endpoint with statistic probabilities and
// DNATs to it directly. Options.EndpointChains (--endpoint-chains) renders
// upstream kube-proxy's layout instead, with the same chain names: KUBE-SVC →
// KUBE-SEP per endpoint (hairpin masquerade, DNAT) and KUBE-EXT for NodePort
// and external-IP traffic, for users who debug with upstream's chains in mind.
// It behaves the same but has ~11× the chains, and iptables-nft 1.8.9's
// restore cost grows with rules × chains, so full syncs of large clusters
// are several times slower (docs/benchmarks/network.md, "Layouts").
// Changing the layout needs no cleanup: the next full sync (every start)
// deletes the other layout's chains.
package kubeproxy
