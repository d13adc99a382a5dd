# shellcheck shell=bash
# One step on one host, through the deployer's own OpenSSH client. Run on the deployer by the
# stack's `command:local:Command` steps (stage, ini, activate) and by the observation before
# planning:
#   command: bash -s sync-<step> <server>
#   stdin:   this script, then
#            on_host <user> <host> <port> <host-key> <input> <remote-command> <<'SYNC_ON_HOST_KEY'
#            <the deploy key>
#            SYNC_ON_HOST_KEY
# <input> is what the remote command reads on its stdin: `none`; `bundle:<sha256>` (the release
# bundle the program wrote to the deployer's bundle folder, named by its sha256); `base64:<data>`
# (the settings stream). <remote-command> is one command line the stack rendered, every value
# quoted (components/remoteCommand.ts).
#
# Bounds, so that no host can make `pulumi up` wait:
# - the login (TCP connect, banner, key exchange, authentication) takes at most SYNC_LOGIN_SECONDS
#   under `timeout`, ssh's ConnectTimeout inside it naming a connect or banner that never comes;
# - once logged in, the master connection sends a keepalive every SYNC_ALIVE_INTERVAL seconds and
#   gives up after SYNC_ALIVE_COUNT unanswered ones: a host that stops answering (every process
#   frozen, a swap storm, a cut cable) ends the step within about 30 s, however long the remote
#   command may run (the host bounds that itself with `timeout`);
# - the provider's own deadline (customTimeouts) kills this shell, and the kernel then kills ssh
#   (--pdeathsig), so nothing of ours keeps the step's output open.
# One login a host: the first step logs in as a master connection (ControlMaster) in a private
# directory, kept SYNC_SSH_PERSIST seconds after its last session; later steps of the same host,
# host key and deploy key run as sessions of it. The host key is pinned (a known_hosts holding
# only it, only its algorithm offered, StrictHostKeyChecking); BatchMode; the deploy key lives in a
# RAM file unlinked before ssh starts (read through /proc/<this shell>/fd), so nothing is left
# behind even when this shell is killed.
set -euo pipefail
umask 077
export LC_ALL=C
# What the stack shows a preview in the step's environment (release, host, …) is for people: the
# values that count come on stdin. None of it reaches ssh.
unset release host scripts machine observed

# `bash -s` makes the first word after it $1: the step's name, so a process list says what runs.
[[ $# -eq 2 && $1 =~ ^sync-[a-z]+$ && $2 =~ ^[a-z0-9-]{1,63}$ ]] ||
    { echo "usage: bash -s sync-<step> <server>" >&2; exit 2; }
step=${1#sync-} server=$2
# What a failure means for the rest of the rollout, said at the end of its message.
case $step in
    stage) consequence="no host switches in this up" ;;
    ini | activate) consequence="later batches are not started" ;;
    *) consequence="" ;;
esac

readonly SYNC_LOGIN_SECONDS=30
readonly SYNC_CONNECT_SECONDS=10
readonly SYNC_ALIVE_INTERVAL=10
readonly SYNC_ALIVE_COUNT=3
# How long an idle master stays for a later step of the same `up` (the deployer's environment
# may set it; 1 makes every step log in anew).
SYNC_SSH_PERSIST=${SYNC_SSH_PERSIST:-120}

on_host_die() {
    printf '[sync %s %s] ERROR: %s\n' "$server" "$step" "$*${consequence:+; $consequence}" >&2
    exit 1
}

# A RAM-backed directory of this user's, nobody else's: the key and the control sockets live there.
ram_dir() {
    local base dir
    for base in /dev/shm "${XDG_RUNTIME_DIR:-}"; do
        [[ -n $base && -d $base && -w $base && $(stat -f -c %T "$base" 2>/dev/null) == tmpfs ]] || continue
        dir="$base/sync-release-ssh-$(id -u)"
        mkdir -p "$dir"
        chmod 0700 "$dir"
        [[ -d $dir && ! -L $dir && $(stat -c %u "$dir") == "$(id -u)" ]] ||
            on_host_die "$dir is not this user's directory; remove it"
        printf '%s\n' "$dir"
        return 0
    done
    on_host_die "this machine has no RAM-backed directory (/dev/shm or \$XDG_RUNTIME_DIR) for the deploy key"
}

# The bundle named by its sha256 in the folder the program writes bundles to (components/artifacts.ts
# bundleDir: $SYNC_RELEASE_BUNDLE_DIR, else $TMPDIR or /tmp, then sync-release-bundles-<uid>).
bundle_file() {
    local sha=$1 dir
    [[ $sha =~ ^[0-9a-f]{64}$ ]] || on_host_die "bad bundle sha256 '$sha'"
    dir=${SYNC_RELEASE_BUNDLE_DIR:-${TMPDIR:-/tmp}/sync-release-bundles-$(id -u)}
    [[ -f $dir/$sha.tar && ! -L $dir/$sha.tar ]] ||
        on_host_die "the release bundle $dir/$sha.tar is missing on this machine (the program writes it; run the preview or up again)"
    printf '%s\n' "$dir/$sha.tar"
}

# ssh's last meaningful line (the lines before it are banners and warnings).
last_line() {
    { grep -v '^[[:space:]@]*$' "$1" || true; } | tail -n 1 | tr -s '[:space:]' ' ' | cut -c1-300 | sed 's/ $//'
}

on_host() {
    [[ $# -eq 6 ]] || on_host_die "on_host takes 6 arguments, got $#"
    local user=$1 host=$2 port=$3 host_key=$4 input=$5 remote=$6
    local dir scratch socket status=0 started error pattern algorithm
    [[ $port =~ ^[1-9][0-9]{0,4}$ && $port -le 65535 ]] || on_host_die "bad port '$port'"
    [[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || on_host_die "bad user '$user'"
    [[ $host =~ ^[A-Za-z0-9.:-]{1,253}$ ]] || on_host_die "bad host '$host'"
    [[ $SYNC_SSH_PERSIST =~ ^[0-9]{1,5}$ ]] || on_host_die "bad SYNC_SSH_PERSIST '$SYNC_SSH_PERSIST'"
    algorithm=${host_key%% *}
    [[ $algorithm =~ ^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521))$ ]] || on_host_die "bad host key type '$algorithm'"
    command -v ssh >/dev/null || on_host_die "this machine has no OpenSSH client (apt-get install openssh-client)"
    # What the host command reads, found before any connection.
    local source=/dev/null
    case $input in
        none) ;;
        bundle:*) source=$(bundle_file "${input#bundle:}") ;;
        base64:*) source=- ;;
        *) on_host_die "bad input '${input%%:*}'" ;;
    esac

    dir=$(ram_dir)
    # The key and the pinned known_hosts: opened, unlinked at once, then written through the
    # descriptors. ssh reads them as /proc/<this shell>/fd/N (it closes inherited descriptors).
    scratch=$(mktemp -d "$dir/step.XXXXXX")
    exec 3<>"$scratch/key" 4<>"$scratch/known_hosts" 5<>"$scratch/err"
    rm -rf "$scratch"
    cat >&3
    # known_hosts names a host on another port as [host]:port.
    pattern=$host
    [[ $port == 22 ]] || pattern="[$host]:$port"
    printf '%s %s\n' "$pattern" "$host_key" >&4

    # One master per host, host key and deploy key: a new pin or a new key never rides an old login.
    socket="$dir/$(printf '%s\n' "$user@$host:$port" "$host_key" "$(ssh-keygen -y -f "/proc/$$/fd/3" 2>/dev/null || true)" |
        sha256sum | cut -c1-24)"
    local -a options=(-F /dev/null -T -p "$port" -i "/proc/$$/fd/3"
        -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes
        -o UserKnownHostsFile="/proc/$$/fd/4" -o GlobalKnownHostsFile=/dev/null -o HostKeyAlgorithms="$algorithm"
        -o ConnectTimeout="$SYNC_CONNECT_SECONDS" -o ServerAliveInterval="$SYNC_ALIVE_INTERVAL"
        -o ServerAliveCountMax="$SYNC_ALIVE_COUNT" -o LogLevel=ERROR -o ControlPath="$socket")

    # The login, bounded as a whole; skipped when a master of this host is up already.
    if ! ssh "${options[@]}" -O check -- "$user@$host" 2>/dev/null; then
        started=$SECONDS
        timeout --kill-after=2 "$SYNC_LOGIN_SECONDS" ssh "${options[@]}" -o ControlMaster=yes \
            -o ControlPersist="$SYNC_SSH_PERSIST" -N -f -- "$user@$host" </dev/null >/dev/null 2>"/proc/$$/fd/5" ||
            status=$?
        if [[ $status -ne 0 ]]; then
            error=$(last_line "/proc/$$/fd/5")
            if [[ $status -eq 124 || $status -eq 137 || $error == *"banner exchange"* ]]; then
                on_host_die "$host:$port accepts connections but its sshd does not answer (gave up after $((SECONDS - started))s: frozen or overloaded?): ${error:-no answer}"
            fi
            on_host_die "ssh to $host:$port failed: ${error:-exit status $status} (after $((SECONDS - started))s)"
        fi
    fi

    # The step itself, a session of the master. Its stderr is the step's (the script's own lines),
    # its stdout the step's output.
    started=$SECONDS
    status=0
    if [[ $source == - ]]; then
        printf '%s' "${input#base64:}" | base64 -d | run_session "${options[@]}" -- "$user@$host" "$remote" || status=$?
    else
        run_session "${options[@]}" -- "$user@$host" "$remote" <"$source" || status=$?
    fi
    [[ $status -ne 0 ]] || return 0
    # 255: no exit status came back (the host scripts never exit with it). With the master still
    # up, the host's command itself was killed; without it, the connection was lost.
    if [[ $status -eq 255 ]]; then
        if ssh "${options[@]}" -O check -- "$user@$host" 2>/dev/null; then
            on_host_die "the step on $host:$port ended without an exit status after $((SECONDS - started))s (killed on the host?)"
        fi
        on_host_die "the connection to $host:$port was lost after $((SECONDS - started))s (no answer to keepalives for $((SYNC_ALIVE_INTERVAL * SYNC_ALIVE_COUNT))s: frozen, overloaded or cut off?)"
    fi
    # The remote script printed its own `[sync <host> <step>] ERROR: …` last.
    exit "$status"
}

# ssh as this shell's child, killed by the kernel when this shell is (the provider's deadline kills
# only its direct child); stderr passes through as it comes.
run_session() {
    if command -v setpriv >/dev/null; then
        setpriv --pdeathsig KILL ssh -o ControlMaster=no "$@"
    else
        ssh -o ControlMaster=no "$@"
    fi
}
