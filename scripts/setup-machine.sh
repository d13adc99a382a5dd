#!/usr/bin/env bash
# What the README's two commands need on this machine, installed when missing; run first by both
# (scripts/local-up.sh, and `npm test` through scripts/test-all.sh). Idempotent, and silent when
# nothing is missing.
#   apt:    shellcheck debootstrap iproute2 util-linux openssh-client curl python3 python3-venv
#           git procps ca-certificates
#   Go:     a Go >= 1.21 (golang-go from bookworm-backports when there is none); the engine build
#           runs with GOTOOLCHAIN=auto, so Go fetches the toolchain tools/engine/go.mod names
#           (go 1.25.11) through the Go module proxy
#   npm:    `npm ci` when node_modules is missing or was installed from another package-lock.json
#   engine: the Pulumi CLI and the command plugin stand-in (scripts/build-engine.sh)
#   rootfs: the fleet's Debian 12 rootfs (scripts/fleet-rootfs.sh), which the release command
#           builds in too
# Node.js >= 20 with npm must be there already (Debian 12 ships 18). Needs root.
# Caches: ${SYNC_RELEASE_CACHE:-~/.cache/sync-release} (engine, rootfs), Go's and npm's own.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(shellcheck debootstrap iproute2 util-linux openssh-client curl python3 python3-venv
  git procps ca-certificates)
NODE_MAJOR_MIN=20
GO_MINOR_MIN=21 # the first Go that fetches the toolchain a go.mod asks for
LOCK_STAMP=node_modules/.sync-release-package-lock.sha256

log() { printf 'setup: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (apt, the fleet's namespaces, the rootfs)"

apt_install() { # package...
  log "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  }
}

ensure_apt() {
  local package
  local -a missing=()
  for package in "${APT_PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f '${Status}' "$package" 2>/dev/null) == "install ok installed" ]] || missing+=("$package")
  done
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

ensure_node() {
  local version
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "Node.js >= $NODE_MAJOR_MIN with npm is needed first (Debian 12's nodejs is 18): e.g. https://nodejs.org/en/download"
  fi
  version=$(node -p 'process.versions.node')
  ((${version%%.*} >= NODE_MAJOR_MIN)) || die "Node.js $version is too old: >= $NODE_MAJOR_MIN is needed"
}

# The go command build-engine.sh finds (PATH, else Go's own tarball in /usr/local/go).
find_go() {
  if command -v go >/dev/null; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s\n' /usr/local/go/bin/go
  else
    return 1
  fi
}

# The mirror this machine's apt uses for bookworm (deb822 or one-line sources).
debian_mirror() {
  local uri
  uri=$(grep -hs -A3 '^Types: deb' /etc/apt/sources.list.d/*.sources | awk '/^URIs:/ {print $2; exit}')
  [[ -n $uri ]] || uri=$(sed -E 's/\[[^]]*\]//' /etc/apt/sources.list 2>/dev/null | awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}')
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

ensure_go() {
  local go minor
  if go=$(find_go); then
    minor=$("$go" env GOVERSION | sed -nE 's/^go1\.([0-9]+).*/\1/p')
    [[ -n $minor ]] && ((minor >= GO_MINOR_MIN)) && return 0
  fi
  # Debian 12's own golang-go is 1.19, too old to fetch a toolchain; bookworm-backports has 1.23.
  local list=/etc/apt/sources.list.d/sync-release-backports.list
  if ! apt-cache policy 2>/dev/null | grep -q 'bookworm-backports'; then
    log "adding bookworm-backports to apt ($list)"
    printf 'deb %s bookworm-backports main\n' "$(debian_mirror)" >"$list"
    apt-get update -qq >/dev/null
  fi
  log "installing golang-go from bookworm-backports (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports golang-go >/dev/null
  find_go >/dev/null || die "golang-go installed but no go command found"
}

ensure_node_modules() {
  local want
  want=$(sha256sum <package-lock.json | cut -d' ' -f1)
  [[ -d node_modules && $(cat "$LOCK_STAMP" 2>/dev/null) == "$want" ]] && return 0
  log "npm ci (node_modules $([[ -d node_modules ]] && echo "installed from another package-lock.json" || echo missing))"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  printf '%s\n' "$want" >"$LOCK_STAMP"
}

# build-engine.sh says what it found; only a build (or a failure) is worth showing here.
ensure_engine() {
  local out
  if ! out=$(bash scripts/build-engine.sh 2>&1); then
    printf '%s\n' "$out" >&2
    die "scripts/build-engine.sh failed"
  fi
  grep -E ' in [0-9]+s$|stand-in registered \(' <<<"$out" >&2 || true
}

ensure_apt
ensure_node
ensure_go
ensure_node_modules
ensure_engine
scripts/fleet-rootfs.sh >/dev/null
