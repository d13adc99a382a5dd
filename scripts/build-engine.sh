#!/usr/bin/env bash
# Build the Pulumi engine from the Go modules pinned in tools/engine/go.mod
# into a cache outside the repository, keyed by version:
#
#   ${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/engine/<pulumi-version>/
#     bin/pulumi    the CLI, `pulumi version` prints <pulumi-version>
#     home/         PULUMI_HOME used by scripts/engine-env.sh
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

command -v go >/dev/null 2>&1 || die "go not found on PATH (Go >= 1.25.11 is needed)"
command -v flock >/dev/null 2>&1 || die "flock not found (apt-get install util-linux)"

# shellcheck source-path=SCRIPTDIR source=../tools/engine/versions.env
. "$module_dir/versions.env"
: "${PULUMI_ENGINE_VERSION:?tools/engine/versions.env must set PULUMI_ENGINE_VERSION}"

# Reproducible module resolution: go.mod/go.sum are the only source of versions.
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"

pinned=$(cd "$module_dir" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
[[ "$pinned" == "$PULUMI_ENGINE_VERSION" ]] ||
  die "tools/engine/go.mod pins pulumi/pkg/v3 $pinned but versions.env says $PULUMI_ENGINE_VERSION"

cache_root=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}
engine_dir="$cache_root/engine/$PULUMI_ENGINE_VERSION"
bin_dir="$engine_dir/bin"
mkdir -p "$bin_dir" "$engine_dir/home"
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

log "engine ready: $bin_dir (PULUMI_HOME=$engine_dir/home); source scripts/engine-env.sh to use it"
