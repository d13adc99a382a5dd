# shellcheck shell=bash
# The constants are used by the scripts that source this file.
# shellcheck disable=SC2034
# What every sync-release host script shares: strict mode, the host layout, logging and events,
# the deploy lock, small atomic writes, the `current`/`previous` links and root's records of the
# releases it built. The stage step (bootstrap.sh) installs every script of components/remote/ on
# the host, content-addressed, under /var/sync/scripts/<hash>/; each step then runs
# `bash /var/sync/scripts/<hash>/<script>.sh 'arg'…`, and the script sources this file (and the
# lib_*.sh of its phase) from its own directory.
set -euo pipefail
# A `$(…)` runs with `set -e` too: a failing step inside one is never silently ignored.
shopt -s inherit_errexit nullglob
umask 022
export LC_ALL=C

# This script's directory, absolute (the scripts change to /): the helpers live beside it.
SYNC_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SYNC_SCRIPT_DIR
# SYNC_ROOT, SYNC_RELEASES, SYNC_VERSION_RE, …: the host contract the stack knows too.
# shellcheck source=components/remote/layout.sh
source "$SYNC_SCRIPT_DIR/layout.sh"
readonly SYNC_USER=sync
# Builds and import-checks releases. Never the app user: the app must not be able to change code
# that later deploys run. Owns nothing once a build is done (releases are root-owned).
readonly SYNC_BUILDER=sync-build
readonly SYNC_EVENTS="$SYNC_ROOT/events.log"
readonly SYNC_LOCK="$SYNC_ROOT/.deploy.lock"
# "<from> <to>" while a switch of `current` is not yet confirmed healthy ("none": no release).
readonly SYNC_SWITCHING="$SYNC_ROOT/.switching"
readonly SYNC_HEALTH_URL=http://127.0.0.1
readonly MOD_WSGI=/usr/lib/apache2/modules/mod_wsgi.so
# How long a deploy waits for another one on the same host before giving up (seconds; checked
# below, once die exists).
SYNC_LOCK_WAIT=${SYNC_LOCK_WAIT:-120}
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
# tests and benchmarks read back from each host. Never readable by others, from its first line:
# a detail may quote the app (umask 027: whoever creates it, it is born 0640).
event() {
    local step=$1
    shift
    if [[ -d $SYNC_ROOT ]]; then
        (umask 027 && printf '%s %s %s\n' "$(date +%s.%N)" "$step" "$*" >>"$SYNC_EVENTS") 2>/dev/null || true
    fi
}

step() {
    SYNC_STEP=$1
    shift
    event "$SYNC_STEP" "$*"
    log "$*"
}

# A tunable from the environment, used in $(( )) or by flock: digits only (an arithmetic context
# would evaluate anything else, commands included), at least <min>.
require_count() { # name min
    local name=$1 value=${!1}
    [[ $value =~ ^[0-9]{1,6}$ && $value -ge $2 ]] ||
        die "$name must be a whole number from $2 up, got '$(printable "$value" 80)'"
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
    [[ -d $SYNC_ROOT ]] || die "$SYNC_ROOT is missing; the stage step must run first"
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

# Printable characters only, at most $2 of them: what a host answers is quoted in messages.
printable() {
    local text=${1//[^[:print:]]/?}
    printf '%s' "${text:0:$2}"
}
require_count SYNC_LOCK_WAIT 0

# The version a link (current, previous) names, "" when it is missing.
link_version() {
    local target
    target=$(readlink "$SYNC_ROOT/$1" 2>/dev/null) || return 0
    basename "$target"
}

current_version() {
    link_version current
}

previous_version() {
    link_version previous
}

# The release directory a link resolves to ("" when none): what must never be pruned or rebuilt.
link_target() {
    [[ -L $SYNC_ROOT/$1 ]] || return 0
    realpath -m -- "$SYNC_ROOT/$1"
}

# Atomically point a link at releases/<version>: a new link under a temp name, then rename(2).
point_link() {
    local link=$1 version=$2 tmp
    tmp="$SYNC_ROOT/.$link.$$"
    rm -f "$tmp"
    ln -sn "releases/$version" "$tmp"
    mv -T "$tmp" "$SYNC_ROOT/$link"
    sync "$SYNC_ROOT"
}

# Write a small file atomically, in a directory only root writes: a fresh temp name (mktemp
# creates it exclusively, so nothing planted under a known name is followed), fsync, rename(2),
# fsync of the directory. The file ends up 0600 unless a mode is given.
write_file() { # file content [mode]
    local file=$1 content=$2 mode=${3:-0600} tmp
    tmp=$(mktemp "${file%/*}/.${file##*/}.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    sync "$tmp"
    mv -f "$tmp" "$file"
    sync "${file%/*}"
}

# Every process of <user> killed, however many it starts. kill(-1) sent as that user reaches every
# process of the user in one pass: the kernel walks the process list under a lock that fork()
# needs too, so a fork-and-exit chain cannot slip past it the way it slips past a pgrep-then-kill
# loop. Signal first, then look: pgrep itself can miss such a chain (it reads /proc while the
# chain moves on to a new pid), so a loop that only signals what pgrep saw may signal nothing.
# `-KILL -- -1`: Debian 12's kill (procps-ng 4.0.2) rejects `-s KILL -- -1` with its usage text.
kill_all_of() { # user
    local user=$1 tries=0
    id -u "$user" >/dev/null 2>&1 || return 0
    while true; do
        setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups kill -KILL -- -1 2>/dev/null || true
        pgrep -u "$user" >/dev/null || return 0
        tries=$((tries + 1))
        [[ $tries -lt 50 ]] || die "processes of $user do not exit"
        sleep 0.1
    done
}

# Nothing the build user started may outlive a build, nor be running while root removes or seals
# what it wrote (it could still write through an open file or directory).
stop_builder_processes() {
    kill_all_of "$SYNC_BUILDER"
}

# Temp files of runs that were killed before they renamed them (we hold the lock: none is in use):
# write_file's and point_link's in /var/sync and .built (.<name>.XXXXXX, .<link>.<pid>), and the
# loader's. Settings-derived ones among them (.ini-applied.*) must not linger either. And the
# events log root-only, whoever created it.
sweep_leftovers() {
    local name
    for name in .deployed .switching .site-applied .ini-applied .app.wsgi .current .previous; do
        rm -f -- "$SYNC_ROOT/$name".*
    done
    [[ ! -d $SYNC_BUILT ]] || rm -f -- "$SYNC_BUILT"/.*.??????
    if [[ -f $SYNC_EVENTS && ! -L $SYNC_EVENTS ]]; then
        chown root:root "$SYNC_EVENTS"
        chmod 0640 "$SYNC_EVENTS"
    fi
}

# ---- Root's records of the releases it built ------------------------------------------------
# A release is staged when $SYNC_BUILT/<version> (root's, in a root-only directory) names the sdist
# it was built from and the tree is sealed: every file root's, nothing group- or world-writable,
# no set-id bit, no device or fifo, no file with a second hard link, and no symbolic link that
# leads outside the tree (the venv's bin/python* → the system interpreter aside). The build user
# can plant nothing that root later writes through, and nothing it left can be switched to.

# Prints what, whoever owns the tree, root must not seal (nothing when there is none): a file that
# is not a file, directory or link; a file with a second hard link (its other name is outside
# the tree, or could be: a chown or chmod of it would change that inode too); a link leading
# outside the tree. Checked before root changes any owner or mode in it.
tree_shape_problem() { # release-dir python
    local tree=$1 python=$2 interpreter found link target
    found=$(find "$tree" ! -type f ! -type d ! -type l -print -quit)
    [[ -z $found ]] || { echo "${found#"$tree"/} is not a file, directory or link"; return 0; }
    found=$(find "$tree" -type f -links +1 -print -quit)
    [[ -z $found ]] || { echo "${found#"$tree"/} has another hard link"; return 0; }
    interpreter=$(realpath -m -- "$python")
    while IFS= read -r -d '' link; do
        target=$(realpath -m -- "$link")
        [[ $target == "$tree"/* || $target == "$tree" ]] && continue
        [[ ${link#"$tree"/} =~ ^bin/python[0-9.]*$ && $target == "$interpreter" ]] && continue
        echo "${link#"$tree"/} links outside the release (to $(printable "$target" 120))"
        return 0
    done < <(find "$tree" -type l -print0)
}

# Prints the problem with a release tree, nothing when it is sealed.
tree_problem() { # release-dir python
    local tree=$1 python=$2 found
    if [[ ! -d $tree || -L $tree ]]; then
        echo "${tree##*/} is not a directory"
        return 0
    fi
    found=$(find "$tree" \( ! -user root -o ! -group root \) -print -quit)
    [[ -z $found ]] || { echo "${found#"$tree"/} is not root's"; return 0; }
    found=$(find "$tree" ! -type l -perm /6022 -print -quit)
    [[ -z $found ]] || { echo "${found#"$tree"/} is group/world-writable or set-id"; return 0; }
    tree_shape_problem "$tree" "$python"
}

# Root's record of <version>: the sdist sha256 it was built from, or "adopted" (see
# migrate_earlier_layout); "" when there is no trustworthy record.
record_of() {
    local record="$SYNC_BUILT/$1" line
    [[ -f $record && ! -L $record && $(stat -c %u "$record") == 0 ]] || return 0
    line=$(head -c 80 "$record" | head -n1)
    if [[ $line =~ ^[0-9a-f]{64}$ || $line == adopted ]]; then
        printf '%s\n' "$line"
    fi
    return 0
}

write_record() { # version sdist-sha256|adopted
    install -d -m 0700 -o root -g root "$SYNC_BUILT"
    write_file "$SYNC_BUILT/$1" "$2"
}

remove_record() {
    rm -f "${SYNC_BUILT:?}/$1"
    sync "$SYNC_BUILT" 2>/dev/null || true
}

# Once, on a host an earlier sync-release set up before root kept records (releases, but no
# record directory): the releases `current` and `previous` resolve to are recorded "adopted"
# when their trees are sealed. What makes them trustworthy is root's own links (root switched to
# each and served it) and the seal check; nothing inside a tree is read — the earlier layout's
# `.complete`/`.sdist-sha256` markers included: the build user could have written them. Every
# other release of that layout counts as unfinished: rebuilt when staged, pruned otherwise. An
# adopted record takes the sdist the stack names the first time that version is staged.
migrate_earlier_layout() { # python
    local python=$1 link target version problem
    [[ ! -e $SYNC_BUILT && ! -L $SYNC_BUILT && -d $SYNC_RELEASES ]] || return 0
    install -d -m 0700 -o root -g root "$SYNC_BUILT"
    for link in current previous; do
        target=$(link_target "$link")
        version=${target##*/}
        [[ -n $target && $target == "$SYNC_RELEASES/$version" && $version =~ $SYNC_VERSION_RE ]] || continue
        [[ -z $(record_of "$version") ]] || continue
        problem=$(tree_problem "$target" "$python")
        if [[ -n $problem ]]; then
            log "not adopting release $version ($link) of the earlier layout: $problem"
            continue
        fi
        write_record "$version" adopted
        log "adopted release $version ($link), built by an earlier sync-release"
    done
}

# Whether <version> may be served: root's record names the sdist with <sha256> (any sdist when
# <sha256> is "any", or when the record says "adopted") and its tree is sealed. A record naming
# another sdist is a re-cut release: refused, never rebuilt. Returns 1 otherwise, with
# RELEASE_PROBLEM empty when there is no record, else why the recorded tree is not usable — the
# record stays: whatever made the tree fail the check (say another hard link to one of its files,
# which any local user can make where fs.protected_hardlinks is 0) may go away again.
RELEASE_PROBLEM=""
release_is_staged() { # version sdist-sha256|any python
    local version=$1 sha=$2 python=$3 recorded
    RELEASE_PROBLEM=""
    recorded=$(record_of "$version")
    [[ -n $recorded ]] || return 1
    if [[ $sha != any && $recorded != adopted && $recorded != "$sha" ]]; then
        die "release $version on this host was built from sha256 $recorded, the stack has $sha: a re-cut release needs a new version"
    fi
    RELEASE_PROBLEM=$(tree_problem "$SYNC_RELEASES/$version" "$python")
    [[ -z $RELEASE_PROBLEM ]]
}

# Why root must not remove or rebuild releases/<version> ("" when nothing protects it): `current`
# or `previous` resolves to it, or a switch that is not yet confirmed ($SYNC_ROOT/.switching,
# lib_serve.sh) may still switch back or forward to it.
release_protection() { # version
    local resolved from="" to="" rest=""
    resolved=$(realpath -m -- "$SYNC_RELEASES/$1")
    if [[ $resolved == "$(link_target current)" || $resolved == "$(link_target previous)" ]]; then
        echo "what current or previous points at"
        return 0
    fi
    if [[ -f $SYNC_SWITCHING ]]; then
        read -r from to rest <"$SYNC_SWITCHING" || true
        if [[ $1 == "$from" || $1 == "$to" ]]; then
            echo "what an unfinished switch ($from -> $to) may switch to"
        fi
    fi
}
