//go:build kubernetes

package discovery

// The Kubernetes backend (k8s:// URLs), compiled in with -tags kubernetes.
import _ "github.com/seedforge/discovery/backend/kubernetes"
