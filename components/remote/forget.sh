# shellcheck shell=bash
# ReleaseInstall's delete: drop the uploaded files of a release the stack no longer declares.
#   usage: forget.sh <version>
# Runs after the replacement is live (replace is create-before-delete), so it must never touch
# `current`, `previous` or any built release: those are pruned by install.sh, which knows the order.
# shellcheck source=components/remote/lib.sh
[[ -n ${SYNC_ROOT:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=${1:?version}
[[ $version =~ ^[0-9][0-9a-z.]{0,63}$ ]] || die "bad version '$version'"
require_root
[[ -d $SYNC_ROOT ]] || exit 0
take_lock
SYNC_STEP=forget
if [[ $version == "$(current_version)" || $version == "$(previous_version)" ]]; then
    log "$version is still in use; keeping its upload"
    exit 0
fi
rm -rf "$SYNC_INCOMING/WeaveServer-$version.tar.gz" "$SYNC_INCOMING/wheelhouse-$version"
step forget "$version"
