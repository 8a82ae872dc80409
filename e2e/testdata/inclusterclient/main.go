// Command inclusterclient is what a workload does to talk to the API from
// inside a pod: rest.InClusterConfig (KUBERNETES_SERVICE_HOST/PORT, the
// mounted ServiceAccount token and ca.crt), then "who am I" through a
// SelfSubjectReview and a list of the pods of its own namespace. It prints
// one line per call for e2e/serviceaccount_test.go to check:
//
//	whoami: ok <username> <groups>   |  whoami: error <code> <message>
//	list: ok <n>                     |  list: error <code> <message>
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return fmt.Errorf("namespace file: %w", err)
	}

	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		fmt.Println("whoami:", failure(err))
	} else {
		u := review.Status.UserInfo
		fmt.Printf("whoami: ok %s %s\n", u.Username, strings.Join(u.Groups, ","))
	}

	pods, err := client.CoreV1().Pods(strings.TrimSpace(string(ns))).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Println("list:", failure(err))
	} else {
		fmt.Printf("list: ok %d\n", len(pods.Items))
	}
	return nil
}

func failure(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return fmt.Sprintf("error %d %s", se.Status().Code, se.Status().Message)
	}
	return "error 0 " + err.Error()
}
