#!/usr/bin/env bash
# Today's layout — the commit before the OpenSSH transport (f5dba13: probes, CopyToRemote and
# command:remote:* steps) — made runnable beside this checkout, so that one bench run measures
# both on the same machine and hosts. Nothing of it enters the repository:
#   OUT/old                       that commit's tree (git archive), node_modules linked in
#   $SYNC_BENCH_CACHE/<commit>/   (default ~/.cache/sync-release-bench)
#     npm-<lock hash>/node_modules  its own `npm ci --ignore-scripts` (Node >= 22 on PATH)
#     standin/                      its own tools/command-standin (it still serves command:remote:*)
#     home/                         a PULUMI_HOME with that stand-in registered as command 1.2.1
#     cache/engine/<its version>    a link to this checkout's engine directory: its runner finds
#                                   the CLI by tools/engine/versions.env (v3.259.0), and the
#                                   program runs under this checkout's CLI (v3.276.0)
# Prints, as KEY=value lines, what scripts/bench/layouts.ts reads (the runner of that tree gets
# the last two as SYNC_RELEASE_CACHE and SYNC_RELEASE_PULUMI_HOME):
#   SYNC_BENCH_OLD_TREE, SYNC_BENCH_OLD_RELEASE_CACHE, SYNC_BENCH_OLD_PULUMI_HOME
#   usage: scripts/bench/old-layout.sh OUT [COMMIT]     (run from the checkout; needs git and Go)
set -euo pipefail
out=${1:?usage: old-layout.sh OUT [COMMIT]}
commit=${2:-${SYNC_BENCH_OLD_COMMIT:-f5dba13}}
repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '[old-layout %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[old-layout] error: %s\n' "$*" >&2; exit 1; }
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || die "go not found (scripts/setup-machine.sh installs one)"

# The repository the checkout belongs to (the bench runs from a snapshot without .git).
git_dir=${SYNC_BENCH_GIT_DIR:-$repo}
full=$(git -C "$git_dir" rev-parse --verify "$commit^{commit}") || die "$commit is not a commit of $git_dir"
short=${full:0:7}
cache=${SYNC_BENCH_CACHE:-$HOME/.cache/sync-release-bench}/$short
engine_cache=${SYNC_RELEASE_CACHE_REAL:-$HOME/.cache/sync-release}
mkdir -p "$cache"

tree=$out/old
rm -rf "$tree"
mkdir -p "$tree"
git -C "$git_dir" archive "$full" | tar -x -C "$tree"
echo "$short" >"$tree/.commit"
log "tree of $short in $tree"

# Its own node_modules, kept per package-lock.json.
lock_hash=$(sha256sum "$tree/package-lock.json" | cut -c1-16)
modules=$cache/npm-$lock_hash
if [[ ! -d $modules/node_modules ]]; then
  log "npm ci --ignore-scripts for $short (once)"
  rm -rf "$modules.tmp"
  mkdir -p "$modules.tmp"
  cp "$tree/package.json" "$tree/package-lock.json" "$modules.tmp/"
  (cd "$modules.tmp" && npm ci --ignore-scripts --no-audit --no-fund >&2)
  rm -rf "$modules"
  mv "$modules.tmp" "$modules"
fi
ln -s "$modules/node_modules" "$tree/node_modules"

# Its own command stand-in, built from its own sources, registered in a home of its own.
command_version=$(sed -n 's/.*"@pulumi\/command": *"\([^"]*\)".*/\1/p' "$tree/package.json")
standin_hash=$(cd "$tree/tools/command-standin" &&
  find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 | LC_ALL=C sort -z |
  xargs -0 sha256sum | sha256sum | cut -c1-16)
standin=$cache/standin
if [[ "$(cat "$standin/SYNC_RELEASE_STANDIN" 2>/dev/null)" != "$standin_hash" ]]; then
  log "building $short's command stand-in $command_version (sources $standin_hash)"
  rm -rf "$standin.tmp"
  mkdir -p "$standin.tmp"
  (cd "$tree/tools/command-standin" &&
    GOFLAGS="-mod=readonly -buildvcs=false -trimpath" GOTOOLCHAIN=${GOTOOLCHAIN:-auto} \
      nice -n 10 go build -o "$standin.tmp/pulumi-resource-command" -ldflags "-s -w" .) ||
    die "go build of $short's tools/command-standin failed"
  [[ "$("$standin.tmp/pulumi-resource-command" --version)" == "$command_version" ]] ||
    die "the stand-in does not report version $command_version"
  echo "$standin_hash" >"$standin.tmp/SYNC_RELEASE_STANDIN"
  rm -rf "$standin"
  mv "$standin.tmp" "$standin"
fi

# Its engine: this checkout's CLI, under the version name its runner looks for.
# shellcheck disable=SC1091
old_engine=$(. "$tree/tools/engine/versions.env" && echo "$PULUMI_ENGINE_VERSION")
# shellcheck disable=SC1091
new_engine=$(. "$repo/tools/engine/versions.env" && echo "$PULUMI_ENGINE_VERSION")
real_engine=$engine_cache/engine/$new_engine
[[ -x $real_engine/bin/pulumi ]] || die "$real_engine/bin/pulumi is missing: run scripts/build-engine.sh"
mkdir -p "$cache/cache/engine"
ln -sfn "$real_engine" "$cache/cache/engine/$old_engine"

home=$cache/home
mkdir -p "$home"
# A file where the CLI would write its debug log keeps it from starting (scripts/build-engine.sh).
[[ -f $home/logs ]] || { rm -rf "$home/logs"; : >"$home/logs"; }
plugin_dir=$home/plugins/resource-command-v$command_version
if [[ "$(cat "$plugin_dir/SYNC_RELEASE_STANDIN" 2>/dev/null)" != "$standin_hash" ]]; then
  PULUMI_HOME=$home PULUMI_SKIP_UPDATE_CHECK=true \
    "$real_engine/bin/pulumi" plugin install resource command "$command_version" --file "$standin" --reinstall >&2 ||
    die "registering the stand-in in $home failed"
fi
log "$short: stand-in $command_version in $home, engine $old_engine -> $real_engine"
printf 'SYNC_BENCH_OLD_TREE=%s\nSYNC_BENCH_OLD_RELEASE_CACHE=%s\nSYNC_BENCH_OLD_PULUMI_HOME=%s\n' "$tree" "$cache/cache" "$home"
