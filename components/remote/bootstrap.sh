# shellcheck shell=bash
# The stage step's entry point, read from the release bundle itself:
#   bash -c 'set -o pipefail; tar -xOf "$1" --occurrence scripts/bootstrap.sh | bash -s "$@"' \
#     sync-stage <bundle> <hash> <deploy-user> <version> <sdist-sha256> <bundle-sha256>
# (components/remoteCommand.ts renders it). Installs the scripts the bundle carries under
# scripts/ at /var/sync/scripts/<hash>/ (root:root, dirs 0755, files 0644, `.complete` written
# last once they are on disk; unpacked in a temp dir beside it, their hash checked, then renamed
# into place), or re-checks the ones installed there already, then runs stage.sh from there.
# <hash>: the first 16 hex digits of the sha256 of `sha256sum` over the files in name order, as
# components/remoteCommand.ts computes it. Every other step then runs a short command,
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

[[ $# -eq 6 ]] ||
    boot_die "usage: bootstrap.sh <bundle> <hash> <deploy-user> <version> <sdist-sha256> <bundle-sha256>"
[[ $(id -u) -eq 0 ]] || boot_die "must run as root (connect as root or as a user with passwordless sudo)"
[[ $2 =~ ^[0-9a-f]{16}$ ]] || boot_die "bad scripts hash '$2'"
[[ -f $1 ]] || boot_die "$1 was not uploaded"
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
    rm -rf "$target"
    if ! mv -T "$boot_stage" "$target" 2>/dev/null; then
        # Another bootstrap of the same scripts won the race; theirs are identical.
        [[ -f $target/.complete ]] || boot_die "could not move the scripts to $target"
        rm -rf "$boot_stage"
    fi
    boot_stage=""
    sync "$SYNC_SCRIPTS"
fi
exec bash "$target/stage.sh" "$3" "$bundle" "$4" "$5" "$6" </dev/null
