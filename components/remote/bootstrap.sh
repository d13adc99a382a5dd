# shellcheck shell=bash
# Installs the host scripts of a release bundle and runs stage.sh from them. Run by the stage
# step's entry (components/remoteCommand.ts stageEntry) only once the whole bundle arrived in a
# file only root can reach and matched the sha256 the stack sent:
#   tar -xOf <bundle> scripts/bootstrap.sh | bash -s <bundle> <hash> <deploy-user> <version> \
#     <sdist-sha256> <bundle-sha256> <bundle-bytes>
# Under the deploy lock, installs the scripts the bundle carries under scripts/ at
# /var/sync/scripts/<hash>/ (root:root, dirs 0755, files 0644, `.complete` written last once they
# are on disk; unpacked in a temp dir beside it, their hash checked, then renamed into place), or
# re-checks the ones installed there already; then runs stage.sh from there on the bundle.
# <hash>: the first 16 hex digits of the sha256 of `sha256sum` over the files in name order, as
# components/hostScripts.ts computes it. Every other step then runs a short command,
# `bash /var/sync/scripts/<hash>/<script>.sh 'arg'…`.
set -euo pipefail
shopt -s nullglob
umask 022
export LC_ALL=C

boot_stage=""

boot_die() {
    printf '[sync %s stage] ERROR: %s\n' "$(hostname)" "$*" >&2
    [[ -z $boot_stage ]] || rm -rf "$boot_stage"
    exit 1
}

[[ $# -eq 7 ]] ||
    boot_die "usage: bootstrap.sh <bundle> <hash> <deploy-user> <version> <sdist-sha256> <bundle-sha256> <bundle-bytes>"
[[ $(id -u) -eq 0 ]] || boot_die "must run as root (connect as root or as a user with passwordless sudo)"
[[ $2 =~ ^[0-9a-f]{16}$ ]] || boot_die "bad scripts hash '$2'"
# The entry's own file: root's, not a link, checked against the stack's sha256 already.
[[ -f $1 && ! -L $1 && $(stat -c %u "$1") == 0 ]] || boot_die "$1 is not the bundle the stage received"
bundle=$(realpath -e -- "$1")
hash=$2
# SYNC_ROOT, SYNC_SCRIPTS, SYNC_BUNDLE_SCRIPTS: the layout travels in the bundle with the scripts.
layout=$(tar -xOf "$bundle" --occurrence scripts/layout.sh) || boot_die "$bundle carries no scripts/layout.sh"
# shellcheck source=components/remote/layout.sh
source <(printf '%s\n' "$layout")
target=$SYNC_SCRIPTS/$hash

# The hash of the scripts in a directory (their names and contents, as the stack computes it).
scripts_hash() {
    (cd "$1" && sha256sum -- * | sha256sum | cut -c1-16)
}

install -d -m 0755 -o root -g root "$SYNC_ROOT" "$SYNC_SCRIPTS"
# The deploy lock (lib.sh's SYNC_LOCK) while scripts are replaced: no deploy is reading them then.
# Released before stage.sh runs (it takes the lock itself); nothing started here inherits it.
exec 9>>"$SYNC_ROOT/.deploy.lock"
chmod 0600 "$SYNC_ROOT/.deploy.lock"
flock -w "${SYNC_LOCK_WAIT:-120}" 9 || boot_die "another deploy holds $SYNC_ROOT/.deploy.lock (waited ${SYNC_LOCK_WAIT:-120}s)"
# Installed and still what it was installed as (a power cut can leave files empty or short).
if [[ -f $target/.complete && $(scripts_hash "$target" 2>/dev/null || true) == "$hash" ]]; then
    touch "$target" # newest: kept by the pruning of old hashes
else
    boot_stage=$(mktemp -d "$SYNC_SCRIPTS/.new.XXXXXX")
    chmod 0755 "$boot_stage"
    # Only regular files named like a script, directly under scripts/.
    while IFS= read -r line; do
        [[ $line =~ ^-[rwx-]{9}\ .*\ $SYNC_BUNDLE_SCRIPTS/[a-z0-9_-]+\.(sh|py)$ ]] ||
            [[ $line != *" $SYNC_BUNDLE_SCRIPTS/"* ]] ||
            boot_die "$bundle holds an unexpected script member: ${line##* }"
    done < <(tar --list --verbose --quoting-style=escape -f "$bundle")
    tar -x --no-same-owner --no-same-permissions -f "$bundle" -C "$boot_stage" --strip-components=1 \
        --wildcards "$SYNC_BUNDLE_SCRIPTS/*" || boot_die "could not unpack the scripts from $bundle (disk full?)"
    [[ -f $boot_stage/stage.sh && -f $boot_stage/lib.sh ]] || boot_die "$bundle does not carry stage.sh and lib.sh"
    chmod 0644 "$boot_stage"/*
    actual=$(scripts_hash "$boot_stage") || boot_die "could not hash the scripts"
    [[ $actual == "$hash" ]] || boot_die "the scripts in $bundle have hash $actual, expected $hash"
    # The files reach the disk before the marker that says they are complete.
    { sync -f "$boot_stage" && : >"$boot_stage/.complete" && sync "$boot_stage"; } ||
        boot_die "could not complete the scripts (disk full?)"
    # A damaged copy goes out of the way by one rename, then away.
    if [[ -e $target ]]; then
        mv -T "$target" "$SYNC_SCRIPTS/.old.$hash.$$"
        rm -rf "$SYNC_SCRIPTS/.old.$hash.$$"
    fi
    mv -T "$boot_stage" "$target" || boot_die "could not move the scripts to $target"
    boot_stage=""
    sync "$SYNC_SCRIPTS"
fi
exec 9>&-
exec bash "$target/stage.sh" "$3" "$bundle" "$4" "$5" "$6" "$7" </dev/null
