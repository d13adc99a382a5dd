# shellcheck shell=bash
# SyncIni: replace /etc/sync.ini atomically and reload the app.
#   usage: ini.sh        stdin: the complete file, then the line `# sync-release end <bytes> <sha256>`
# The content arrives on stdin only, never in a command line, followed by a line giving its length
# and sha256: a stream cut short is refused, never installed. The file is written to a temp
# file in /etc (mktemp: 0600 whatever the umask), given its final owner and mode, then renamed
# over the old one, so a reader sees the old file or the new one, never a partial one. The
# previous settings are kept in memory only (to restore them when the new ones make the app
# unhealthy): no copy of them is ever left on disk. Settings count as applied once the app passed
# its health check with them; until then (an interrupted run) the same content is applied again.
# shellcheck source=components/remote/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
# shellcheck source=components/remote/lib_serve.sh
source "$SYNC_SCRIPT_DIR/lib_serve.sh"
cd /

# sha256 of the settings the app last passed its health check with (0600: derived from secrets).
readonly SYNC_INI_APPLIED="$SYNC_ROOT/.ini-applied"

[[ $# -eq 0 ]] || die "usage: ini.sh (the complete file on stdin)"
require_root
if [[ ! -d $SYNC_ROOT ]] || ! getent group "$SYNC_USER" >/dev/null; then
    die "$SYNC_ROOT or group $SYNC_USER is missing; the stage step must run first"
fi
with_lock "$@"
SYNC_STEP=ini
sweep_leftovers
# A switch back (recover_switch) checks the release it goes to, as the stage built it for this Python.
PYTHON=$(wsgi_python) || die "cannot tell which Python $MOD_WSGI was built for"

# Leftovers of killed runs (temp files, and the backups earlier versions kept) hold settings,
# secrets included: none may survive. We hold the lock, so none of them is in use.
rm -f /etc/.sync.ini.*

received=$(mktemp /etc/.sync.ini.XXXXXX)
tmp=$(mktemp /etc/.sync.ini.XXXXXX)
trap 'rm -f "$tmp" "$received"' EXIT
cat >"$received"
trailer=$(tail -n 1 "$received")
[[ $trailer =~ ^#\ sync-release\ end\ ([0-9]{1,9})\ ([0-9a-f]{64})$ ]] ||
    die "the settings arrived without their end line (cut short?); $SYNC_INI left unchanged"
length=${BASH_REMATCH[1]}
content_sha=${BASH_REMATCH[2]}
[[ $(stat -c %s "$received") -eq $((length + ${#trailer} + 1)) ]] ||
    die "the settings arrived with another length than their end line says (cut short?); $SYNC_INI left unchanged"
head -c "$length" "$received" >"$tmp"
rm -f "$received"
[[ $(sha256sum <"$tmp" | cut -d' ' -f1) == "$content_sha" ]] ||
    die "the settings arrived with another sha256 than their end line says; $SYNC_INI left unchanged"
[[ -s $tmp ]] || die "refusing to write an empty $SYNC_INI"
chown "root:$SYNC_USER" "$tmp"
chmod 0640 "$tmp"
sync "$tmp"
new_sha=$(sha256sum <"$tmp" | cut -d' ' -f1)

mark_applied() {
    (umask 077 && write_file "$SYNC_INI_APPLIED" "$1")
}

# A release switch cut off before its health check is finished or undone first.
recover_switch

state=$(written_state "$SYNC_INI" "$tmp" "$SYNC_INI" "$SYNC_INI_APPLIED" "$new_sha")
[[ $state != applied ]] || exit 0
if [[ $state == changed ]]; then
    # The new settings take effect by a reload; with a broken Apache config that reload is refused,
    # so refuse before replacing the file rather than leave settings written but not applied.
    if [[ -n $(current_version) ]] && site_enabled && ! apache_config_valid; then
        die "Apache config test failed; $SYNC_INI left unchanged: $APACHE_ERRORS"
    fi
    replace_keeping_old "$tmp" "$SYNC_INI" "$SYNC_INI_APPLIED"
    step ini "written"
fi

version=$(current_version)
if [[ $state == unconfirmed ]]; then
    # The file is live on disk but the daemons may run with other settings: reload and check.
    rm -f "$SYNC_INI_APPLIED"
fi
if [[ -z $version ]] || ! site_enabled; then
    mark_applied "$new_sha"
    log "no release is serving yet; the first install picks the settings up (and checks them)"
    exit 0
fi

reload_and_check "$version" "settings changed" "$version (settings changed)"
if [[ -n $UNHEALTHY ]]; then
    if [[ -n $REPLACED_HAD_OLD ]]; then
        # $tmp is free again: replace_keeping_old renamed it over $SYNC_INI.
        put_back "$tmp" "$SYNC_INI"
        reload_app || log "reloading with the restored settings failed"
        die "$version is unhealthy with the new settings ($UNHEALTHY); restored the previous $SYNC_INI"
    fi
    die "$version is unhealthy with these settings ($UNHEALTHY); there are no earlier settings to restore"
fi
mark_applied "$new_sha"
step finished "settings applied"
