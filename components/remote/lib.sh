# shellcheck shell=bash
# The constants are used by the scripts sent after this file.
# shellcheck disable=SC2034
# Shared helpers for the sync-release remote scripts. The stack sends this file followed by
# one script as a single `bash -c` program; tests may also `source` it directly.
set -euo pipefail
shopt -s nullglob

readonly SYNC_ROOT=/var/sync
readonly SYNC_USER=sync
readonly SYNC_INI=/etc/sync.ini
readonly SYNC_SITE=/etc/apache2/sites-available/sync.conf
readonly SYNC_LOADER="$SYNC_ROOT/app.wsgi"
readonly SYNC_EVENTS="$SYNC_ROOT/events.log"
readonly SYNC_LOCK="$SYNC_ROOT/.deploy.lock"
# The version whose deploy last ran to the end (switch, reload and health check).
readonly SYNC_DEPLOYED="$SYNC_ROOT/.deployed"
readonly SYNC_INCOMING="$SYNC_ROOT/dist/incoming"
readonly SYNC_HEALTH_URL=http://127.0.0.1
readonly MOD_WSGI=/usr/lib/apache2/modules/mod_wsgi.so
# How long a deploy waits for another one on the same host before giving up.
SYNC_LOCK_WAIT=${SYNC_LOCK_WAIT:-120}
# How long a reloaded host has to serve the expected version.
SYNC_HEALTH_WAIT=${SYNC_HEALTH_WAIT:-60}

SYNC_STEP=${SYNC_STEP:-setup}

log() {
    printf '[sync %s %s] %s\n' "$(hostname)" "$SYNC_STEP" "$*" >&2
}

die() {
    log "ERROR: $*"
    event failed "$*"
    exit 1
}

# One line per step in $SYNC_EVENTS: "<epoch seconds.ns> <step> <detail>" — the timeline that
# tests and benchmarks read back from each host.
event() {
    local step=$1
    shift
    if [[ -d $SYNC_ROOT ]]; then
        printf '%s %s %s\n' "$(date +%s.%N)" "$step" "$*" >>"$SYNC_EVENTS" 2>/dev/null || true
    fi
}

step() {
    SYNC_STEP=$1
    shift
    event "$SYNC_STEP" "$*"
    log "$*"
}

require_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (connect as root or as a user with passwordless sudo)"
}

# Serialise deploys on this host; the lock dies with the process, so a killed deploy never wedges it.
take_lock() {
    exec 9>"$SYNC_LOCK"
    if ! flock -w "$SYNC_LOCK_WAIT" 9; then
        die "another deploy holds $SYNC_LOCK (waited ${SYNC_LOCK_WAIT}s)"
    fi
}

# The interpreter mod_wsgi was built against; release venvs must use exactly this one.
wsgi_python() {
    local lib
    lib=$(ldd "$MOD_WSGI" 2>/dev/null | grep -o 'libpython3\.[0-9]*' | head -n1 || true)
    [[ -n $lib ]] || return 1
    printf '/usr/bin/%s\n' "${lib#lib}"
}

# Fails with a clear message when the platform can't run a release.
preflight() {
    [[ -r /etc/debian_version ]] || die "preflight: not a Debian host (no /etc/debian_version)"
    command -v apache2ctl >/dev/null || die "preflight: apache2 is not installed (apt-get install apache2)"
    [[ -f $MOD_WSGI ]] || die "preflight: mod_wsgi is not installed (apt-get install libapache2-mod-wsgi-py3)"
    command -v curl >/dev/null || die "preflight: curl is not installed (apt-get install curl)"
    local python
    python=$(wsgi_python) || die "preflight: cannot tell which Python $MOD_WSGI was built for"
    [[ -x $python ]] || die "preflight: mod_wsgi is built for $python, which is not installed"
    # -I: isolated, like the `-Im ensurepip` venv runs; a plain -c would also search the cwd.
    "$python" -I -c 'import ensurepip, venv' 2>/dev/null ||
        die "preflight: $python cannot create virtualenvs (apt-get install python3-venv)"
}

current_version() {
    local target
    target=$(readlink "$SYNC_ROOT/current" 2>/dev/null) || return 0
    basename "$target"
}

previous_version() {
    local target
    target=$(readlink "$SYNC_ROOT/previous" 2>/dev/null) || return 0
    basename "$target"
}

# Atomically point a link at releases/<version>: a new link under a temp name, then rename(2).
point_link() {
    local link=$1 version=$2 tmp
    tmp="$SYNC_ROOT/.$link.$$"
    ln -sfn "releases/$version" "$tmp"
    mv -T "$tmp" "$SYNC_ROOT/$link"
    sync "$SYNC_ROOT"
}

mark_deployed() {
    printf '%s\n' "$1" >"$SYNC_DEPLOYED.tmp"
    mv -f "$SYNC_DEPLOYED.tmp" "$SYNC_DEPLOYED"
}

# Apache's own config test, run once; on failure its last lines are left in APACHE_ERRORS.
APACHE_ERRORS=""
apache_config_valid() {
    local output
    if output=$(apache2ctl -t 2>&1); then
        return 0
    fi
    APACHE_ERRORS=$(tail -n 3 <<<"$output")
    return 1
}

site_enabled() {
    [[ -e /etc/apache2/sites-enabled/sync.conf ]]
}

apache_running() {
    pgrep -x apache2 >/dev/null
}

wsgi_daemon_pids() {
    pgrep -u "$SYNC_USER" -f '^\(wsgi:sync\)' || true
}

# Restart the app without dropping a request. `apachectl graceful` would kill mod_wsgi daemons
# mid-request, so each daemon gets SIGUSR1 instead: it stops taking requests, finishes the ones in
# flight (up to graceful-timeout) and exits; Apache starts a fresh one that loads the release
# `current` points at, while new requests wait on the daemon socket. One daemon at a time, so the
# others keep serving. Returns non-zero (never exits) so callers can switch back.
reload_app() {
    if ! apache_config_valid; then
        log "Apache config test failed; not reloading: $APACHE_ERRORS"
        return 1
    fi
    if ! apache_running; then
        apache2ctl start
        return
    fi
    local pids pid waited
    pids=$(wsgi_daemon_pids)
    if [[ -z $pids ]]; then
        apache2ctl graceful
        return
    fi
    for pid in $pids; do
        kill -USR1 "$pid" 2>/dev/null || continue
        waited=0
        while kill -0 "$pid" 2>/dev/null; do
            sleep 0.1
            waited=$((waited + 1))
            # graceful-timeout (30 s) plus margin, in tenths of a second
            if [[ $waited -ge 400 ]]; then
                log "wsgi daemon $pid did not restart within 40s"
                return 1
            fi
        done
    done
}

# Debian's python3-venv ships pip as a wheel. Unpacked once per host (under the lock) and shared by
# every release: a venv made --without-pip takes milliseconds, while seeding pip into each one
# (ensurepip) takes seconds. Prints the directory to run as `python <dir>/pip`.
shared_pip() {
    local python=$1 wheels dir
    wheels=(/usr/share/python-wheels/pip-*.whl)
    [[ ${#wheels[@]} -gt 0 ]] || die "preflight: no pip wheel in /usr/share/python-wheels (apt-get install python3-venv)"
    dir="$SYNC_ROOT/tools/$(basename "${wheels[-1]}" .whl)"
    if [[ ! -f $dir/.complete ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        "$python" -I -m zipfile -e "${wheels[-1]}" "$dir" 9>&-
        "$python" -I -m compileall -q "$dir" >/dev/null 9>&- || true
        touch "$dir/.complete"
    fi
    printf '%s\n' "$dir"
}

# The build requirements an sdist declares (PEP 518), installed from its wheelhouse once per host
# and shared by every release that declares the same ones: pip's build isolation would install
# them afresh for each release. Prints the directory, or nothing when the sdist declares none.
shared_build_env() {
    local python=$1 pip_dir=$2 sdist=$3 wheelhouse=$4 requires dir
    local -a requirements
    # Only reads one member of the tarball; nothing is extracted to disk.
    requires=$("$python" -I - "$sdist" 9>&- <<'PY'
import sys
import tarfile
import tomllib

with tarfile.open(sys.argv[1]) as sdist:
    top = sdist.getnames()[0].split("/")[0]
    try:
        member = sdist.extractfile(f"{top}/pyproject.toml")
    except KeyError:
        member = None
    requires = tomllib.load(member).get("build-system", {}).get("requires", []) if member else []
print("\n".join(sorted(requires)))
PY
    ) || return 0
    [[ -n $requires ]] || return 0
    dir="$SYNC_ROOT/tools/build-$(sha256sum <<<"$requires" | cut -c1-16)"
    if [[ ! -f $dir/.complete ]]; then
        rm -rf "$dir"
        mapfile -t requirements <<<"$requires"
        if ! "$python" "$pip_dir/pip" install --quiet --no-index --find-links "$wheelhouse" \
            --target "$dir" "${requirements[@]}" >&2 9>&-; then
            rm -rf "$dir"
            return 0
        fi
        touch "$dir/.complete"
    fi
    printf '%s\n' "$dir"
}

http_get() {
    curl -fsS --max-time 5 "$SYNC_HEALTH_URL$1"
}

# Wait until every daemon serves <version> and its heartbeat is healthy.
wait_serving() {
    local version=$1 deadline served=""
    deadline=$((SECONDS + SYNC_HEALTH_WAIT))
    while ((SECONDS < deadline)); do
        served=$(http_get /__version__ 2>/dev/null || true)
        if [[ $served == "$version" ]] && http_get /__heartbeat__ >/dev/null 2>&1; then
            # a second answer, most likely from the other daemon
            served=$(http_get /__version__ 2>/dev/null || true)
            [[ $served == "$version" ]] && return 0
        fi
        sleep 0.2
    done
    log "expected version $version, host serves '${served:-nothing}'"
    return 1
}
