# shellcheck shell=bash
# A host's reachability probe, run on the deployer by the stack's `-probe-*` steps before that
# host's remote steps:
#   bash -s sync-reach <server> <host> <port> <user> <host-key> <seconds>
#   stdin: this script, then `sync_reach <<'SYNC_REACH_KEY'`, the deploy key, `SYNC_REACH_KEY`.
# The deployer's own OpenSSH client logs in with the deploy key, the host key pinned, and runs
# `true`, all under `timeout`: a host that accepts TCP but never answers SSH (a frozen sshd, a
# swap storm) fails here within <seconds>, where the command provider's own dial would wait for
# ever. Nothing is written on the host. The key lives in a 0600 file in a 0700 directory in RAM
# (/dev/shm) where there is one, removed on exit.
set -euo pipefail
umask 077
export LC_ALL=C

# `bash -s` makes the first word after it $1: the step's name, so a process list says what runs.
[[ $# -eq 7 && $1 == sync-reach ]] ||
    { echo "usage: bash -s sync-reach <server> <host> <port> <user> <host-key> <seconds>" >&2; exit 2; }
server=$2 host=$3 port=$4 user=$5 host_key=$6 seconds=$7

reach_die() {
    printf '[sync %s probe] ERROR: %s\n' "$server" "$*" >&2
    exit 1
}

[[ $seconds =~ ^[1-9][0-9]{0,3}$ ]] || reach_die "bad probe bound '$seconds'"
[[ $port =~ ^[0-9]{1,5}$ ]] || reach_die "bad port '$port'"
command -v ssh >/dev/null || reach_die "this machine has no OpenSSH client (apt-get install openssh-client)"
scratch=/dev/shm
[[ -d $scratch && -w $scratch ]] || scratch=${TMPDIR:-/tmp}
dir=$(mktemp -d "$scratch/sync-reach.XXXXXX")
trap 'rm -rf "$dir"' EXIT

sync_reach() {
    local pattern=$host status started error
    cat >"$dir/key"
    # known_hosts names a host on another port as [host]:port.
    [[ $port == 22 ]] || pattern="[$host]:$port"
    printf '%s %s\n' "$pattern" "$host_key" >"$dir/known_hosts"
    started=$SECONDS
    status=0
    # ssh's own bound (TCP connect and banner) comes first, so its message says which one failed.
    timeout --kill-after=2 "$seconds" ssh -F /dev/null -n -T -i "$dir/key" -p "$port" \
        -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes \
        -o UserKnownHostsFile="$dir/known_hosts" -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o ConnectTimeout="$((seconds * 2 / 3 + 1))" -o ServerAliveInterval=5 -o ServerAliveCountMax=2 \
        -- "$user@$host" true 2>"$dir/err" || status=$?
    if [[ $status -eq 0 ]]; then
        printf '%s answers SSH (%ss)\n' "$server" "$((SECONDS - started))"
        return 0
    fi
    # ssh's last line says what failed (the lines before it are banners and warnings).
    error=$({ grep -v '^[[:space:]@]*$' "$dir/err" || true; } | tail -n 1 | tr -s '[:space:]' ' ' | cut -c1-200)
    error=${error% }
    if [[ $status -eq 124 || $status -eq 137 || $error == *"banner exchange"* ]]; then
        reach_die "$host:$port accepts connections but its sshd does not answer within ${seconds}s (frozen or overloaded?): ${error:-no answer}; later hosts are not started"
    fi
    reach_die "ssh to $host:$port failed: ${error:-exit status $status}; later hosts are not started"
}
