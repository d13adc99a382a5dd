# shellcheck shell=bash
# The constants are used by stage.sh.
# shellcheck disable=SC2034
# The stage phase's helpers: the platform preflight, the service and build users, the host's
# directories, uv, and the build user's sandbox (run as it, kill all of it, seal what it wrote).
# Sourced by stage.sh after lib.sh.

# Processes (and threads: the kernel counts both) the build user may have at once. uv runs a
# thread per core or so; a build backend a handful of processes. A fork bomb in release code stops here.
readonly SYNC_BUILDER_NPROC=512

# Fails with a clear message when the platform can't run a release. Sets PYTHON.
PYTHON=""
preflight() {
    [[ -r /etc/debian_version ]] || die "preflight: not a Debian host (no /etc/debian_version)"
    command -v apache2ctl >/dev/null || die "preflight: apache2 is not installed (apt-get install apache2)"
    [[ -f $MOD_WSGI ]] || die "preflight: mod_wsgi is not installed (apt-get install libapache2-mod-wsgi-py3)"
    command -v curl >/dev/null || die "preflight: curl is not installed (apt-get install curl)"
    if ! command -v setpriv >/dev/null || ! command -v prlimit >/dev/null || ! command -v unshare >/dev/null; then
        die "preflight: setpriv, prlimit and unshare are not installed (apt-get install util-linux)"
    fi
    unshare --net --ipc --mount true 2>/dev/null ||
        die "preflight: unshare cannot give the build its own network, IPC and mount namespaces (a container without CAP_SYS_ADMIN?)"
    PYTHON=$(wsgi_python) || die "preflight: cannot tell which Python $MOD_WSGI was built for"
    [[ -x $PYTHON ]] || die "preflight: mod_wsgi is built for $PYTHON, which is not installed"
    # Root's Python runs -I -S: no environment, no cwd on the path, no site (no .pth of any
    # site-packages runs as root). The venv needs only the standard library.
    "$PYTHON" -I -S -c 'import sysconfig, zipfile' 2>/dev/null || die "preflight: $PYTHON does not run"
}

# The service user the app runs as, and the build user releases are built as.
ensure_users() {
    local user
    for user in "$SYNC_USER" "$SYNC_BUILDER"; do
        if ! getent group "$user" >/dev/null; then
            groupadd --system "$user"
        fi
        if ! getent passwd "$user" >/dev/null; then
            useradd --system --gid "$user" --home-dir /nonexistent --no-create-home \
                --shell /usr/sbin/nologin "$user"
        fi
    done
}

# /var/sync and what lives in it; events.log root-only readable (a detail may quote the app).
ensure_layout() {
    install -d -m 0755 -o root -g root "$SYNC_ROOT" "$SYNC_RELEASES" "$SYNC_TOOLS"
    install -d -m 0755 -o root -g root "$SYNC_DIST"
    install -d -m 0700 -o root -g root "$SYNC_BUILT"
    [[ -e $SYNC_EVENTS ]] || (umask 077 && : >>"$SYNC_EVENTS")
    chown root:root "$SYNC_EVENTS"
    chmod 0640 "$SYNC_EVENTS"
}

# Script hashes kept besides the one running (older stacks' steps may still name them).
readonly KEEP_SCRIPT_HASHES=3

# The script directories a process of root runs from, "<dir>/" a line: a deploy waiting for the
# lock (its flock(1) parent names the script it runs again once it has the lock), or running.
scripts_in_use() {
    find /proc -mindepth 1 -maxdepth 1 -regex '/proc/[0-9]+' -user root -printf '%p/cmdline\0' 2>/dev/null |
        xargs -0 -r grep -a -o -h "$SYNC_SCRIPTS/[0-9a-f]*/" 2>/dev/null | sort -u || true
}

# Older script directories beyond the newest KEEP_SCRIPT_HASHES, never one a process runs from.
prune_scripts() {
    local own dir kept=0 in_use
    own=$(cd "$SYNC_SCRIPT_DIR" && pwd -P)
    [[ ${own%/*} == "$SYNC_SCRIPTS" ]] || return 0
    in_use=$(scripts_in_use)
    while IFS= read -r dir; do
        [[ -n $dir && $dir != "$own" ]] || continue
        if grep -qxF "$dir/" <<<"$in_use"; then
            continue
        fi
        if ((kept < KEEP_SCRIPT_HASHES)); then
            kept=$((kept + 1))
            continue
        fi
        log "pruning scripts ${dir##*/}"
        rm -rf "$dir"
    done < <(find "$SYNC_SCRIPTS" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]*' -printf '%T@ %p\n' |
        sort -rn | cut -d' ' -f2-)
    # Staging directories of bootstraps that were killed (an hour old: none is still running).
    find "$SYNC_SCRIPTS" -mindepth 1 -maxdepth 1 -type d -name '.new.*' -mmin +60 -exec rm -rf {} +
}

# The build's own namespaces, set up as root before it becomes the build user: a network of its
# own (a loopback, down: neither the host's services, the local network, the cloud's metadata
# service nor another user's abstract socket is reachable), its own System V IPC and POSIX message
# queues, and private /tmp, /var/tmp, /dev/shm and /run/lock (tmpfs, nosuid, nodev). Nothing it
# leaves there outlives the build, and no socket, queue or shared memory of another user's
# process reaches it: no one can be handed a descriptor into the tree it writes.
# shellcheck disable=SC2016 # expanded by the sandbox's bash, not here
readonly BUILD_SANDBOX='for dir in /tmp /var/tmp /dev/shm /run/lock; do
    if [[ -d $dir && ! -L $dir ]]; then
        mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m sync-build-tmp "$dir"
    fi
done
exec "$@"'

# Run a command as the build user in its sandbox: no root, no app user, a clean environment, no
# new privileges, at most SYNC_BUILDER_NPROC processes. BUILD_HOME is its scratch directory (HOME
# and TMPDIR, 0700).
BUILD_HOME=""
as_builder() {
    unshare --net --ipc --mount --propagation private -- bash -euc "$BUILD_SANDBOX" sync-build-sandbox \
        prlimit --nproc="$SYNC_BUILDER_NPROC:$SYNC_BUILDER_NPROC" -- \
        setpriv --reuid="$SYNC_BUILDER" --regid="$SYNC_BUILDER" --clear-groups --no-new-privs \
        env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$BUILD_HOME" TMPDIR="$BUILD_HOME" \
        UV_CACHE_DIR="$BUILD_HOME/cache" UV_NO_CONFIG=1 UV_OFFLINE=1 UV_PYTHON_DOWNLOADS=never \
        UV_LINK_MODE=copy UV_NO_PROGRESS=1 PIP_NO_INDEX=1 \
        "$@" </dev/null
}

# What release code prints is passed on to the step's stderr bounded: each line cut at
# SYNC_OUTPUT_LINE bytes, anything but printable ASCII and newlines shown as '?', at most
# SYNC_OUTPUT_MAX bytes a command; the rest is read and dropped (the writer never blocks) and
# counted. Root never holds more than a buffer of it, and the deployer's log (Pulumi keeps a step's
# output in memory and in its state) never more than this.
readonly SYNC_OUTPUT_LINE=1000
readonly SYNC_OUTPUT_MAX=65536
capped_output() {
    local dropped
    tr -c '\n[:print:]' '?' | cut -b "1-$SYNC_OUTPUT_LINE" | {
        head -c "$SYNC_OUTPUT_MAX"
        dropped=$(wc -c)
        if ((dropped > 0)); then
            printf '\n[sync: %s more bytes of output dropped]\n' "$dropped"
        fi
    } >&2
}

# Run a command as the build user, its output (stdout and stderr) capped to the step's stderr.
# Every process of the build user is killed once it returns: one it left behind could hold the
# output pipe open (and the step with it) for ever.
run_builder() {
    local status=0 pipe
    as_builder "$@" > >(capped_output) 2>&1 || status=$?
    pipe=$!
    stop_builder_processes
    wait "$pipe" 2>/dev/null || true
    return "$status"
}

# The first <bytes> bytes a command of the build user prints on stdout (NULs dropped), for root to
# check; its stderr is capped to the step's stderr. Root reads no more than that, whatever it prints.
BUILDER_OUTPUT=""
builder_output() { # bytes command...
    local bytes=$1 file status=0 pipe
    shift
    file=$(mktemp "$SYNC_TOOLS/.output.XXXXXX")
    as_builder "$@" 2> >(capped_output) > >(head -c "$bytes" | tr -d '\0' >"$file") || status=$?
    pipe=$!
    stop_builder_processes
    wait "$pipe" 2>/dev/null || true
    BUILDER_OUTPUT=$(head -c "$bytes" "$file")
    rm -f "$file"
    return "$status"
}

# Hand a tree the build user wrote over to root, checking it before root changes any owner or mode
# in it: every process of the builder killed; the tree's top directory made root's and 0700, so
# from here nothing but root reaches into it (the build user has no process left and no way back
# in; anyone else never had one: the tree is 0700 from its start); then what chown and chmod would
# act through is refused (tree_shape_problem: a second hard link, a device, a link out); only then
# every file root's, writable by root only, no set-id bits (chown -R and chmod -R never follow
# links), and the top opened to readers. Prints the problem and returns 1 when it will not seal.
seal_tree() { # release-dir python
    local tree=$1 python=$2 problem
    stop_builder_processes
    chown -h root:root -- "$tree"
    chmod 0700 -- "$tree"
    stop_builder_processes
    problem=$(tree_shape_problem "$tree" "$python")
    if [[ -n $problem ]]; then
        printf '%s\n' "$problem"
        return 1
    fi
    chown -R root:root -- "$tree"
    chmod -R go-w,ug-s -- "$tree"
    chmod 0755 -- "$tree"
}

# Remove a directory tree: renamed out of the way first (one rename(2)), so a run killed halfway
# leaves a `.trash.*` name nothing reads, which the next prune removes.
discard_tree() {
    local tree=$1 trash
    [[ -e $tree || -L $tree ]] || return 0
    trash="${tree%/*}/.trash.${tree##*/}.$$"
    rm -rf "$trash"
    mv -T "$tree" "$trash"
    rm -rf "$trash"
}

# uv from the release's wheelhouse, checked against its pinned sha256 and unpacked once per host
# (root's, under tools/, temp dir then rename). Sets UV.
UV=""
ensure_uv() { # wheelhouse
    local wheelhouse=$1 dir wheel actual tmp
    dir="$SYNC_TOOLS/uv-$SYNC_UV_VERSION"
    if [[ -f $dir/.complete && -x $dir/uv ]]; then
        UV="$dir/uv"
        return 0
    fi
    wheel="$wheelhouse/$SYNC_UV_WHEEL"
    [[ -f $wheel ]] ||
        die "the release's wheelhouse has no $SYNC_UV_WHEEL (uv builds the release on the host; add it to the artifact folder's wheelhouse); host unchanged"
    actual=$(sha256sum <"$wheel" | cut -d' ' -f1)
    [[ $actual == "$SYNC_UV_SHA256" ]] ||
        die "$SYNC_UV_WHEEL has sha256 $actual, expected $SYNC_UV_SHA256; host unchanged"
    tmp=$(mktemp -d "$SYNC_TOOLS/.uv.XXXXXX")
    chmod 0755 "$tmp"
    if ! "$PYTHON" -I -S -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], "xb") as dst:
    shutil.copyfileobj(src, dst)' "$wheel" "uv-$SYNC_UV_VERSION.data/scripts/uv" "$tmp/uv" >&2; then
        rm -rf "$tmp"
        die "could not unpack uv into $SYNC_TOOLS (disk full?); host unchanged"
    fi
    chmod 0755 "$tmp/uv"
    if [[ $("$tmp/uv" --version 2>/dev/null || true) != "uv $SYNC_UV_VERSION"* ]]; then
        rm -rf "$tmp"
        die "the uv from $SYNC_UV_WHEEL does not run on this host; host unchanged"
    fi
    # The binary reaches the disk before the marker that says it is there.
    if ! sync -f "$tmp/uv" || ! : >"$tmp/.complete" || ! sync "$tmp"; then
        rm -rf "$tmp"
        die "could not complete $dir (disk full?); host unchanged"
    fi
    rm -rf "$dir"
    mv -T "$tmp" "$dir"
    sync "$SYNC_TOOLS"
    UV="$dir/uv"
}
