# shellcheck shell=bash
# The activate step: make the host serve a release the stage step built.
#   usage: activate.sh <version> <sdist-sha256> <keep-releases> <wsgi-processes> <wsgi-threads>
# Under the host lock: finishes or undoes a switch an earlier run was cut off in; writes the WSGI
# loader and the Apache site (applied when they changed); then, unless the release is current
# already, switches `current` to it (recorded on disk first), reloads the app one daemon at a
# time, checks it serves the version and its heartbeat is healthy, and switches back when it does
# not. Keeps <keep> releases in PEP 440 order, never current or previous.
# stdout: one line, the version the host serves at the end of the run (read from the host);
# everything else goes to stderr, and a failure ends with the `die` message.
# shellcheck source=components/remote/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
# shellcheck source=components/remote/lib_serve.sh
source "$SYNC_SCRIPT_DIR/lib_serve.sh"
cd /

version=${1:-}
expected_sha=${2:-}
keep=${3:-}
processes=${4:-}
threads=${5:-}
# The stack validated these already; re-check because this script also runs by hand.
[[ $# -eq 5 ]] || die "usage: activate.sh <version> <sdist-sha256> <keep-releases> <wsgi-processes> <wsgi-threads>"
[[ $version =~ $SYNC_VERSION_RE ]] || die "bad version '$(printable "$version" 80)'"
[[ $expected_sha =~ ^[0-9a-f]{64}$ ]] || die "bad sdist sha256 '$expected_sha'"
[[ $keep =~ ^[0-9]{1,3}$ && $keep -ge 2 ]] || die "keep releases must be 2 or more, got '$keep'"
[[ $processes =~ $SYNC_WSGI_COUNT_RE && $threads =~ $SYNC_WSGI_COUNT_RE ]] || die "bad process/thread counts"

require_root
with_lock "$@"
SYNC_STEP=activate

# stdout: exactly one line, what the host serves now ("" when it answers nothing usable).
trap 'status=$?; printf "%s\n" "$(served_version)"; exit "$status"' EXIT
sweep_leftovers

PYTHON=$(wsgi_python) || die "cannot tell which Python $MOD_WSGI was built for"

# Keep <keep> recorded releases in PEP 440 order (1.10 > 1.9), never what current or previous
# resolves to, nor this version; trees without root's record go too (killed builds: we hold the
# lock, so no build runs; a process a killed build left behind may, and is killed first, so that
# nothing writes into what is removed). Each goes record first, then out of the way by one
# rename, then away.
prune() {
    local current previous olds old tree resolved keep_current keep_previous trash
    step prune "keep $keep"
    stop_builder_processes
    current=$(current_version)
    previous=$(previous_version)
    keep_current=$(link_target current)
    keep_previous=$(link_target previous)
    olds=$("$PYTHON" -I -S "$SYNC_SCRIPT_DIR/prune_order.py" "$SYNC_RELEASES" "$SYNC_BUILT" "$keep" "$current" "$previous") ||
        die "could not work out which releases to prune"
    while IFS= read -r old; do
        [[ -n $old && $old != "$version" && $old != "$current" && $old != "$previous" ]] || continue
        tree="$SYNC_RELEASES/$old"
        resolved=$(realpath -m -- "$tree")
        [[ $resolved != "$keep_current" && $resolved != "$keep_previous" ]] || continue
        log "pruning release $old"
        remove_record "$old"
        trash="$SYNC_RELEASES/.trash.$old.$$"
        mv -T "$tree" "$trash"
        rm -rf "$trash"
    done <<<"$olds"
    # Leftovers of killed runs (we hold the lock: none of them is in use).
    for old in "$SYNC_RELEASES"/.trash.* "$SYNC_DIST"/.extract.* "$SYNC_TOOLS"/.uv.* "$SYNC_TOOLS"/.home.* \
        "$SYNC_TOOLS"/.output.*; do
        rm -rf "$old"
    done
    # Records of releases that are gone.
    for old in "$SYNC_BUILT"/*; do
        [[ -d $SYNC_RELEASES/${old##*/} ]] || rm -f "$old"
    done
}

# Phase check, when the version is current already: make sure the host serves it. recover_switch
# reloaded it already if no deploy of it ever ran to the end.
confirm_current() {
    step check "$version is already current"
    if ! apache_running; then
        step reload "$version (Apache is not running)"
        reload_app || true
    fi
    if ! wait_serving "$version" "$RELOAD_FRESH"; then
        reload_app || true
        wait_serving "$version" "$RELOAD_FRESH" ||
            die "host does not serve $version although current points at it: $HEALTH_REPORT"
    fi
    mark_deployed "$version"
}

# Phase switch: point `current` at the release, the switch recorded on disk first and the record
# of the last confirmed deploy cleared, so a run cut off anywhere from here is finished or undone.
switch_release() {
    # A broken Apache config (anyone's) would make the reload fail after the switch: refuse first.
    if ! apache_config_valid; then
        die "Apache config test failed; not switching to $version: $APACHE_ERRORS"
    fi
    step switch "${before:-none} -> $version"
    write_file "$SYNC_SWITCHING" "${before:-none} $version" 0644
    clear_deployed
    point_link current "$version"
    if ! site_enabled; then
        enable_site
    fi
}

# Phase rollback: back to the previous release (or no release at all); ends the run as failed.
roll_back() {
    local why=$1
    if [[ -n $before ]]; then
        switch_back "$version" "$before" ||
            die "$version failed its health check ($why); not switching back to $before: $SWITCH_BACK_REFUSED; $version stays current"
        die "$version failed its health check ($why); switched back to $before"
    fi
    undo_first_install
    rm -f "$SYNC_SWITCHING"
    die "$version failed its health check ($why); no previous release to go back to"
}

before=""
main() {
    recover_switch
    apply_site "$processes" "$threads"
    SYNC_STEP=activate
    if ! release_is_staged "$version" "$expected_sha" "$PYTHON"; then
        [[ -z $RELEASE_PROBLEM ]] ||
            die "release $version is built but its tree fails the seal check ($RELEASE_PROBLEM): not switching to it; root's record kept"
        die "release $version is not staged on this host (no record of a finished, sealed build); its stage step must run first — replace it: pulumi up --target-replace <the server's -stage URN>"
    fi
    before=$(current_version)
    if [[ $before == "$version" ]]; then
        confirm_current
        prune
        step finished "$version (no change)"
        return 0
    fi
    switch_release
    # Phases reload and health.
    reload_and_check "$version" "$version" "$version"
    [[ -z $UNHEALTHY ]] || roll_back "$UNHEALTHY"
    finish_switch "${before:-none}" "$version"
    prune
    step finished "$version"
}

main
