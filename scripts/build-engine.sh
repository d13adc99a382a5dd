#!/usr/bin/env bash
# Build the Pulumi engine from the Go modules pinned in tools/engine/go.mod
# into a cache outside the repository, keyed by version:
#
#   ${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/engine/<pulumi-version>/
#     bin/pulumi    the CLI, `pulumi version` prints <pulumi-version>
#     home/         PULUMI_HOME used by scripts/engine-env.sh
#     standin/command-<v>/pulumi-resource-command
#                   stand-in for the `command` resource plugin (tools/command-standin),
#                   registered into home/ unless a released command <v> is there
#
# Idempotent: binaries already in the cache at the right version are kept.
# Concurrent runs serialise on a flock in the cache. Needs Go and the Go
# module proxy (nothing else from the network). Then: source scripts/engine-env.sh
#
# Env: SYNC_RELEASE_CACHE  cache root (default ~/.cache/sync-release)
#      ENGINE_BUILD_NICE   niceness of the go build (default 10)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
module_dir="$repo_root/tools/engine"

log() { printf '[build-engine %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[build-engine] error: %s\n' "$*" >&2; exit 1; }

# Go's own tarball installs to /usr/local/go, which a non-login shell may not have on PATH.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || die "go not found on PATH (Go >= 1.21 is needed; scripts/setup-machine.sh installs one)"
command -v flock >/dev/null 2>&1 || die "flock not found (apt-get install util-linux)"

# shellcheck source-path=SCRIPTDIR source=../tools/engine/versions.env
. "$module_dir/versions.env"
: "${PULUMI_ENGINE_VERSION:?tools/engine/versions.env must set PULUMI_ENGINE_VERSION}"

# Reproducible module resolution: go.mod/go.sum are the only source of versions.
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
# An older Go (>= 1.21, e.g. bookworm-backports') fetches the toolchain go.mod names through the
# module proxy; Debian's and some machines' go.env say local, which would refuse instead.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

pinned=$(cd "$module_dir" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
[[ "$pinned" == "$PULUMI_ENGINE_VERSION" ]] ||
  die "tools/engine/go.mod pins pulumi/pkg/v3 $pinned but versions.env says $PULUMI_ENGINE_VERSION"

cache_root=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}
engine_dir="$cache_root/engine/$PULUMI_ENGINE_VERSION"
bin_dir="$engine_dir/bin"
mkdir -p "$bin_dir" "$engine_dir/home"
# The CLI writes a debug-level log of everything it does to <home>/logs (gzipped, about a quarter
# of a large preview's CLI time; nothing turns it off). A file in its place keeps it from starting;
# `-v` and --logflow still work.
if [[ ! -f "$engine_dir/home/logs" ]]; then
  rm -rf "$engine_dir/home/logs"
  : >"$engine_dir/home/logs"
fi
# Running the fresh binary (version check) must not touch ~/.pulumi or the network.
export PULUMI_HOME="$engine_dir/home" PULUMI_SKIP_UPDATE_CHECK=true

lock_file="$cache_root/engine/.lock"
exec 9>"$lock_file"
if ! flock -n 9; then
  log "another build holds $lock_file; waiting"
  flock 9
fi

# build NAME PACKAGE VERSION_LDFLAG EXPECTED_VERSION CHECK_CMD...
# Builds to a temporary name and renames it into place, so an interrupted
# build never leaves a half-written binary behind.
build() {
  local name=$1 pkg=$2 ldflag=$3 want=$4
  shift 4
  local out="$bin_dir/$name"
  if [[ -x "$out" ]] && [[ "$("$out" "$@" 2>/dev/null || true)" == "$want" ]]; then
    log "$name $want already built ($out)"
    return 0
  fi
  log "building $name $want (cold build takes 10+ minutes on 2 cores)"
  local start=$SECONDS tmp="$out.tmp.$$"
  (cd "$module_dir" &&
    nice -n "${ENGINE_BUILD_NICE:-10}" go build -o "$tmp" -ldflags "-s -w -X $ldflag=$want" "$pkg") ||
    { rm -f "$tmp"; die "go build $pkg failed"; }
  local got
  got=$("$tmp" "$@")
  [[ "$got" == "$want" ]] || { rm -f "$tmp"; die "$name reports version '$got', expected '$want'"; }
  mv -f "$tmp" "$out"
  log "built $name $want in $((SECONDS - start))s"
}

build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  github.com/pulumi/pulumi/sdk/v3/go/common/version.Version "$PULUMI_ENGINE_VERSION" version

# The `command` resource plugin @pulumi/command asks for. The released binary cannot be
# downloaded here, so a stand-in (tools/command-standin, README there) is built and
# registered, unless `pulumi plugin ls` already shows a released one (no marker file).
command_version=$(sed -n 's/.*"@pulumi\/command": *"\([^"]*\)".*/\1/p' "$repo_root/package.json")
[[ -n "$command_version" ]] || die "package.json does not pin @pulumi/command"
standin_src="$repo_root/tools/command-standin"
standin_dir="$engine_dir/standin/command-$command_version"
standin_marker=SYNC_RELEASE_STANDIN
plugin_dir="$PULUMI_HOME/plugins/resource-command-v$command_version"

# Rebuild when any source of the stand-in changes: the marker holds their hash.
standin_hash=$(cd "$standin_src" &&
  find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 | LC_ALL=C sort -z |
  xargs -0 sha256sum | sha256sum | cut -c1-16)
if [[ -x "$standin_dir/pulumi-resource-command" ]] &&
  [[ "$(cat "$standin_dir/$standin_marker" 2>/dev/null)" == "$standin_hash" ]]; then
  log "command plugin stand-in $command_version already built ($standin_dir, sources $standin_hash)"
else
  log "building command plugin stand-in $command_version (sources $standin_hash)"
  start=$SECONDS
  tmp_dir="$standin_dir.tmp.$$"
  rm -rf "$tmp_dir" && mkdir -p "$tmp_dir"
  (cd "$standin_src" &&
    nice -n "${ENGINE_BUILD_NICE:-10}" go build -o "$tmp_dir/pulumi-resource-command" -ldflags "-s -w" .) ||
    { rm -rf "$tmp_dir"; die "go build tools/command-standin failed"; }
  got=$("$tmp_dir/pulumi-resource-command" --version)
  [[ "$got" == "$command_version" ]] ||
    { rm -rf "$tmp_dir"; die "stand-in reports version '$got', expected '$command_version'"; }
  echo "$standin_hash" >"$tmp_dir/$standin_marker"
  rm -rf "$standin_dir"
  mv -f "$tmp_dir" "$standin_dir"
  log "built command plugin stand-in $command_version in $((SECONDS - start))s"
fi

if "$bin_dir/pulumi" plugin ls 2>/dev/null | grep -Eq "^command[[:space:]]+resource[[:space:]]+${command_version}[[:space:]]" &&
  [[ ! -e "$plugin_dir/$standin_marker" ]]; then
  log "command plugin $command_version: released plugin installed ($plugin_dir); stand-in not registered"
elif [[ "$(cat "$plugin_dir/$standin_marker" 2>/dev/null)" == "$standin_hash" ]]; then
  log "command plugin $command_version: stand-in already registered ($plugin_dir)"
else
  # --file takes a binary, a folder or a tarball; the folder carries the marker along.
  "$bin_dir/pulumi" plugin install resource command "$command_version" --file "$standin_dir" --reinstall >/dev/null ||
    die "pulumi plugin install of the command stand-in failed"
  [[ -e "$plugin_dir/$standin_marker" ]] || die "stand-in installed but $plugin_dir/$standin_marker is missing"
  log "command plugin $command_version: stand-in registered ($plugin_dir)"
fi

log "engine ready: $bin_dir (PULUMI_HOME=$engine_dir/home); source scripts/engine-env.sh to use it"
