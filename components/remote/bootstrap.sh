# shellcheck shell=bash
# The runtime step's program, read by `bash -s sync-runtime <hash> <deploy-user> <processes>
# <threads>` from stdin. layout.sh comes first (SYNC_ROOT, SYNC_SCRIPTS), then this file; then, for
# every script of components/remote/,
# `sync_put <name> <<'SYNC_EOF_<hash>'` with the file as a quoted here-document; then
# `sync_finish "$@"`. Together they install the scripts content-addressed at
# /var/sync/scripts/<hash>/ (root:root, dirs 0755, files 0644, `.complete` written last; built in a
# temp dir beside it, its hash checked, then renamed into place) and run runtime.sh from there.
# <hash>: the first 16 hex digits of the sha256 of `sha256sum` over the files in name order, as
# components/remoteCommand.ts computes it. Every other step then runs a short command,
# `bash /var/sync/scripts/<hash>/<script>.sh 'arg'…`.
set -euo pipefail
# SYNC_ROOT and SYNC_SCRIPTS come from layout.sh, which the program carries before this file.
shopt -s nullglob
umask 022
export LC_ALL=C

sync_stage=""

sync_die() {
    printf '[sync %s runtime] ERROR: %s\n' "$(hostname)" "$*" >&2
    [[ -z $sync_stage ]] || rm -rf "$sync_stage"
    exit 1
}

[[ $# -eq 5 && $1 == sync-runtime ]] ||
    sync_die "usage: bash -s sync-runtime <hash> <deploy-user> <processes> <threads> <program"
[[ $2 =~ ^[0-9a-f]{16}$ ]] || sync_die "bad scripts hash '$2'"
[[ $(id -u) -eq 0 ]] || sync_die "must run as root (connect as root or as a user with passwordless sudo)"
install -d -m 0755 -o root -g root "$SYNC_ROOT" "$SYNC_SCRIPTS"
sync_stage=$(mktemp -d "$SYNC_SCRIPTS/.new.XXXXXX")
chmod 0755 "$sync_stage"

# One script, from the here-document on stdin.
sync_put() {
    [[ $1 =~ ^[a-z0-9_-]+\.(sh|py)$ ]] || sync_die "bad script name '$1'"
    cat >"$sync_stage/$1" || sync_die "could not write $1 (disk full?)"
    chmod 0644 "$sync_stage/$1"
}

# Check the hash, move the scripts into place, run runtime.sh from there.
sync_finish() {
    local hash=$2 target actual
    target=$SYNC_SCRIPTS/$hash
    [[ -f $sync_stage/runtime.sh && -f $sync_stage/lib.sh ]] || sync_die "the program did not carry runtime.sh and lib.sh"
    actual=$(cd "$sync_stage" && sha256sum -- * | sha256sum | cut -c1-16) || sync_die "could not hash the scripts"
    [[ $actual == "$hash" ]] || sync_die "the scripts arrived with hash $actual, expected $hash"
    if [[ -f $target/.complete ]]; then
        rm -rf "$sync_stage"
        touch "$target" # newest: kept by the pruning of old hashes
    else
        { : >"$sync_stage/.complete" && sync "$sync_stage"; } || sync_die "could not complete the scripts (disk full?)"
        rm -rf "$target"
        if ! mv -T "$sync_stage" "$target" 2>/dev/null; then
            # Another bootstrap of the same scripts won the race; theirs are identical.
            [[ -f $target/.complete ]] || sync_die "could not move the scripts to $target"
            rm -rf "$sync_stage"
        fi
        sync "$SYNC_SCRIPTS"
    fi
    sync_stage=""
    exec bash "$target/runtime.sh" "$3" "$4" "$5" </dev/null
}
