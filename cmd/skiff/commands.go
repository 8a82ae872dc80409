package main

// commands is the table of subcommands. Each component's command lives in
// its own file of this package.
func commands() map[string]command {
	return map[string]command{
		"version":            versionCommand(),
		"up":                 upCommand(),
		"apiserver":          apiserverCommand(),
		"etcd":               etcdCommand(),
		"controller-manager": controllerManagerCommand(),
		"scheduler":          schedulerCommand(),
		"kubelet":            kubeletCommand(),
		"kube-proxy":         kubeProxyCommand(),
		"dns":                dnsCommand(),
		"ingress":            ingressCommand(),
		"dashboard":          dashboardCommand(),
		"plugin":             pluginCommand(),
	}
}
