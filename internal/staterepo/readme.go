package staterepo

// readme is the state repository's README.md, the same in every repository.
var readme = []byte(`# bindsync state repository

This repository is written by bindsync. Every file is rendered; edits by hand
are overwritten by the next render.

- ` + "`clusters/<cluster>/control-plane/`" + ` is applied to the control plane by the
  bindsync backend: the cluster's namespace (` + "`bindsync-<cluster>`" + `), its agent's
  ServiceAccount, least-privilege RBAC, and one APIServiceExport per bound CRD.
- ` + "`clusters/<cluster>/app/`" + ` is pulled by that cluster's bindsync agent, built with
  kustomize and applied: the CRDs the cluster has bound.
- ` + "`clusters/<cluster>/revoked/<template>`" + `, when present, revokes that template for
  that cluster (written when its bind commit was reverted); nothing applies it.
  Delete the file to lift the revocation.

Files that carry a schema are identical for every cluster that binds it; the
cluster's namespace and ` + "`bindsync.io/cluster`" + ` label come from each folder's
kustomization.yaml.

Audit who got which API, when, and who approved it with ` + "`bindsync log`" + ` or
` + "`git log --format='%h %s%n%(trailers)'`" + `.
`)

// Readme returns the bytes of README.md. Treat them as read-only.
func Readme() []byte { return readme }
