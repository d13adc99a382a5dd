# shellcheck shell=bash
# The constants are used by the scripts that source lib.sh.
# shellcheck disable=SC2034
# The host layout the stack must know too, in one place: lib.sh sources this file, and
# components/remoteCommand.ts reads it (parseLayout). Only `readonly NAME=value` lines, comments and
# blank lines; a value is a plain or double-quoted word that may name an earlier one as $NAME.
readonly SYNC_ROOT=/var/sync
# The scripts, one directory per hash.
readonly SYNC_SCRIPTS="$SYNC_ROOT/scripts"
readonly SYNC_DIST="$SYNC_ROOT/dist"
# Where the stack uploads release bundles.
readonly SYNC_INCOMING="$SYNC_DIST/incoming"
