package render_test

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Every control-plane object render writes, as kustomize builds it, passes
// the layout check for its own cluster and for no other.
func TestEveryRenderedControlPlaneObjectIsAllowed(t *testing.T) {
	cases, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	checked := 0
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			out := render.Render(loadCase(t, c.Name()))
			fsys := fstest.MapFS{}
			for p, b := range out.Tree {
				fsys[p] = &fstest.MapFile{Data: b}
			}
			for _, cluster := range render.TreeClusters(out.Tree) {
				objs, err := kustomize.BuildFS(fsys, staterepo.ControlPlaneDir(cluster))
				require.NoError(t, err)
				for _, o := range objs {
					assert.NoError(t, render.CheckControlPlaneObject(cluster, o))
					assert.Error(t, render.CheckControlPlaneObject(cluster+"x", o), "%s passes for another cluster", o.GetName())
					checked++
				}
				if _, ok := out.Tree[staterepo.NamespacesDir(cluster)+"/kustomization.yaml"]; !ok {
					continue
				}
				objs, err = kustomize.BuildFS(fsys, staterepo.NamespacesDir(cluster))
				require.NoError(t, err)
				assert.NoError(t, render.CheckNamespacesFolder(cluster, objs))
				assert.Error(t, render.CheckNamespacesFolder(cluster+"x", objs), "%s's namespaces pass for another cluster", cluster)
				checked += len(objs)
			}
		})
	}
	require.NotZero(t, checked)
}

// obj decodes one YAML object.
func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	return u
}

const labels = `
  labels:
    bindsync.io/managed: "true"
    bindsync.io/cluster: c1`

// A commit can put anything into a cluster's folder; what render would never
// write is refused, with the object and the reason.
func TestControlPlaneObjectsRenderNeverWritesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"a Role in kube-system", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bindsync-agent
  namespace: kube-system` + labels + `
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]`, `namespace "kube-system"`},
		{"the former instances ClusterRole (a Role in each instance namespace now)", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bindsync:c1:instances` + labels + `
rules:
- apiGroups: [anynines.com]
  resources: [postgresqlinstances]
  verbs: [get]`, `name "bindsync:c1:instances": render names it "bindsync:c1:agent"`},
		{"a ClusterRoleBinding of the instances ClusterRole", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bindsync:c1:instances` + labels + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'bindsync:c1:instances'}
subjects: [{kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-c1}]`, `name "bindsync:c1:instances"`},
		{"a Role granting everything", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bindsync-agent
  namespace: bindsync-c1` + labels + `
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]`, `verb "*"`},
		{"a Role granting pods", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bindsync-agent
  namespace: bindsync-c1` + labels + `
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [create]`, `resource "pods"`},
		{"a Role of another name", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: bindsync-c1` + labels + `
rules: []`, `name "reader"`},
		{"a RoleBinding in kube-system", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bindsync-agent
  namespace: kube-system` + labels + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: bindsync-agent}
subjects:
- {kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-c1}`, `namespace "kube-system"`},
		{"a RoleBinding of cluster-admin", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bindsync-agent
  namespace: bindsync-c1` + labels + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-c1}`, `roleRef ClusterRole`},
		{"a RoleBinding for another cluster's agent", `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bindsync-agent
  namespace: bindsync-c1` + labels + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: bindsync-agent}
subjects:
- {kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-c2}`, `subjects`},
		{"a ClusterRole granting secrets", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bindsync:c1:agent` + labels + `
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]`, `resource "secrets"`},
		{"a ClusterRoleBinding of cluster-admin", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bindsync:c1:agent` + labels + `
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-c1}`, `roleRef ClusterRole`},
		{"another cluster's namespace", `
apiVersion: v1
kind: Namespace
metadata:
  name: bindsync-c2` + labels, `name "bindsync-c2"`},
		{"a privileged namespace", `
apiVersion: v1
kind: Namespace
metadata:
  name: bindsync-c1
  labels:
    bindsync.io/managed: "true"
    bindsync.io/cluster: c1
    pod-security.kubernetes.io/enforce: privileged`, `pod-security.kubernetes.io/enforce`},
		{"a Secret", `
apiVersion: v1
kind: Secret
metadata:
  name: x
  namespace: bindsync-c1` + labels, `kind Secret`},
		{"a Deployment", `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
  namespace: bindsync-c1` + labels, `kind Deployment.apps`},
		{"labelled for another cluster", `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bindsync-agent
  namespace: bindsync-c1
  labels:
    bindsync.io/managed: "true"
    bindsync.io/cluster: c2`, `labels`},
		{"an unknown field in a Role", `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bindsync-agent
  namespace: bindsync-c1` + labels + `
sneaky: true
rules: []`, `does not decode`},
		{"an export of a built-in group", `
apiVersion: bindsync.io/v1alpha1
kind: APIServiceExport
metadata:
  name: roles.rbac.authorization.k8s.io
  namespace: bindsync-c1` + labels + `
spec:
  group: rbac.authorization.k8s.io
  names: {plural: roles}`, `never exported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := render.CheckControlPlaneObject("c1", obj(t, tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
