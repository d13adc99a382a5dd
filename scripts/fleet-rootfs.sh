#!/usr/bin/env bash
# Build (or find) the cached Debian 12 root filesystem the local fleet boots from.
#
#   scripts/fleet-rootfs.sh          build if missing, print the rootfs path
#   scripts/fleet-rootfs.sh --path   print the path it would use, build nothing
#   scripts/fleet-rootfs.sh --rebuild  build anew even if cached
#
# Cache: ${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/rootfs/bookworm-<hash>, where <hash>
# covers the package list and the recipe below. Built in a temp dir next to it and renamed into
# place last, so a half-built rootfs is never used. Packages come from the Debian mirror this
# machine's apt uses (override: SYNC_FLEET_MIRROR).
#
# The result is a plain Debian server: no app, no ssh host keys (each host makes its own at
# start), a `deploy` user with passwordless sudo, Apache with its default site, mod_wsgi
# installed but not configured for us. debootstrap's minbase variant: no systemd, no init.
set -euo pipefail

SUITE=bookworm
# Bump when the recipe (not the package list) changes, so caches get rebuilt.
RECIPE_VERSION=1
PACKAGES=(
  openssh-server
  apache2
  libapache2-mod-wsgi-py3
  python3-venv
  curl
  sudo
  procps
  iproute2
  ca-certificates
  util-linux
  coreutils
  passwd
)

log() { printf 'fleet-rootfs: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache_root() { printf '%s/rootfs\n' "${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}"; }

recipe_hash() {
  {
    printf 'suite=%s\nrecipe=%s\n' "$SUITE" "$RECIPE_VERSION"
    printf '%s\n' "${PACKAGES[@]}" | LC_ALL=C sort
  } | sha256sum | cut -c1-12
}

rootfs_path() { printf '%s/%s-%s\n' "$(cache_root)" "$SUITE" "$(recipe_hash)"; }

# The Debian mirror the machine's apt uses for $SUITE (deb822 .sources or one-line lists).
detect_mirror() {
  if [[ -n "${SYNC_FLEET_MIRROR:-}" ]]; then
    printf '%s\n' "$SYNC_FLEET_MIRROR"
    return
  fi
  local f uri=""
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    uri=$(awk -v suite="$SUITE" '
      function flush() { if (u != "" && ok && !done) { print u; done=1 } u=""; ok=0 }
      done { exit }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { u=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
      END { flush() }' "$f")
    [[ -n "$uri" ]] && break
  done
  if [[ -z "$uri" ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f "$f" ]] || continue
      uri=$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" \
        '$1 == "deb" && $3 == suite { print $2; exit }')
      [[ -n "$uri" ]] && break
    done
  fi
  shopt -u nullglob
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# Runs inside the new rootfs (chroot) after debootstrap: make it a plain server.
customize() {
  local root=$1 mirror=$2
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$root/etc/apt/sources.list"
  # Hosts have no route out; no nameserver means glibc only asks 127.0.0.1.
  printf '# local fleet host: no DNS\n' >"$root/etc/resolv.conf"
  printf 'localhost\n' >"$root/etc/hostname"
  rm -f "$root"/etc/ssh/ssh_host_*
  chroot "$root" /usr/sbin/useradd --create-home --shell /bin/bash deploy
  printf 'deploy ALL=(ALL) NOPASSWD:ALL\n' >"$root/etc/sudoers.d/deploy"
  chmod 0440 "$root/etc/sudoers.d/deploy"
  install -d -m 0700 "$root/root/.ssh"
  install -d -m 0700 -o "$(stat -c %u "$root/home/deploy")" -g "$(stat -c %g "$root/home/deploy")" \
    "$root/home/deploy/.ssh"
  chroot "$root" /usr/bin/apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/*
  printf '%s %s recipe=%s packages=%s\n' "$SUITE" "$mirror" "$RECIPE_VERSION" \
    "${PACKAGES[*]}" >"$root/etc/sync-fleet-rootfs"
}

build() {
  local dest=$1 mirror tmp start
  mirror=$(detect_mirror)
  command -v debootstrap >/dev/null || {
    log "installing debootstrap (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
  }
  tmp=$(mktemp -d "$(dirname "$dest")/.tmp-$(basename "$dest").XXXXXX")
  start=$SECONDS
  log "building $dest from $mirror (takes a few minutes; log: $tmp.log)"
  # Own mount + pid namespace: whatever debootstrap mounts or starts dies with it.
  local includes
  includes=$(IFS=,; printf '%s' "${PACKAGES[*]}")
  if ! unshare --mount --pid --fork --propagation private -- \
    debootstrap --variant=minbase --include="$includes" "$SUITE" "$tmp" "$mirror" \
    >"$tmp.log" 2>&1; then
    tail -n 30 "$tmp.log" >&2 || true
    rm -rf --one-file-system "$tmp"
    die "debootstrap failed (log kept: $tmp.log)"
  fi
  customize "$tmp" "$mirror"
  chmod 0755 "$tmp"
  mv -T "$tmp" "$dest"
  rm -f "$tmp.log"
  log "built $dest in $((SECONDS - start))s"
}

main() {
  local mode=${1:-build} dest
  dest=$(rootfs_path)
  case "$mode" in
    --path) printf '%s\n' "$dest"; return ;;
    build | --rebuild) ;;
    -h | --help) sed -n '2,14p' "$0"; return ;;
    *) die "unknown argument: $mode" ;;
  esac
  [[ $EUID -eq 0 ]] || die "must run as root"
  mkdir -p "$(dirname "$dest")"
  # One builder at a time; the others wait and then find it built.
  exec 9>"$(dirname "$dest")/.lock"
  flock 9
  if [[ "$mode" == --rebuild && -d "$dest" ]]; then
    local old
    old=$(mktemp -d "$(dirname "$dest")/.old-XXXXXX")
    mv -T "$dest" "$old/rootfs"
    rm -rf --one-file-system "$old"
  fi
  # Leftovers of crashed builds (we hold the lock, so nobody is building them).
  rm -rf --one-file-system "$(dirname "$dest")"/.tmp-* "$(dirname "$dest")"/.old-*
  if [[ ! -x "$dest/usr/sbin/sshd" ]]; then
    build "$dest"
  fi
  printf '%s\n' "$dest"
}

main "$@"
