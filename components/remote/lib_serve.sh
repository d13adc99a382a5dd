# shellcheck shell=bash
# The constants are used by activate.sh and ini.sh.
# shellcheck disable=SC2034
# The helpers of everything that changes what a host serves (activate.sh, ini.sh): Apache and its
# site, the draining reload, the health check, switching `current` and back, and finishing or
# undoing a switch that was cut off. Sourced after lib.sh.

readonly SYNC_INI=/etc/sync.ini
readonly SYNC_SITE=/etc/apache2/sites-available/sync.conf
readonly SYNC_LOADER="$SYNC_ROOT/app.wsgi"
# The version whose deploy last ran to the end (switch, reload and health check). Removed before
# anything live changes, so a run cut off midway is always reloaded and checked by the next one.
readonly SYNC_DEPLOYED="$SYNC_ROOT/.deployed"
# sha256 of the Apache site Apache last reloaded with.
readonly SYNC_SITE_APPLIED="$SYNC_ROOT/.site-applied"
# How long a mod_wsgi daemon may take to finish its requests after SIGUSR1, then to shut down.
# The site sets both; a reload waits for their sum (and a margin) per daemon.
readonly SYNC_WSGI_GRACEFUL_TIMEOUT=30
readonly SYNC_WSGI_SHUTDOWN_TIMEOUT=30
# How long a reloaded host has to serve the expected version (seconds).
SYNC_HEALTH_WAIT=${SYNC_HEALTH_WAIT:-60}
# Consecutive definitive answers (the version serves but reports itself unhealthy, with a reason;
# or a freshly started daemon serves another version) after which a health check gives up early.
SYNC_HEALTH_GIVE_UP=${SYNC_HEALTH_GIVE_UP:-5}
require_count SYNC_HEALTH_WAIT 1
require_count SYNC_HEALTH_GIVE_UP 1
# The most of an answer of the app root reads (/__version__, /__heartbeat__): a longer one counts
# as no usable answer.
readonly SYNC_PROBE_MAX=4096

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

# ---- The app user's processes ----------------------------------------------------------------
# Release code runs as the app user in the mod_wsgi daemons, and may start processes that call
# themselves anything, ignore every signal they can and keep files open (the settings among
# them). So a reload waits for nothing but the Apache master's own daemons — its children running
# as the app user: no other process can become a child of the master — and leaves nothing of the
# app user behind but the master's new daemons and their children.

# The Apache master: the oldest apache2 process running as root (its workers are www-data's).
apache_master() {
    pgrep -o -u root -x apache2 || true
}

app_uid() {
    id -u "$SYNC_USER"
}

# "<ppid> <real uid> <start time>" of a process, "" when it is gone. The start time (clock ticks
# since boot) tells a process from a later one that got its pid.
proc_identity() { # pid
    local stat rest uid
    local -a fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    uid=$(awk '$1 == "Uid:" { print $2; exit }' "/proc/$1/status" 2>/dev/null) || return 0
    # The name (field 2) is the process's own choice: the fields are counted after its last ')'.
    rest=${stat##*) }
    read -r -a fields <<<"$rest"
    [[ -n $uid && ${#fields[@]} -ge 20 ]] || return 0
    printf '%s %s %s\n' "${fields[1]}" "$uid" "${fields[19]}"
}

# The master's mod_wsgi daemons, "<pid> <start time>" a line.
wsgi_daemons() { # master
    local master=$1 uid pid ppid ruid identity
    uid=$(app_uid)
    while read -r pid ppid ruid; do
        [[ $ppid == "$master" && $ruid == "$uid" ]] || continue
        identity=$(proc_identity "$pid")
        [[ -z $identity ]] || printf '%s %s\n' "$pid" "${identity##* }"
    done < <(ps -e -o pid=,ppid=,ruid=)
}

# Whether <pid> is still the daemon of <master> that started at <start>: checked right before
# any signal to it, so a pid another process got since is never signalled.
is_daemon() { # pid start master
    [[ $(proc_identity "$1") == "$3 $(app_uid) $2" ]]
}

# A command run as the app user: what it signals can only be the app user's own processes.
as_app_user() {
    setpriv --reuid="$SYNC_USER" --regid="$(id -g "$SYNC_USER")" --clear-groups "$@"
}

# Leave nothing of the app user but the master's daemons and what runs below them (after a
# reload: the new generation). First every process of the app user is stopped in one pass
# (kill(-1) with SIGSTOP, sent as the app user: no fork slips past it, see kill_all_of), so the
# process tree read next holds still; every process of the app user that is neither a daemon of
# the master nor below one is killed (as the app user: a pid that went to another user's process
# is never hit); then the rest go on (SIGCONT). The daemons are held for a moment only: their
# requests wait, none fails.
contain_app_user() { # master
    local master=$1 uid tries=0 pid
    local -a strays left
    uid=$(app_uid)
    as_app_user kill -STOP -- -1 2>/dev/null || true
    mapfile -t strays < <(ps -e -o pid=,ppid=,ruid=,euid=,suid= | awk -v master="$master" -v uid="$uid" '
        { parent[$1] = $2; app[$1] = ($3 == uid || $4 == uid || $5 == uid) }
        END {
            for (pid in app) {
                if (!app[pid]) continue
                keep = 0
                depth = 0
                for (p = pid; (p in parent) && depth < 1000; p = parent[p]) {
                    depth++
                    if (parent[p] == master && app[p]) { keep = 1; break }
                }
                if (!keep) print pid
            }
        }')
    if ((${#strays[@]} > 0)); then
        log "killing ${#strays[@]} process(es) of $SYNC_USER that are not the app's daemons"
        as_app_user kill -KILL -- "${strays[@]}" 2>/dev/null || true
    fi
    as_app_user kill -CONT -- -1 2>/dev/null || true
    # Killed, they are gone within moments, and the files they held open (the settings) with them.
    while ((${#strays[@]} > 0 && tries < 50)); do
        left=()
        for pid in "${strays[@]}"; do
            [[ $(proc_identity "$pid") != *" $uid "* ]] || left+=("$pid")
        done
        strays=("${left[@]}")
        tries=$((tries + 1))
        ((${#strays[@]} == 0)) || sleep 0.1
    done
}

# Restart the app without dropping a request. `apachectl graceful` would kill mod_wsgi daemons
# mid-request, so each daemon gets SIGUSR1 instead: it stops taking requests, finishes the ones in
# flight (up to graceful-timeout), shuts down (up to shutdown-timeout) and exits; Apache starts a
# fresh one that loads the release `current` points at, while new requests wait on the daemon
# socket. One daemon at a time, so the others keep serving; a daemon still there after what the
# site allows it (release code can block the signal) is killed. Then nothing of the app user is
# left but the new daemons and their children (contain_app_user). With no daemon to drain (Apache
# stopped, or none started yet) nothing of the app user serves: all of it goes first. Returns
# non-zero (never exits) so callers can switch back. Sets RELOAD_FRESH=yes when every daemon that
# answers afterwards was started by this reload.
RELOAD_FRESH=""
reload_app() {
    RELOAD_FRESH=""
    if ! apache_config_valid; then
        log "Apache config test failed; not reloading: $APACHE_ERRORS"
        return 1
    fi
    if ! apache_running; then
        kill_all_of "$SYNC_USER"
        apache_ctl start || return 1
        RELOAD_FRESH=yes
        return 0
    fi
    local master daemons pid start waited limit
    # In tenths of a second: what the site allows a daemon, plus ten seconds.
    limit=$(((SYNC_WSGI_GRACEFUL_TIMEOUT + SYNC_WSGI_SHUTDOWN_TIMEOUT + 10) * 10))
    master=$(apache_master)
    daemons=$(wsgi_daemons "$master")
    if [[ -z $daemons ]]; then
        kill_all_of "$SYNC_USER"
        apache_ctl graceful || return 1
        return 0
    fi
    while read -r pid start; do
        is_daemon "$pid" "$start" "$master" || continue
        kill -USR1 "$pid" 2>/dev/null || continue
        waited=0
        while is_daemon "$pid" "$start" "$master"; do
            sleep 0.1
            waited=$((waited + 1))
            if ((waited == limit)); then
                log "wsgi daemon $pid did not restart within $((limit / 10))s: killing it"
                if is_daemon "$pid" "$start" "$master"; then
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            elif ((waited > limit + 100)); then
                log "wsgi daemon $pid does not exit even when killed"
                return 1
            fi
        done
    done <<<"$daemons"
    contain_app_user "$master"
    RELOAD_FRESH=yes
}

# One HTTP GET of the local site: sets PROBE_STATUS (000: no answer; "long": more than
# SYNC_PROBE_MAX bytes, of which no more is read) and PROBE_BODY. Root's curl reads no curlrc (-q)
# and takes no proxy from the environment (--noproxy '*'): it asks this host, and only it.
PROBE_STATUS=""
PROBE_BODY=""
probe() {
    local out
    out=$(curl -q -sS --noproxy '*' --max-time 5 -o - -w '\n%{http_code}' "$SYNC_HEALTH_URL$1" 2>/dev/null |
        head -c "$((SYNC_PROBE_MAX + 5))" | tr -d '\0' || true)
    if ((${#out} > SYNC_PROBE_MAX + 4)); then
        PROBE_STATUS=long
        PROBE_BODY=""
        return 0
    fi
    PROBE_STATUS=${out##*$'\n'}
    PROBE_BODY=${out%$'\n'*}
    [[ $PROBE_STATUS =~ ^[0-9]{3}$ ]] || PROBE_STATUS=000
    [[ $out == *$'\n'* ]] || PROBE_BODY=""
}

# The version the host serves, or "" when what it answers does not read as a version.
served_version() {
    probe /__version__
    if [[ $PROBE_STATUS == 200 && $PROBE_BODY =~ $SYNC_VERSION_RE ]]; then
        printf '%s\n' "$PROBE_BODY"
    fi
}

# Wait until every daemon serves <version> and its heartbeat is healthy. Gives up early on a
# definitive answer: the version serves but its heartbeat reports a reason it is unhealthy (or
# answers more than root reads), or
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
        elif [[ $PROBE_STATUS == long ]]; then
            version_answer="answers more than $SYNC_PROBE_MAX bytes to /__version__"
        else
            version_answer="answers HTTP $PROBE_STATUS to /__version__"
        fi
        probe /__heartbeat__
        reason=""
        if [[ $PROBE_BODY =~ \"reason\":\ *\"([^\"]*)\" ]]; then
            reason=$(printable "${BASH_REMATCH[1]}" 200)
        fi
        heartbeat="heartbeat HTTP $PROBE_STATUS"
        [[ $PROBE_STATUS != long ]] || heartbeat="heartbeat answers more than $SYNC_PROBE_MAX bytes"
        [[ -z $reason ]] || heartbeat+=": $reason"
        HEALTH_REPORT="host $version_answer, $heartbeat"
        if [[ $served == "$version" && $PROBE_STATUS == 200 ]]; then
            # a second answer, most likely from the other daemon
            if [[ $(served_version) == "$version" ]]; then
                return 0
            fi
        fi
        if [[ $served == "$version" && ($PROBE_STATUS =~ ^[45] && -n $reason || $PROBE_STATUS == long) ]]; then
            unhealthy=$((unhealthy + 1))
        else
            unhealthy=0
        fi
        if [[ $fresh == yes && -n $served && $served != "$version" ]]; then
            wrong=$((wrong + 1))
        else
            wrong=0
        fi
        # The report quotes the app: it goes to the events log (root-only) and to the caller's
        # final error line, never to another line of the step's output.
        if ((unhealthy >= SYNC_HEALTH_GIVE_UP || wrong >= SYNC_HEALTH_GIVE_UP)); then
            event unhealthy "expected version $version: $HEALTH_REPORT (the same answer $SYNC_HEALTH_GIVE_UP times in a row)"
            log "expected version $version: not healthy (the same answer $SYNC_HEALTH_GIVE_UP times in a row)"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            HEALTH_REPORT+=" (after ${SYNC_HEALTH_WAIT}s)"
            event unhealthy "expected version $version: $HEALTH_REPORT"
            log "expected version $version: not healthy after ${SYNC_HEALTH_WAIT}s"
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
# <applied-file> goes first: until the reload confirms the new file, no run may take it as applied.
replace_keeping_old() { # new target applied-file
    local new=$1 target=$2 applied_file=$3
    rm -f "$applied_file"
    sync "${applied_file%/*}"
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
# owner-only first: the old content may hold secrets. The applied record stays gone: the old file
# is live again only after a reload, which the caller (or the next run) does and checks.
put_back() { # tmp target
    local tmp=$1 target=$2
    (umask 077 && printf '%s' "$REPLACED_OLD" >"$tmp")
    chown --reference="$target" "$tmp"
    chmod --reference="$target" "$tmp"
    sync "$tmp"
    mv -f "$tmp" "$target"
    sync "${target%/*}"
}

# A site change, a new release or new settings go live by a reload. The first switch enables the
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

deployed_version() {
    cat "$SYNC_DEPLOYED" 2>/dev/null || true
}

mark_deployed() {
    write_file "$SYNC_DEPLOYED" "$1" 0644
}

# Before `current` changes or daemons restart: no record may say the old state was confirmed.
clear_deployed() {
    rm -f "$SYNC_DEPLOYED"
    sync "$SYNC_ROOT"
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
    sync "$SYNC_ROOT"
}

# <failed> did not pass its health check: `current` back to <previous>, reloaded and checked, the
# switch record gone. The deployed record is cleared before `current` moves and written only once
# <previous> answers healthy again: a switch-back cut off midway is reloaded and checked by the
# next run. A previous release that is unhealthy too is logged, not fatal: it is still the better
# of the two. <previous> must be staged like any release switched to (root's record, a sealed
# tree: time may have passed since it served, a run cut off among it); when it is not, nothing
# changes and this returns 1 with SWITCH_BACK_REFUSED saying why.
SWITCH_BACK_REFUSED=""
switch_back() { # failed previous
    local failed=$1 previous=$2
    SWITCH_BACK_REFUSED=""
    if ! release_is_staged "$previous" any "$PYTHON"; then
        SWITCH_BACK_REFUSED=${RELEASE_PROBLEM:-root has no record of a finished build of it}
        event rollback "not switching back to $previous: $SWITCH_BACK_REFUSED"
        return 1
    fi
    step rollback "$failed -> $previous"
    clear_deployed
    point_link current "$previous"
    rm -f "$SYNC_SWITCHING"
    sync "$SYNC_ROOT"
    if ! reload_app; then
        log "reloading $previous after switching back failed"
    elif wait_serving "$previous" "$RELOAD_FRESH"; then
        mark_deployed "$previous"
    else
        log "previous release $previous is not healthy either"
    fi
}

# Reload and check <version>, which `current` points at, when no record says a deploy of it ran to
# the end (a deploy, a switch-back or a settings reload was cut off). Logs, never fails.
settle_current() { # version why
    local version=$1
    [[ $(deployed_version) != "$version" ]] || return 0
    step reload "$version ($2)"
    reload_app || true
    step health "$version ($2)"
    if wait_serving "$version" "$RELOAD_FRESH"; then
        mark_deployed "$version"
    else
        log "$version is current but not healthy"
    fi
}

# A switch of `current` recorded in $SYNC_SWITCHING but never confirmed (the deploy was killed, or
# its session closed, between the switch and the end of its health check): finish it when the new
# release is healthy, switch back otherwise. Then, whatever `current` is, a deploy that never ran
# to the end is reloaded and checked. Runs under the lock, before anything else changes.
recover_switch() {
    local now
    if [[ -f $SYNC_SWITCHING ]]; then
        recover_recorded_switch
    fi
    now=$(current_version)
    if [[ -n $now ]] && site_enabled; then
        settle_current "$now" "finishing an interrupted deploy"
    fi
}

recover_recorded_switch() {
    local from="" to="" rest="" now
    read -r from to rest <"$SYNC_SWITCHING" || true
    now=$(current_version)
    if [[ ! $from =~ $SYNC_VERSION_RE && $from != none ]] || [[ ! $to =~ $SYNC_VERSION_RE ]]; then
        log "ignoring an unreadable $SYNC_SWITCHING"
        rm -f "$SYNC_SWITCHING"
        return 0
    fi
    if [[ $now != "$to" ]]; then
        # The switch itself never happened, or it was already undone: the caller settles `current`.
        step recover "switch $from -> $to was interrupted before it took effect; current is ${now:-none}"
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
    # What the app answered goes to the events log only (see wait_serving).
    local why=$HEALTH_REPORT
    if [[ $from == none ]]; then
        step rollback "$to -> none"
        undo_first_install
        rm -f "$SYNC_SWITCHING"
        event recover "$to failed its health check ($why); no previous release to go back to"
        log "$to failed its health check; no previous release to go back to"
        return 0
    fi
    if ! switch_back "$to" "$from"; then
        rm -f "$SYNC_SWITCHING"
        event recover "$to failed its health check ($why); not switching back to $from: $SWITCH_BACK_REFUSED; $to stays current"
        log "$to failed its health check; not switching back to $from: $SWITCH_BACK_REFUSED; $to stays current"
        return 0
    fi
    SYNC_STEP=recover
    event recover "$to failed its health check ($why); switched back to $from"
    log "$to failed its health check; switched back to $from"
}

# The WSGI loader and the Apache site (mod_wsgi daemon mode, <processes> × <threads>). Written
# when they differ; a changed site is applied (Apache's config test, then `apachectl graceful`)
# only when the site is enabled, else the first switch enables it. A site that fails the config
# test is put back. A site counts as applied once Apache passed its config test and reloaded with
# it: an interrupted run applies it again.
apply_site() { # processes threads
    local processes=$1 threads=$2 loader_tmp site_tmp site_sha state
    # The loader resolves `current` once, when a daemon process starts: a daemon keeps the release
    # it started with, even for modules it imports after a later switch.
    loader_tmp=$(mktemp "$SYNC_ROOT/.app.wsgi.XXXXXX")
    cat >"$loader_tmp" <<'PY'
# Written by sync-release. Pins this process to the release `current` points at now.
import os
import sys

_link = "/var/sync/current"
_release = os.path.realpath(_link)
sys.path[:] = [_release + p[len(_link):] if p == _link or p.startswith(_link + "/") else p for p in sys.path]
os.environ.setdefault("SYNC_INI", "/etc/sync.ini")

from weave.server.wsgi import application  # noqa: E402,F401
PY
    chmod 0644 "$loader_tmp"
    if cmp -s "$loader_tmp" "$SYNC_LOADER"; then
        rm -f "$loader_tmp"
    else
        # On disk before its name: a power cut never leaves an empty loader.
        sync "$loader_tmp"
        mv -f "$loader_tmp" "$SYNC_LOADER"
        sync "$SYNC_ROOT"
    fi

    # Temp files of killed runs (we hold the lock: none is in use).
    rm -f /etc/apache2/.sync.conf.*
    site_tmp=$(mktemp /etc/apache2/.sync.conf.XXXXXX)
    cat >"$site_tmp" <<CONF
# Written by sync-release. The Sync server under mod_wsgi daemon mode.
# python-home is the release in use; the loader pins each daemon to its own release. home= is the
# daemons' working directory: mod_wsgi would otherwise chdir to the account's home, which a
# system account may not have.
# WSGIScriptReloading Off: only sync-release restarts daemons, by SIGUSR1 (graceful, drains).
WSGIScriptReloading Off
<VirtualHost *:80>
    ServerName sync.local
    WSGIDaemonProcess sync user=$SYNC_USER group=$SYNC_USER processes=$processes threads=$threads \\
        python-home=$SYNC_ROOT/current home=$SYNC_ROOT display-name=%{GROUP} \\
        graceful-timeout=$SYNC_WSGI_GRACEFUL_TIMEOUT shutdown-timeout=$SYNC_WSGI_SHUTDOWN_TIMEOUT \\
        listen-backlog=500 socket-timeout=60
    WSGIProcessGroup sync
    WSGIApplicationGroup %{GLOBAL}
    WSGIScriptAlias / $SYNC_LOADER
    <Directory $SYNC_ROOT>
        <Files app.wsgi>
            Require all granted
        </Files>
    </Directory>
    ErrorLog \${APACHE_LOG_DIR}/sync-error.log
    CustomLog \${APACHE_LOG_DIR}/sync-access.log combined
</VirtualHost>
CONF
    chmod 0644 "$site_tmp"
    sync "$site_tmp"
    site_sha=$(sha256sum <"$site_tmp" | cut -d' ' -f1)

    state=$(written_state "Apache site" "$site_tmp" "$SYNC_SITE" "$SYNC_SITE_APPLIED" "$site_sha")
    if [[ $state == applied ]]; then
        rm -f "$site_tmp"
        return 0
    fi
    if [[ $state == changed ]]; then
        replace_keeping_old "$site_tmp" "$SYNC_SITE" "$SYNC_SITE_APPLIED"
    else
        rm -f "$site_tmp"
    fi
    a2enmod -q wsgi >/dev/null

    if ! site_enabled; then
        write_file "$SYNC_SITE_APPLIED" "$site_sha" 0644
        log "Apache site written; the first switch enables it"
        return 0
    fi
    if ! apache_config_valid; then
        if [[ -n $REPLACED_HAD_OLD ]]; then
            site_tmp=$(mktemp /etc/apache2/.sync.conf.XXXXXX)
            put_back "$site_tmp" "$SYNC_SITE"
            die "new Apache site failed the config test; kept the old one: $APACHE_ERRORS"
        fi
        die "the Apache site failed the config test: $APACHE_ERRORS"
    fi
    # A daemon-process change needs Apache itself to re-read its config.
    step site "Apache site updated"
    apache_ctl graceful
    write_file "$SYNC_SITE_APPLIED" "$site_sha" 0644
}
