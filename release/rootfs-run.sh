#!/usr/bin/env bash
# Run one command on the hosts' platform: inside a throwaway overlay of the Debian 12 rootfs the
# local fleet boots (scripts/fleet-rootfs.sh builds it once into ~/.cache/sync-release), so a
# release is built and checked with the hosts' CPython 3.11 and glibc whatever the deployer runs.
#
#   release/rootfs-run.sh [--offline] [--bind SRC:DEST[:ro]]... [--env NAME=VALUE]... \
#       [--cwd DIR] -- CMD [ARG...]
#
# The rootfs is only ever the overlay's lower layer: nothing here writes to it. The command runs
# as uid/gid 65534 (nobody) with no new privileges, in its own mount and pid namespaces, so
# nothing it starts outlives it and it cannot write outside its binds; --offline adds a network
# namespace with no interface up (what a fleet host sees: no route out). Online, the deployer's
# DNS settings and CA bundle (SSL_CERT_FILE, else PIP_CERT, else Debian's) are bound in, so pip
# reaches the index exactly as it does on the deployer. The environment is empty but for PATH,
# HOME=/tmp, LANG and each --env. Exit status: the command's. Needs root (mounts, chroot).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# A path inside the sandbox: absolute, plain characters, no `..` component.
SAFE_PATH='^(/[A-Za-z0-9_.+@-]+)+$'
SANDBOX_UID=65534

log() { printf 'rootfs-run: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 125
}

safe_path() { # path what
    [[ $1 =~ $SAFE_PATH && /$1/ != */../* && /$1/ != */./* ]] || die "$2 must be an absolute path of [A-Za-z0-9_.+@-] parts, got '$1'"
}

# Inside the new namespaces (re-executed by unshare): assemble the root, then drop to nobody.
inner() { # scratch rootfs offline cwd nbinds bind... nenv env... -- cmd...
    local scratch=$1 rootfs=$2 offline=$3 cwd=$4 nbinds=$5 i spec src dest mode dev
    shift 5
    local m=$scratch/merged
    mount --make-rprivate /
    mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$scratch/upper,workdir=$scratch/work" "$m"
    mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
    mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$m/dev"
    for dev in null zero full random urandom tty; do
        touch "$m/dev/$dev"
        mount --bind "/dev/$dev" "$m/dev/$dev"
    done
    mkdir -m 1777 "$m/dev/shm"
    ln -s /proc/self/fd "$m/dev/fd"
    ln -s /proc/self/fd/0 "$m/dev/stdin"
    ln -s /proc/self/fd/1 "$m/dev/stdout"
    ln -s /proc/self/fd/2 "$m/dev/stderr"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
    if [[ $offline == 0 ]]; then
        mount --bind /etc/resolv.conf "$m/etc/resolv.conf"
        touch "$m/etc/hosts"
        mount --bind /etc/hosts "$m/etc/hosts"
        mount --bind "$(ca_bundle)" "$m/etc/ssl/certs/ca-certificates.crt"
    fi
    for ((i = 0; i < nbinds; i++)); do
        spec=$1
        shift
        IFS=: read -r src dest mode <<<"$spec"
        if [[ -d $src ]]; then mkdir -p "$m$dest"; else
            mkdir -p "$(dirname "$m$dest")"
            touch "$m$dest"
        fi
        mount --bind "$src" "$m$dest"
        [[ $mode != ro ]] || mount -o remount,bind,ro "$m$dest"
    done
    local -a envs=()
    local nenv=$1
    shift
    for ((i = 0; i < nenv; i++)); do
        envs+=("$1")
        shift
    done
    [[ $1 == -- ]] || die "internal: argument list out of step"
    shift
    umask 022
    # The inner sh enters the working folder as the unprivileged user (its variables are its own).
    # shellcheck disable=SC2016
    exec chroot "$m" /usr/bin/setpriv --reuid="$SANDBOX_UID" --regid="$SANDBOX_UID" --clear-groups \
        --no-new-privs -- /usr/bin/env -i \
        PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 "${envs[@]}" \
        /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$@"
}

# The CA bundle the deployer's pip trusts.
ca_bundle() {
    local f
    for f in "${SSL_CERT_FILE:-}" "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [[ -n $f && -f $f ]]; then
            readlink -f "$f"
            return
        fi
    done
    die "no CA bundle found (set SSL_CERT_FILE)"
}

main() {
    local offline=0 cwd=/ arg src dest mode
    local -a binds=() envs=()
    while (($#)); do
        arg=$1
        shift
        case $arg in
            --offline) offline=1 ;;
            --bind)
                (($#)) || die "--bind needs SRC:DEST[:ro]"
                IFS=: read -r src dest mode <<<"$1"
                [[ $1 == "$src:$dest" || $1 == "$src:$dest:ro" ]] || die "--bind wants SRC:DEST or SRC:DEST:ro, got '$1'"
                safe_path "$src" "--bind source"
                safe_path "$dest" "--bind destination"
                [[ -e $src ]] || die "--bind source $src does not exist"
                case $dest in /proc | /proc/* | /dev | /dev/* | /tmp) die "--bind destination $dest is the sandbox's own" ;; esac
                binds+=("$1")
                shift
                ;;
            --env)
                (($#)) || die "--env needs NAME=VALUE"
                [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= && $1 != *$'\n'* ]] || die "--env wants NAME=VALUE on one line, got '$1'"
                envs+=("$1")
                shift
                ;;
            --cwd)
                (($#)) || die "--cwd needs a directory"
                safe_path "$1" "--cwd"
                cwd=$1
                shift
                ;;
            --) break ;;
            --inner) inner "$@" ;;
            *) die "unknown argument '$arg' (the command goes after --)" ;;
        esac
    done
    (($#)) || die "usage: $0 [--offline] [--bind SRC:DEST[:ro]]... [--env NAME=VALUE]... [--cwd DIR] -- CMD [ARG...]"
    [[ $EUID -eq 0 ]] || die "must run as root (mounts and chroot)"
    local rootfs scratch status=0
    rootfs=$("$HERE/../scripts/fleet-rootfs.sh") || die "no rootfs (scripts/fleet-rootfs.sh failed)"
    [[ -x $rootfs/usr/bin/python3.11 ]] || die "$rootfs has no /usr/bin/python3.11"
    # The overlay's upper layer on /run, as the fleet's hosts have theirs: /tmp may itself be an
    # overlay (containers), which an upper layer can't be on.
    mkdir -p /run/sync-release
    scratch=$(mktemp -d /run/sync-release/rootfs.XXXXXX)
    # The mounts live in the child's mount namespace only, so this removes plain files.
    trap 'rm -rf --one-file-system "$scratch"' EXIT
    mkdir "$scratch/upper" "$scratch/work" "$scratch/merged"
    local -a ns=(--mount --pid --fork --kill-child --propagation private)
    ((offline == 0)) || ns+=(--net)
    unshare "${ns[@]}" -- bash "${BASH_SOURCE[0]}" --inner "$scratch" "$rootfs" "$offline" "$cwd" \
        "${#binds[@]}" "${binds[@]}" "${#envs[@]}" "${envs[@]}" -- "$@" || status=$?
    exit "$status"
}

main "$@"
