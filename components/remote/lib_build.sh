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
    if ! command -v setpriv >/dev/null || ! command -v prlimit >/dev/null; then
        die "preflight: setpriv and prlimit are not installed (apt-get install util-linux)"
    fi
    PYTHON=$(wsgi_python) || die "preflight: cannot tell which Python $MOD_WSGI was built for"
    [[ -x $PYTHON ]] || die "preflight: mod_wsgi is built for $PYTHON, which is not installed"
    # -I: isolated; a plain -c would also search the cwd. The venv needs only the standard library.
    "$PYTHON" -I -c 'import sysconfig, zipfile' 2>/dev/null || die "preflight: $PYTHON does not run"
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
prune_scripts() {
    local own dir kept=0
    own=$(cd "$SYNC_SCRIPT_DIR" && pwd -P)
    [[ ${own%/*} == "$SYNC_SCRIPTS" ]] || return 0
    while IFS= read -r dir; do
        [[ -n $dir && $dir != "$own" ]] || continue
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

# Run a command as the build user: no root, no app user, a clean environment, no new privileges,
# at most SYNC_BUILDER_NPROC processes. BUILD_HOME is its scratch directory (HOME and TMPDIR).
BUILD_HOME=""
as_builder() {
    prlimit --nproc="$SYNC_BUILDER_NPROC:$SYNC_BUILDER_NPROC" -- \
        setpriv --reuid="$SYNC_BUILDER" --regid="$SYNC_BUILDER" --clear-groups --no-new-privs \
        env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$BUILD_HOME" TMPDIR="$BUILD_HOME" \
        UV_CACHE_DIR="$BUILD_HOME/cache" UV_NO_CONFIG=1 UV_OFFLINE=1 UV_PYTHON_DOWNLOADS=never \
        UV_LINK_MODE=copy UV_NO_PROGRESS=1 PIP_NO_INDEX=1 \
        "$@" </dev/null
}

# Hand a tree the build user wrote over to root: no process of the builder left, owned by root,
# writable by root only, no set-id bits. chown -R and chmod -R never follow links they meet.
seal_tree() {
    stop_builder_processes
    chown -R root:root "$1"
    chmod -R go-w,ug-s "$1"
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
    if ! "$PYTHON" -I -c 'import shutil, sys, zipfile
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
