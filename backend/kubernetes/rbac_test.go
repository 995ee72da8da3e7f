//go:build kubernetes

package kubernetes_test

import (
	"context"
	"os"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// grantMinimalRole creates, in ns, the Role of examples/kubernetes/deploy/rbac.yaml
// (the one the docs give) and binds it to user, so the tests check that
// it is enough.
func grantMinimalRole(t testing.TB, ns, user string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/kubernetes/deploy/rbac.yaml")
	must(t, err)
	var role *rbacv1.Role
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		var r rbacv1.Role
		must(t, yaml.Unmarshal([]byte(doc), &r))
		if r.Kind == "Role" {
			role = &r
		}
	}
	if role == nil {
		t.Fatal("rbac.yaml has no Role")
	}
	ctx := context.Background()
	_, err = admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})
	must(t, err)
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{})
	must(t, err)
}
