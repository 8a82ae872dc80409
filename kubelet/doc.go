// Package kubelet is skiff's node agent: it registers a Node, keeps its
// Lease, and runs the pods bound to it on containerd through CRI. It also
// serves container logs, exec/attach, port-forward and stats over HTTPS
// for the API server to proxy to, and in hollow mode simulates many nodes
// without a runtime for scale tests (hollow nodes serve no API).
//
// The kubelet API is secured as in Kubernetes: HTTPS with --tls-cert-file
// (else a self-signed certificate in <root-dir>/pki); x509 client
// certificates verified by --client-ca-file (default: the CA of the API
// server connection) and bearer tokens checked by TokenReview; requests
// without credentials get 401 unless --anonymous-auth; every request is
// authorized by a SubjectAccessReview on nodes/{stats,metrics,log,proxy}
// (--authorization-mode Webhook; AlwaysAllow skips it). The kubelet's own
// identity therefore needs create on tokenreviews and subjectaccessreviews
// (the system:node role grants it). When the API server verifies kubelet
// serving certificates with the cluster CA, give the kubelet a certificate
// from that CA (--tls-cert-file).
//
// Use: fill Options (or bind them to flags with AddFlags), then Run.
package kubelet
