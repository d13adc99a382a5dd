# shellcheck shell=bash
# The constants are used by the scripts that source this file.
# shellcheck disable=SC2034
# Shared helpers for the sync-release remote scripts. The runtime step installs every script of
# components/remote/ on the host, content-addressed, under /var/sync/scripts/<hash>/; each step
# then runs `bash /var/sync/scripts/<hash>/<script>.sh 'arg'…`, and the script sources this file
# from its own directory.
set -euo pipefail
# A `$(…)` runs with `set -e` too: a failing step inside one is never silently ignored.
shopt -s inherit_errexit nullglob
umask 022
export LC_ALL=C

# This script's directory, absolute (install.sh changes to /): the Python helpers live beside it.
SYNC_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SYNC_SCRIPT_DIR
# SYNC_ROOT, SYNC_INCOMING, SYNC_VERSION_RE, …: the host contract the stack knows too.
# shellcheck source=components/remote/layout.sh
source "$SYNC_SCRIPT_DIR/layout.sh"
readonly SYNC_USER=sync
# Builds and import-checks releases. Never the app user: the app must not be able to change code
# that later deploys run. Owns nothing once a build is done (releases are root-owned).
readonly SYNC_BUILDER=sync-build
readonly SYNC_INI=/etc/sync.ini
readonly SYNC_SITE=/etc/apache2/sites-available/sync.conf
readonly SYNC_LOADER="$SYNC_ROOT/app.wsgi"
readonly SYNC_EVENTS="$SYNC_ROOT/events.log"
readonly SYNC_LOCK="$SYNC_ROOT/.deploy.lock"
# The version whose deploy last ran to the end (switch, reload and health check).
readonly SYNC_DEPLOYED="$SYNC_ROOT/.deployed"
# "<from> <to>" while a switch of `current` is not yet confirmed healthy ("none": no release).
readonly SYNC_SWITCHING="$SYNC_ROOT/.switching"
readonly SYNC_TOOLS="$SYNC_ROOT/tools"
readonly SYNC_HEALTH_URL=http://127.0.0.1
readonly MOD_WSGI=/usr/lib/apache2/modules/mod_wsgi.so
# How long a deploy waits for another one on the same host before giving up.
SYNC_LOCK_WAIT=${SYNC_LOCK_WAIT:-120}
# How long a reloaded host has to serve the expected version.
SYNC_HEALTH_WAIT=${SYNC_HEALTH_WAIT:-60}
# Consecutive definitive answers (the version serves but reports itself unhealthy, with a reason;
# or a freshly started daemon serves another version) after which a health check gives up early.
SYNC_HEALTH_GIVE_UP=${SYNC_HEALTH_GIVE_UP:-5}
# flock's exit status when it timed out waiting (no script of ours exits with it).
readonly LOCK_TIMEOUT_STATUS=75

SYNC_STEP=${SYNC_STEP:-setup}

log() {
    printf '[sync %s %s] %s\n' "$(hostname)" "$SYNC_STEP" "$*" >&2
}

# The message is one line, and the last one of the run: the one a failed step is reported by.
die() {
    local message=$*
    message=${message//$'\n'/ \/ }
    log "ERROR: $message"
    event failed "$message"
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

# Serialise deploys on this host. The lock is owned in one place: a flock(1) parent takes it and
# runs this script again as its child with the lock's descriptor closed (-o), so nothing the
# script starts (`apache2ctl start` leaves a daemon behind) can inherit the lock. The lock dies
# with the flock process: a killed deploy never wedges it.
#   usage, at the top of a script, once its arguments are checked: with_lock "$@"
with_lock() {
    if [[ ${SYNC_LOCKED:-} == 1 ]] && parent_holds_lock; then
        unset SYNC_LOCKED
        return 0
    fi
    [[ -d $SYNC_ROOT ]] || die "$SYNC_ROOT is missing; the runtime directory step must run first"
    if [[ ! -e $SYNC_LOCK ]]; then
        (umask 077 && : >>"$SYNC_LOCK")
    fi
    chmod 0600 "$SYNC_LOCK"
    local status=0
    SYNC_LOCKED=1 flock -o -E "$LOCK_TIMEOUT_STATUS" -w "$SYNC_LOCK_WAIT" "$SYNC_LOCK" bash "$0" "$@" || status=$?
    if [[ $status -eq $LOCK_TIMEOUT_STATUS ]]; then
        die "another deploy holds $SYNC_LOCK (waited ${SYNC_LOCK_WAIT}s)"
    fi
    exit "$status"
}

# Our parent is the flock(1) that holds the deploy lock.
parent_holds_lock() {
    local fd
    for fd in /proc/"$PPID"/fd/*; do
        if [[ $(readlink "$fd" 2>/dev/null || true) == "$SYNC_LOCK" ]]; then
            return 0
        fi
    done
    return 1
}

# The interpreter mod_wsgi was built against; release venvs must use exactly this one.
wsgi_python() {
    local lib
    lib=$(ldd "$MOD_WSGI" 2>/dev/null | grep -o 'libpython3\.[0-9]*' | head -n1 || true)
    [[ -n $lib ]] || return 1
    printf '/usr/bin/%s\n' "${lib#lib}"
}

# Fails with a clear message when the platform can't run a release. Sets PYTHON.
PYTHON=""
preflight() {
    [[ -r /etc/debian_version ]] || die "preflight: not a Debian host (no /etc/debian_version)"
    command -v apache2ctl >/dev/null || die "preflight: apache2 is not installed (apt-get install apache2)"
    [[ -f $MOD_WSGI ]] || die "preflight: mod_wsgi is not installed (apt-get install libapache2-mod-wsgi-py3)"
    command -v curl >/dev/null || die "preflight: curl is not installed (apt-get install curl)"
    command -v setpriv >/dev/null || die "preflight: setpriv is not installed (apt-get install util-linux)"
    PYTHON=$(wsgi_python) || die "preflight: cannot tell which Python $MOD_WSGI was built for"
    [[ -x $PYTHON ]] || die "preflight: mod_wsgi is built for $PYTHON, which is not installed"
    # -I: isolated, like the `-Im ensurepip` venv runs; a plain -c would also search the cwd.
    "$PYTHON" -I -c 'import ensurepip, venv' 2>/dev/null ||
        die "preflight: $PYTHON cannot create virtualenvs (apt-get install python3-venv)"
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

deployed_version() {
    cat "$SYNC_DEPLOYED" 2>/dev/null || true
}

# Atomically point a link at releases/<version>: a new link under a temp name, then rename(2).
point_link() {
    local link=$1 version=$2 tmp
    tmp="$SYNC_ROOT/.$link.$$"
    ln -sfn "releases/$version" "$tmp"
    mv -T "$tmp" "$SYNC_ROOT/$link"
    sync "$SYNC_ROOT"
}

# Write a small file atomically (temp + rename + fsync).
write_file() {
    local file=$1 content=$2
    printf '%s\n' "$content" >"$file.tmp"
    sync "$file.tmp"
    mv -f "$file.tmp" "$file"
    sync "$(dirname "$file")"
}

mark_deployed() {
    write_file "$SYNC_DEPLOYED" "$1"
}

# Apache's own config test, run once; on failure its last lines are left in APACHE_ERRORS.
APACHE_ERRORS=""
apache_config_valid() {
    local output
    if output=$(apache2ctl -t 2>&1); then
        return 0
    fi
    local -a lines
    mapfile -t lines < <(tail -n 3 <<<"$output")
    APACHE_ERRORS="${lines[*]}"
    return 1
}

# apache2ctl with nothing of ours attached (Apache detaches from the standard streams itself).
apache_ctl() {
    apache2ctl "$@" </dev/null >&2
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
# Sets RELOAD_FRESH=yes when every daemon that answers afterwards was started by this reload.
RELOAD_FRESH=""
reload_app() {
    RELOAD_FRESH=""
    if ! apache_config_valid; then
        log "Apache config test failed; not reloading: $APACHE_ERRORS"
        return 1
    fi
    if ! apache_running; then
        apache_ctl start || return 1
        RELOAD_FRESH=yes
        return 0
    fi
    local pids pid waited
    pids=$(wsgi_daemon_pids)
    if [[ -z $pids ]]; then
        apache_ctl graceful || return 1
        return 0
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
    RELOAD_FRESH=yes
}

# Debian's python3-venv ships pip as a wheel. Unpacked once per host (under the lock) and shared by
# every release: a venv made --without-pip takes milliseconds, while seeding pip into each one
# (ensurepip) takes seconds. Sets PIP_DIR, the directory to run as `python <dir>/pip`. Built in a
# temp dir and renamed into place, so a failure (a full disk) never leaves it marked complete.
PIP_DIR=""
shared_pip() {
    local python=$1 wheels dir tmp
    wheels=(/usr/share/python-wheels/pip-*.whl)
    [[ ${#wheels[@]} -gt 0 ]] || die "preflight: no pip wheel in /usr/share/python-wheels (apt-get install python3-venv)"
    dir="$SYNC_TOOLS/$(basename "${wheels[-1]}" .whl)"
    if [[ ! -f $dir/.complete ]]; then
        install -d -m 0755 "$SYNC_TOOLS"
        tmp=$(mktemp -d "$SYNC_TOOLS/.pip.XXXXXX")
        chmod 0755 "$tmp"
        if ! "$python" -I -m zipfile -e "${wheels[-1]}" "$tmp" >&2; then
            rm -rf "$tmp"
            die "could not unpack ${wheels[-1]} into $SYNC_TOOLS (disk full?); host unchanged"
        fi
        # Byte-compiling is an optimisation only; a failure leaves pip usable.
        "$python" -I -m compileall -q "$tmp" >/dev/null 2>&1 || true
        if ! touch "$tmp/.complete" || ! sync "$tmp"; then
            rm -rf "$tmp"
            die "could not complete $dir (disk full?); host unchanged"
        fi
        rm -rf "$dir"
        mv -T "$tmp" "$dir"
    fi
    PIP_DIR=$dir
}

# Run a command as the build user: no root, no app user, a clean environment, no new privileges.
# BUILD_HOME is its scratch directory (HOME and TMPDIR).
BUILD_HOME=""
as_builder() {
    setpriv --reuid="$SYNC_BUILDER" --regid="$SYNC_BUILDER" --clear-groups --no-new-privs \
        env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME="$BUILD_HOME" TMPDIR="$BUILD_HOME" \
        PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
        "$@" </dev/null
}

# Nothing the build user started may outlive a build (it could still write through an open file).
stop_builder_processes() {
    local tries=0
    while pgrep -u "$SYNC_BUILDER" >/dev/null; do
        pkill -KILL -u "$SYNC_BUILDER" || true
        tries=$((tries + 1))
        [[ $tries -lt 50 ]] || die "processes of $SYNC_BUILDER do not exit"
        sleep 0.1
    done
}

# Hand a tree the build user wrote over to root: no process of the builder left, owned by root,
# writable by root only, no set-id bits.
seal_tree() {
    stop_builder_processes
    chown -R root:root "$1"
    chmod -R go-w,ug-s "$1"
}

# The build requirements an sdist declares (PEP 518), installed from its wheelhouse once per host
# and shared by every release that declares the same ones: pip's build isolation would install
# them afresh for each release. Sets BUILD_ENV, or "" when the sdist declares none or they cannot
# be installed (the build then falls back to pip's build isolation).
BUILD_ENV=""
shared_build_env() {
    local python=$1 sdist=$2 wheelhouse=$3 requires dir tmp
    local -a requirements
    BUILD_ENV=""
    # Only reads one member of the tarball with the system Python; nothing is extracted or run.
    if ! requires=$("$python" -I "$SYNC_SCRIPT_DIR/build_requires.py" "$sdist"); then
        return 0
    fi
    [[ -n $requires ]] || return 0
    dir="$SYNC_TOOLS/build-$(sha256sum <<<"$requires" | cut -c1-16)"
    if [[ ! -f $dir/.complete ]]; then
        mapfile -t requirements <<<"$requires"
        tmp=$(mktemp -d "$SYNC_TOOLS/.build-env.XXXXXX")
        chmod 0755 "$tmp"
        chown "$SYNC_BUILDER:$SYNC_BUILDER" "$tmp"
        # `--`: a requirement is never read as an option (an entry "-r/path" stays a name).
        if ! as_builder "$python" "$PIP_DIR/pip" install --quiet --no-index --find-links "$wheelhouse" \
            --target "$tmp/env" -- "${requirements[@]}" >&2; then
            stop_builder_processes
            rm -rf "$tmp"
            log "the build requirements could not be installed from the wheelhouse; using pip's build isolation"
            return 0
        fi
        seal_tree "$tmp"
        touch "$tmp/env/.complete"
        sync "$tmp"
        rm -rf "$dir"
        mv -T "$tmp/env" "$dir"
        rm -rf "$tmp"
    fi
    BUILD_ENV=$dir
}

# One HTTP GET of the local site: sets PROBE_STATUS (000: no answer) and PROBE_BODY.
PROBE_STATUS=""
PROBE_BODY=""
probe() {
    local out
    out=$(curl -sS --max-time 5 -o - -w '\n%{http_code}' "$SYNC_HEALTH_URL$1" 2>/dev/null || true)
    PROBE_STATUS=${out##*$'\n'}
    PROBE_BODY=${out%$'\n'*}
    [[ $PROBE_STATUS =~ ^[0-9]{3}$ ]] || PROBE_STATUS=000
    [[ $out == *$'\n'* ]] || PROBE_BODY=""
}

# Printable characters only, at most $2 of them: what a host answers is quoted in messages.
printable() {
    local text=${1//[^[:print:]]/?}
    printf '%s' "${text:0:$2}"
}

# The version the host serves, or "" when it answers nothing usable.
served_version() {
    probe /__version__
    if [[ $PROBE_STATUS == 200 ]]; then
        printable "$PROBE_BODY" 64
    fi
}

# Wait until every daemon serves <version> and its heartbeat is healthy. Gives up early on a
# definitive answer: the version serves but its heartbeat reports a reason it is unhealthy, or
# (with fresh=yes: every daemon was started after the switch) another version is served. Leaves a
# description of what failed in HEALTH_REPORT.
HEALTH_REPORT=""
wait_serving() {
    local version=$1 fresh=${2:-} deadline served version_answer heartbeat reason
    local unhealthy=0 wrong=0
    deadline=$((SECONDS + SYNC_HEALTH_WAIT))
    HEALTH_REPORT=""
    while true; do
        probe /__version__
        served=""
        if [[ $PROBE_STATUS == 200 ]]; then
            served=$(printable "$PROBE_BODY" 64)
            version_answer="serves '$served'"
        elif [[ $PROBE_STATUS == 000 ]]; then
            version_answer="does not answer"
        else
            version_answer="answers HTTP $PROBE_STATUS to /__version__"
        fi
        probe /__heartbeat__
        reason=""
        if [[ $PROBE_BODY =~ \"reason\":\ *\"([^\"]*)\" ]]; then
            reason=$(printable "${BASH_REMATCH[1]}" 200)
        fi
        heartbeat="heartbeat HTTP $PROBE_STATUS"
        [[ -z $reason ]] || heartbeat+=": $reason"
        HEALTH_REPORT="host $version_answer, $heartbeat"
        if [[ $served == "$version" && $PROBE_STATUS == 200 ]]; then
            # a second answer, most likely from the other daemon
            if [[ $(served_version) == "$version" ]]; then
                return 0
            fi
        fi
        if [[ $served == "$version" && $PROBE_STATUS =~ ^[45] && -n $reason ]]; then
            unhealthy=$((unhealthy + 1))
        else
            unhealthy=0
        fi
        if [[ $fresh == yes && -n $served && $served != "$version" ]]; then
            wrong=$((wrong + 1))
        else
            wrong=0
        fi
        if ((unhealthy >= SYNC_HEALTH_GIVE_UP || wrong >= SYNC_HEALTH_GIVE_UP)); then
            log "expected version $version: $HEALTH_REPORT (the same answer $SYNC_HEALTH_GIVE_UP times in a row)"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            HEALTH_REPORT+=" (after ${SYNC_HEALTH_WAIT}s)"
            log "expected version $version: $HEALTH_REPORT"
            return 1
        fi
        sleep 0.3
    done
}

# A file a step writes (<new>, the sha256 <sha>) against the one it replaces (<target>), whose
# sha256 <applied-file> records once it was applied; <what> names it in the log. Prints "applied"
# (the same file, confirmed applied: nothing to do), "unconfirmed" (the same file, written but
# never confirmed applied: an interrupted run; apply it again) or "changed".
written_state() { # what new target applied-file sha
    local what=$1 new=$2 target=$3 applied_file=$4 sha=$5
    if ! cmp -s "$new" "$target"; then
        echo changed
    elif [[ $(cat "$applied_file" 2>/dev/null || true) == "$sha" ]]; then
        log "$what unchanged"
        echo applied
    else
        log "$what is written but was never confirmed applied (an interrupted run?): applying it"
        echo unconfirmed
    fi
}

# What replace_keeping_old replaced, in memory only (never a copy on disk: settings hold secrets).
REPLACED_OLD=""
REPLACED_HAD_OLD=""

# Rename <new> (finished: content, owner and mode; beside <target>) over <target>, keeping what
# <target> held for put_back: new settings or a new site are only confirmed by the reload after.
replace_keeping_old() { # new target
    local new=$1 target=$2
    if [[ -f $target ]]; then
        # `x`: keeps trailing newlines through the command substitution.
        REPLACED_OLD=$(cat "$target" && printf x)
        REPLACED_OLD=${REPLACED_OLD%x}
        REPLACED_HAD_OLD=yes
    fi
    mv -f "$new" "$target"
    sync "${target%/*}"
}

# Put back what replace_keeping_old replaced, through <tmp> (a free name beside <target>), with
# the owner and mode <target> has: a reader sees one file or the other, never a partial one. Written
# owner-only first: the old content may hold secrets.
put_back() { # tmp target
    local tmp=$1 target=$2
    (umask 077 && printf '%s' "$REPLACED_OLD" >"$tmp")
    chown --reference="$target" "$tmp"
    chmod --reference="$target" "$tmp"
    sync "$tmp"
    mv -f "$tmp" "$target"
    sync "${target%/*}"
}

# A site change, a new release or new settings go live by a reload. The first install enables the
# site; undo_first_install takes it away again when that install fails.
enable_site() {
    a2enmod -q wsgi >/dev/null
    a2ensite -q sync >/dev/null
    a2dissite -q 000-default >/dev/null 2>&1 || true
}

undo_first_install() {
    rm -f "$SYNC_ROOT/current"
    sync "$SYNC_ROOT"
    if site_enabled; then
        a2dissite -q sync >/dev/null || true
        apache_ctl graceful || true
    fi
}

# Reload the app and check that it serves <version> (the events say <reload-detail> and
# <health-detail>). Sets UNHEALTHY to why it does not ("" when it does).
UNHEALTHY=""
reload_and_check() { # version reload-detail health-detail
    local version=$1 reloaded=yes
    step reload "$2"
    reload_app || reloaded=""
    step health "$3"
    UNHEALTHY=""
    if [[ -z $reloaded ]]; then
        UNHEALTHY="the reload failed"
    elif ! wait_serving "$version" "$RELOAD_FRESH"; then
        UNHEALTHY=$HEALTH_REPORT
    fi
}

# The switch <from> -> <to> confirmed: `previous` is what served before (<from> "none": nothing
# did), the deploy is recorded, the switch record goes.
finish_switch() { # from to
    local from=$1 to=$2
    if [[ $from != none && $from != "$to" ]]; then
        point_link previous "$from"
    fi
    mark_deployed "$to"
    rm -f "$SYNC_SWITCHING"
}

# <failed> did not pass its health check: `current` back to <previous>, reloaded and recorded, the
# switch record gone. A previous release that is unhealthy too is logged, not fatal: it is still
# the better of the two.
switch_back() { # failed previous
    local failed=$1 previous=$2
    step rollback "$failed -> $previous"
    point_link current "$previous"
    reload_app || log "reloading $previous after switching back failed"
    wait_serving "$previous" "$RELOAD_FRESH" || log "previous release $previous is not healthy either: $HEALTH_REPORT"
    mark_deployed "$previous"
    rm -f "$SYNC_SWITCHING"
}

# A switch of `current` recorded in $SYNC_SWITCHING but never confirmed (the deploy was killed, or
# its session closed, between the switch and the end of its health check): finish it when the new
# release is healthy, switch back otherwise. Runs under the lock, before anything else changes.
recover_switch() {
    [[ -f $SYNC_SWITCHING ]] || return 0
    local from="" to="" rest="" now
    read -r from to rest <"$SYNC_SWITCHING" || true
    now=$(current_version)
    if [[ ! $from =~ $SYNC_VERSION_RE && $from != none ]] || [[ ! $to =~ $SYNC_VERSION_RE ]]; then
        log "ignoring an unreadable $SYNC_SWITCHING"
        rm -f "$SYNC_SWITCHING"
        return 0
    fi
    if [[ $now != "$to" ]]; then
        # The switch itself never happened, or it was already undone: nothing is unchecked.
        step recover "switch $from -> $to was interrupted before it took effect; current is ${now:-none}"
        if [[ -n $now && $(deployed_version) != "$now" ]]; then
            reload_app || true
        fi
        rm -f "$SYNC_SWITCHING"
        return 0
    fi
    step recover "finishing the interrupted switch $from -> $to"
    if [[ $(deployed_version) != "$to" ]]; then
        step reload "$to (finishing an interrupted deploy)"
        reload_app || true
    fi
    step health "$to (finishing an interrupted deploy)"
    if wait_serving "$to" "$RELOAD_FRESH"; then
        finish_switch "$from" "$to"
        step recover "$to is healthy; switch $from -> $to finished"
        return 0
    fi
    local why=$HEALTH_REPORT
    if [[ $from == none ]]; then
        step rollback "$to -> none"
        undo_first_install
        rm -f "$SYNC_SWITCHING"
        log "$to failed its health check ($why); no previous release to go back to"
        return 0
    fi
    switch_back "$to" "$from"
    step recover "$to failed its health check ($why); switched back to $from"
}
