#!/usr/bin/env bash
# make demo: the whole bindsync journey on this machine, with real processes.
#
# A control plane and an app cluster (the test API servers: kube-apiserver and
# etcd on loopback, started by hack/devenv), `bindsync backend` keeping the
# state repository as a bare git repository in its data dir, `bindsync agent`
# reading it over file://. The provider's PostgreSQL CRD is bound into the app
# cluster; then the provider changes it twice: a compatible change rolls out by
# itself, a breaking one is held until someone approves it. A PostgresqlInstance
# made in an app namespace is copied to the control plane, where a stand-in
# provider (hack/standin-provider, standing in for Crossplane) marks it Ready
# and writes its connection Secret; both come back to the app namespace, and
# deleting the instance deletes the copy first.
#
# Everything runs under a temporary folder and is stopped and removed at the
# end, on failure and on Ctrl-C. kubectl is not needed: hack/devenv applies,
# reads and patches the few objects a user would otherwise handle with it.
set -euo pipefail
export GIT_AUTHOR_NAME="Platform Operator" GIT_AUTHOR_EMAIL=operator@example.com
export GIT_COMMITTER_NAME="Platform Operator" GIT_COMMITTER_EMAIL=operator@example.com
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/bin}
bindsync=$bin/bindsync
devenv=$bin/devenv
standin=$bin/standin-provider
interval=${DEMO_INTERVAL:-1s}
timeout=${DEMO_TIMEOUT:-60}

work=$(mktemp -d "${TMPDIR:-/tmp}/bindsync-demo.XXXXXX")
cd "$work"
pids=()
names=()

# cleanup stops what the demo started, newest first, and removes its folder.
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  # On failure (not on Ctrl-C), the processes' last words say why.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "${#pids[@]}" -gt 0 ]; then
    for log in backend.log agent.log standin-provider.log; do
      [ -s "$log" ] && { printf '\n--- last lines of %s\n' "$log"; tail -n 15 "$log"; }
    done
  fi
  step "stop everything"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null && echo "  stopping ${names[i]}" || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    wait "${pids[i]}" 2>/dev/null || true
  done
  cd / && rm -rf "$work"
  echo "  removed $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "  interrupted"; exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }
# echo_cmd prints a command as a user would type it; show also runs it.
echo_cmd() {
  local a line=""
  for a in "$@"; do
    [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]*$ ]] || a="'$a'"
    line+="${line:+ }$a"
  done
  line=${line//$bin\//}
  line=${line//$root\//}
  line=${line//$work\//}
  printf '\033[2m$ %s\033[0m\n' "$line"
}
show() {
  echo_cmd "$@"
  "$@"
}
# start runs a long-lived process in the background, its output in NAME.log,
# in the folder $dir (default: the demo's folder).
start() {
  local name=$1
  shift
  echo_cmd "$@" "&"
  (cd "${dir:-$work}" && exec "$@") >"$work/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}
# wait_for polls a command until it succeeds, for at most $timeout seconds.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < timeout * 4; i++)); do
    if "$@" >/dev/null 2>&1; then
      say "-> $what ($((i / 4)).$(((i % 4) * 25))s)"
      return 0
    fi
    for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null || { echo "a demo process stopped unexpectedly" >&2; return 1; }
    done
    sleep 0.25
  done
  echo "timed out after ${timeout}s waiting for: $what" >&2
  return 1
}

cp_=(--kubeconfig control-plane.kubeconfig)
app=(--kubeconfig app.kubeconfig)
crd=customresourcedefinitions.apiextensions.k8s.io
pg=postgresqlinstances.anynines.com
schema=/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties
# jp NAME... : one field of an object, e.g. jp "${app[@]}" $crd $pg --jsonpath '{...}'
jp() { "$devenv" get "$@"; }
# condition KUBECONFIG-ARGS... RESOURCE NAME TYPE: "Status Reason: Message" of one condition.
condition() {
  local type=${*: -1}
  jp "${@:1:$#-1}" --jsonpath "{.status.conditions[?(@.type==\"$type\")].status} {.status.conditions[?(@.type==\"$type\")].reason}: {.status.conditions[?(@.type==\"$type\")].message}"
}
has_field() { jp "${app[@]}" $crd $pg --jsonpath "{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.$1.type}" | grep -q .; }
expose_values() { jp "$@" $crd $pg --jsonpath '{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.expose.enum}'; }
main_subject() { git --git-dir state.git log -1 --format=%s main 2>/dev/null; }

# --- the journey commands: `bindsync cluster add|bind|approve|status|log`;
# a bindsync without them (older than the journey commands) gets the same
# steps done with devenv and git.
if "$bindsync" cluster add --help >/dev/null 2>&1; then
  cluster_add() {
    show "$bindsync" cluster add "$1" "${cp_[@]}" --output-file "$1.kubeconfig"
    agent_report=(--control-plane-kubeconfig "$work/$1.kubeconfig")
  }
  bind() {
    show "$bindsync" bind "$1" "${app[@]}" --control-plane-kubeconfig team-a.kubeconfig --timeout "${timeout}s"
  }
  approve() {
    show "$bindsync" approve "$1" --repo "$work/state.git" --approver "Platform Operator <operator@example.com>"
  }
  status() {
    wait_for "every export in sync (bindsync status --check exits 0)" "$bindsync" status "${cp_[@]}" --check
    show "$bindsync" status "${cp_[@]}"
  }
  log() { show "$bindsync" log --repo "$work/state.git"; }
else
cluster_add() {
  show "$devenv" apply "${cp_[@]}" - 2>&1 <<EOF | sed 's/^/  /'
apiVersion: bindsync.io/v1alpha1
kind: AppCluster
metadata: {name: $1}
spec: {displayName: Team A}
EOF
  wait_for "the backend made namespace bindsync-$1" jp "${cp_[@]}" namespaces "bindsync-$1"
}
bind() {
  show "$devenv" apply "${cp_[@]}" - 2>&1 <<EOF | sed 's/^/  /'
apiVersion: bindsync.io/v1alpha1
kind: APIServiceExportRequest
metadata: {name: $1, namespace: bindsync-team-a}
spec: {templateRef: {name: $1}}
EOF
  wait_for "request Ready on the control plane" sh -c "'$devenv' get --kubeconfig control-plane.kubeconfig -n bindsync-team-a apiserviceexportrequests.bindsync.io $1 --jsonpath '{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  show "$devenv" apply "${app[@]}" - 2>&1 <<EOF | sed 's/^/  /'
apiVersion: bindsync.io/v1alpha1
kind: APIServiceBinding
metadata: {name: $pg}
EOF
  wait_for "binding Ready in the app cluster" sh -c "'$devenv' get --kubeconfig app.kubeconfig apiservicebindings.bindsync.io $pg --jsonpath '{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}
approve() {
  show git clone -q "$work/state.git" approve
  show git -C approve merge -q --no-ff -m "approve $1" "origin/$1"
  show git -C approve push -q origin main
}
status() {
  say "request postgresql:  $(condition "${cp_[@]}" -n bindsync-team-a apiserviceexportrequests.bindsync.io postgresql Ready)"
  say "                     revision $(jp "${cp_[@]}" -n bindsync-team-a apiserviceexportrequests.bindsync.io postgresql --jsonpath '{.status.revision}')"
  say "binding $pg:  $(condition "${app[@]}" apiservicebindings.bindsync.io $pg Ready)"
  say "                     schema $(jp "${app[@]}" apiservicebindings.bindsync.io $pg --jsonpath '{.status.boundSchemaHash} at {.status.lastAppliedRevision}')"
}
log() {
  show git --git-dir state.git log --first-parent --format='%h %s%n%(trailers:only,unfold)' main | sed 's/^/  /'
}
fi
agent_report=()

# --- instance sync: a PostgresqlInstance in app namespace shop goes up as a
# copy, the stand-in provider provisions it, status and Secret come down;
# deleting it deletes the copy first.
exists() { jp "$@" --jsonpath '{.metadata.name}' >/dev/null 2>&1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }
instances() {
  local ns copy_gone="" app_gone="" begin at i
  step "a developer creates a PostgresqlInstance in app namespace shop (the same name as default/orders-db)"
  show "$devenv" apply "${app[@]}" - 2>&1 <<EOF | sed 's/^/  /'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: anynines.com/v1
kind: PostgresqlInstance
metadata: {name: orders-db, namespace: shop, labels: {team: checkout}}
spec:
  service: a9s-postgresql15
  plan: postgresql-single-small
  compositionRef: {name: a9s-postgresql}
  expose: Internal
  writeConnectionSecretToRef: {name: orders-db-credentials}
EOF

  step "the agent asks for a control-plane namespace for team-a/shop; the backend assigns it, in git"
  wait_for "APIServiceNamespace bindsync-team-a/shop has a namespace" sh -c "'$devenv' get --kubeconfig control-plane.kubeconfig -n bindsync-team-a apiservicenamespaces.bindsync.io shop --jsonpath '{.status.namespace}' | grep -q ."
  ns=$(jp "${cp_[@]}" -n bindsync-team-a apiservicenamespaces.bindsync.io shop --jsonpath '{.status.namespace}')
  say "team-a/shop -> $ns"
  git --git-dir state.git log --first-parent --format='%h %s' main -- "clusters/team-a/namespaces/shop.yaml" | sed 's/^/  main: /'

  step "the copy on the control plane: same name, in $ns, provisioned by the stand-in provider"
  wait_for "the copy $ns/orders-db exists" exists "${cp_[@]}" -n "$ns" $pg orders-db
  for k in consumer-cluster consumer-namespace consumer-name consumer-uid; do
    say "annotation bindsync.io/$k: $(jp "${cp_[@]}" -n "$ns" $pg orders-db --jsonpath "{.metadata.annotations.bindsync\\.io/$k}")"
  done
  say "label bindsync.io/cluster: $(jp "${cp_[@]}" -n "$ns" $pg orders-db --jsonpath '{.metadata.labels.bindsync\.io/cluster}'), label team: $(jp "${cp_[@]}" -n "$ns" $pg orders-db --jsonpath '{.metadata.labels.team}')"
  wait_for "the stand-in provider marked the copy Ready" sh -c "'$devenv' get --kubeconfig control-plane.kubeconfig -n '$ns' $pg orders-db --jsonpath '{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  say "spec.resourceRef (the provider's own field): $(jp "${cp_[@]}" -n "$ns" $pg orders-db --jsonpath '{.spec.resourceRef.kind}/{.spec.resourceRef.name}')"

  step "status and connection Secret arrive in the app namespace shop"
  wait_for "shop/orders-db is Ready in the app cluster" sh -c "'$devenv' get --kubeconfig app.kubeconfig -n shop $pg orders-db --jsonpath '{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  say "shop/orders-db Ready: $(condition "${app[@]}" -n shop $pg orders-db Ready)"
  wait_for "Secret shop/orders-db-credentials arrived" exists "${app[@]}" -n shop secrets orders-db-credentials
  for k in host port username; do
    say "  $k: $(jp "${app[@]}" -n shop secrets orders-db-credentials --jsonpath "{.data.$k}" | base64 -d)"
  done
  say "  password: ($(jp "${app[@]}" -n shop secrets orders-db-credentials --jsonpath '{.data.password}' | base64 -d | wc -c) characters)"
  say "binding: $(condition "${app[@]}" apiservicebindings.bindsync.io $pg InstancesSynced)"

  step "the developer deletes shop/orders-db: the copy goes first (3s deprovisioning), the app object after"
  begin=$(now)
  show "$devenv" delete "${app[@]}" -n shop $pg orders-db 2>&1 | sed 's/^/  /'
  for ((i = 0; i < timeout * 10; i++)); do
    at=$(now)
    if [ -z "$copy_gone" ] && ! exists "${cp_[@]}" -n "$ns" $pg orders-db; then
      copy_gone=$at
      say "-> the copy $ns/orders-db is gone ($(secs "$begin" "$at"))"
    fi
    if [ -z "$app_gone" ] && ! exists "${app[@]}" -n shop $pg orders-db; then
      app_gone=$at
      say "-> the app object shop/orders-db is gone ($(secs "$begin" "$at"))"
      # The two checks above are separate reads: the copy may have gone
      # between them. Only a copy still there now means the order was wrong.
      if [ -z "$copy_gone" ] && exists "${cp_[@]}" -n "$ns" $pg orders-db; then
        echo "the app object went before its copy" >&2
        return 1
      fi
      [ -n "$copy_gone" ] || say "-> the copy $ns/orders-db is gone too (it went between the two reads)"
    fi
    [ -n "$app_gone" ] && break
    if [ "$i" -eq 5 ]; then
      say "meanwhile, the copy:       deletionTimestamp=$(jp "${cp_[@]}" -n "$ns" $pg orders-db --jsonpath '{.metadata.deletionTimestamp} finalizers={.metadata.finalizers}' 2>&1)"
      say "meanwhile, the app object: deletionTimestamp=$(jp "${app[@]}" -n shop $pg orders-db --jsonpath '{.metadata.deletionTimestamp} finalizers={.metadata.finalizers}' 2>&1)"
    fi
    sleep 0.1
  done
  [ -n "$app_gone" ] || { echo "timed out after ${timeout}s waiting for shop/orders-db to go" >&2; return 1; }
  say "default/orders-db is untouched: $(jp "${app[@]}" -n default $pg orders-db --jsonpath '{.metadata.name} Ready={.status.conditions[?(@.type=="Ready")].status}')"
}

"$bindsync" version | sed 's/^/  /'

step "start a control plane and an app cluster (test API servers on 127.0.0.1)"
# devenv finds the test API servers and bindsync's CRDs from the module root.
dir=$root start devenv "$devenv" up --dir "$work" --parent $$
wait_for "both API servers are up, bindsync's CRDs installed" test -f ready

step "start the backend on the control plane; its data dir is the state repository (bare git)"
start backend "$bindsync" backend "${cp_[@]}" --data-dir "$work/state.git" --interval "$interval" \
  --leader-elect=false --metrics-bind-address 0 --health-probe-bind-address 0

step "the provider installs the PostgreSQL CRD on the control plane"
show "$devenv" apply "${cp_[@]}" "$root/testdata/crds/klutch/$pg.yaml" 2>&1 | sed 's/^/  /'

step "a stand-in provider runs on the control plane (it stands in for Crossplane; it provisions nothing)"
say "it provisions the copies bindsync makes (label bindsync.io/cluster): Ready status, a connection"
say "Secret named by spec.writeConnectionSecretToRef.name; a deleted copy is held 3s (deprovisioning)"
start standin-provider "$standin" "${cp_[@]}" --resource $pg --deprovision 3s

step "the platform team offers it to app clusters: a template"
cat >template.yaml <<EOF
apiVersion: bindsync.io/v1alpha1
kind: APIServiceExportTemplate
metadata: {name: postgresql}
spec:
  resources: [{group: anynines.com, resource: postgresqlinstances}]
  schemaUpdatePolicy: NonBreaking   # compatible changes roll out, breaking ones wait for approval
  approval: Automatic               # binding needs no approval
  permissionClaims:                 # the connection Secret the provider writes comes down
  - group: ""
    resource: secrets
    verbs: [get, list, watch]
    owner: Provider
    references: [{group: anynines.com, resource: postgresqlinstances, jsonPath: .spec.writeConnectionSecretToRef.name}]
EOF
sed 's/^/  /' template.yaml
show "$devenv" apply "${cp_[@]}" template.yaml 2>&1 | sed 's/^/  /'

step "the platform team onboards the app cluster team-a (bindsync cluster add team-a)"
cluster_add team-a

step "start the agent in the app cluster; it reads the state repository over file://"
start agent "$bindsync" agent "${app[@]}" --cluster team-a --repo "file://$work/state.git" --interval "$interval" \
  --metrics-bind-address 0 --health-probe-bind-address 0 ${agent_report[@]+"${agent_report[@]}"}

step "a developer binds PostgreSQL into the app cluster (bindsync bind postgresql)"
bind postgresql
say "main: $(main_subject)"
say "the app cluster serves $pg; expose may be: $(expose_values "${app[@]}")"

step "the developer creates a PostgresqlInstance in the app cluster"
show "$devenv" apply "${app[@]}" - 2>&1 <<EOF | sed 's/^/  /'
apiVersion: anynines.com/v1
kind: PostgresqlInstance
metadata: {name: orders-db, namespace: default}
spec: {service: a9s-postgresql15, plan: postgresql-single-small, compositionRef: {name: a9s-postgresql}, expose: Internal}
EOF

step "the provider adds an optional field, spec.backupWindow: compatible, so it rolls out"
show "$devenv" patch "${cp_[@]}" $crd $pg \
  "[{\"op\":\"add\",\"path\":\"$schema/backupWindow\",\"value\":{\"type\":\"string\",\"description\":\"Preferred backup window, e.g. 02:00-03:00.\"}}]" 2>&1 | sed 's/^/  /'
wait_for "spec.backupWindow arrived in the app cluster" has_field backupWindow
say "main: $(main_subject)"

step "the provider drops expose: LoadBalancer: breaking (an existing object may use it), so it is held"
show "$devenv" patch "${cp_[@]}" $crd $pg \
  "[{\"op\":\"test\",\"path\":\"$schema/expose/enum/1\",\"value\":\"LoadBalancer\"},{\"op\":\"remove\",\"path\":\"$schema/expose/enum/1\"}]" 2>&1 | sed 's/^/  /'
wait_for "the backend held it on a bindsync/schema/ branch" sh -c 'git --git-dir state.git for-each-ref --format=%\(refname:short\) refs/heads/bindsync/schema | grep -q .'
branch=$(git --git-dir state.git for-each-ref --format='%(refname:short)' refs/heads/bindsync/schema)
say "held on $branch; its commit names the findings:"
git --git-dir state.git log -1 --format=%B "$branch" | sed 's/^/    | /'
wait_for "the template says SchemaBreaking" sh -c "'$devenv' get --kubeconfig control-plane.kubeconfig apiserviceexporttemplates.bindsync.io postgresql --jsonpath '{.status.conditions[?(@.type==\"Ready\")].reason}' | grep -qx SchemaBreaking"
say "template postgresql: $(condition "${cp_[@]}" apiserviceexporttemplates.bindsync.io postgresql Ready)"
say "main is unchanged: $(main_subject)"
say "the app cluster still offers expose: $(expose_values "${app[@]}")"

step "the platform team approves the change (bindsync approve $branch)"
approve "$branch"
wait_for "the change arrived in the app cluster" sh -c "! '$devenv' get --kubeconfig app.kubeconfig $crd $pg --jsonpath '{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.expose.enum}' | grep -q LoadBalancer"
say "the app cluster now offers expose: $(expose_values "${app[@]}")"
say "the PostgresqlInstance is still there: $(jp "${app[@]}" -n default $pg orders-db --jsonpath '{.metadata.name} expose={.spec.expose}')"

# (The help is read whole: grep -q in a pipe would end it early, and pipefail fail it.)
agent_help=$("$bindsync" agent --help 2>&1 || true)
if [[ $agent_help == *--sync-instances* ]] && [ ${#agent_report[@]} -gt 0 ]; then
  instances
else
  step "instance sync: skipped (this bindsync's agent has no --sync-instances, or no control-plane kubeconfig)"
fi

step "the fleet (bindsync status)"
wait_for "the binding reports main's head" sh -c "'$devenv' get --kubeconfig app.kubeconfig apiservicebindings.bindsync.io $pg --jsonpath '{.status.lastAppliedRevision}' | grep -q \$(git --git-dir state.git rev-parse main)"
status

step "who got which API, which schema, when, approved how (bindsync log)"
log

step "done: the journey completed"
