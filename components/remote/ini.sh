# shellcheck shell=bash
# SyncIni: replace /etc/sync.ini atomically and reload the app.
#   usage: ini.sh        stdin: the complete file
# The content arrives on stdin only, never in a command line. The file is written to a temp
# file in /etc (mktemp: 0600 whatever the umask), given its final owner and mode, then renamed
# over the old one, so a reader sees the old file or the new one, never a partial one.
# shellcheck source=components/remote/lib.sh
[[ -n ${SYNC_ROOT:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
if [[ ! -d $SYNC_ROOT ]] || ! getent group "$SYNC_USER" >/dev/null; then
    die "$SYNC_ROOT or group $SYNC_USER is missing; the runtime directory step must run first"
fi
take_lock
SYNC_STEP=ini

tmp=$(mktemp /etc/.sync.ini.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
[[ -s $tmp ]] || die "refusing to write an empty $SYNC_INI"
chown "root:$SYNC_USER" "$tmp"
chmod 0640 "$tmp"
sync "$tmp"

if cmp -s "$tmp" "$SYNC_INI"; then
    log "$SYNC_INI unchanged"
    exit 0
fi

# The new settings take effect by a reload; with a broken Apache config that reload is refused,
# so refuse before replacing the file rather than leave settings written but not applied.
if [[ -n $(current_version) ]] && site_enabled && ! apache_config_valid; then
    die "Apache config test failed; $SYNC_INI left unchanged: $APACHE_ERRORS"
fi

backup=""
if [[ -f $SYNC_INI ]]; then
    backup=$(mktemp /etc/.sync.ini.prev.XXXXXX)
    cp -p "$SYNC_INI" "$backup"
fi
mv -f "$tmp" "$SYNC_INI"
sync /etc
step ini "written"

version=$(current_version)
if [[ -z $version ]] || ! site_enabled; then
    rm -f "$backup"
    log "no release is serving yet; the first install picks the settings up"
    exit 0
fi

step reload "settings changed"
reloaded=yes
reload_app || reloaded=""
if [[ -z $reloaded ]] || ! wait_serving "$version"; then
    if [[ -n $backup ]]; then
        mv -f "$backup" "$SYNC_INI"
        reload_app || log "reloading with the restored settings failed"
    fi
    die "$version is unhealthy with the new settings; restored the previous $SYNC_INI"
fi
rm -f "$backup"
step finished "settings applied"
