#!/usr/bin/env bash
# make demo: render the example control plane into a real git state repository,
# change a bound CRD the way a provider would, re-render, and let bindsync say
# whether the change may roll out.
set -euo pipefail
cd "$(dirname "$0")/.."
bindsync=${BINDSYNC:-$PWD/bin/bindsync}
work=$(mktemp -d "${TMPDIR:-/tmp}/bindsync-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo=$work/state-repo
input=$work/control-plane
cp -r examples/control-plane "$input"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
git_() { git -C "$repo" -c user.name=bindsync -c user.email=bindsync@localhost "$@"; }

"$bindsync" version | sed 's/^/  /'

step "render examples/control-plane into a new state repository"
git init -q -b main "$repo"
"$bindsync" render "$input" --out "$repo"
git_ add -A && git_ commit -q -m "bind: team-a <- postgresql, messaging; team-b <- postgresql, backups"
(cd "$repo" && find . -path ./.git -prune -o -type f -print | sort | sed 's|^\./|  |')

step "identical schemas are identical files: blobs git stores vs files in the tree"
files=$(git_ ls-tree -r HEAD | wc -l)
blobs=$(git_ ls-tree -r HEAD | awk '{print $3}' | sort -u | wc -l)
echo "  $files files, $blobs distinct blobs"

step "render again: nothing changes, so there is nothing to commit"
"$bindsync" render --in "$input" --out "$repo"
git_ status --porcelain | grep -q . && { echo "unexpected change"; exit 1; } || echo "  working tree clean"

step "a typo in a template: render names it and writes nothing (--partial would keep the clusters it affects as they are)"
tpl=$input/templates.yaml
cp "$tpl" "$work/templates.yaml"
sed -i 's/resource: messaginginstances$/resource: messaginginstnces/' "$tpl"
"$bindsync" render --in "$input" --out "$repo" && { echo "a typo must fail"; exit 1; } || echo "  -> exit $?"
git_ status --porcelain | grep -q . && { echo "unexpected change"; exit 1; } || echo "  working tree clean"
cp "$work/templates.yaml" "$tpl"

step "render refuses a folder that is not a state repository"
mkdir -p "$work/fleet/clusters/production/flux-system" && echo "# fleet" >"$work/fleet/README.md"
"$bindsync" render --in "$input" --out "$work/fleet" && { echo "must refuse"; exit 1; } || echo "  -> exit $?"

step "the provider adds an optional field to PostgresqlInstance (non-breaking)"
crd=$input/crds/postgresqlinstances.anynines.com.yaml
sed -i '0,/^            properties:$/s//            properties:\n              backupWindow:\n                description: Preferred backup window, e.g. 02:00-03:00.\n                type: string/' "$crd"
"$bindsync" render --in "$input" --out "$repo"
git_ add -A && git_ commit -q -m "schema: postgresqlinstances.anynines.com (non-breaking)"
git_ show --stat --format='  %s' HEAD | sed 's/^/  /'
if "$bindsync" check --help >/dev/null 2>&1; then
  "$bindsync" check --repo "$repo" --from HEAD~1 --to HEAD --show-all || true
fi

step "the provider stops offering expose: LoadBalancer (breaking: existing objects may use it)"
sed -i '/^                - LoadBalancer$/d' "$crd"
"$bindsync" render --in "$input" --out "$repo"
git_ add -A && git_ commit -q -m "schema: postgresqlinstances.anynines.com (breaking)"
if "$bindsync" check --help >/dev/null 2>&1; then
  "$bindsync" check --repo "$repo" --from HEAD~1 --to HEAD && echo "  (compatible)" || echo "  -> exit $?: breaking; under schemaUpdatePolicy NonBreaking this change needs approval"
fi

step "audit: the history of the state repository"
git_ log --format='  %h %s'
