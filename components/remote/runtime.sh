# shellcheck shell=bash
# RuntimeDir: the isolated runtime directory for the Sync server on one host.
#   usage: runtime.sh <deploy-user> <wsgi-processes> <wsgi-threads>
# Run by bootstrap.sh once it installed the scripts under /var/sync/scripts/<hash>/. Creates the
# service and build users, /var/sync, the WSGI loader and the Apache site; prunes old script
# hashes. Idempotent; the site is only enabled by the first install, once a release exists. Leaves
# the old site in place when the new one fails Apache's config test. A site counts as applied once
# Apache passed its config test and reloaded with it: an interrupted run applies it again.
# shellcheck source=components/remote/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
cd /

# sha256 of the Apache site Apache last reloaded with.
readonly SYNC_SITE_APPLIED="$SYNC_ROOT/.site-applied"
# Script hashes kept besides the one running (older stacks' steps may still name them).
readonly KEEP_SCRIPT_HASHES=3

deploy_user=${1:-}
processes=${2:-}
threads=${3:-}
[[ $# -eq 3 ]] || die "usage: runtime.sh <deploy-user> <wsgi-processes> <wsgi-threads>"
[[ $deploy_user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "bad deploy user '$deploy_user'"
[[ $processes =~ $SYNC_WSGI_COUNT_RE && $threads =~ $SYNC_WSGI_COUNT_RE ]] || die "bad process/thread counts"

require_root
install -d -m 0755 -o root -g root "$SYNC_ROOT"
with_lock "$@"

SYNC_STEP=preflight
# EC2 hosts install packages from cloud-init; wait for it (bounded by the caller's timeout).
if command -v cloud-init >/dev/null; then
    cloud-init status --wait >/dev/null 2>&1 || log "cloud-init reported an error; checking the platform anyway"
fi
preflight

SYNC_STEP=runtime
ensure_users
install -d -m 0755 -o root -g root "$SYNC_ROOT/releases" "$SYNC_DIST" "$SYNC_TOOLS"
# The deploy user uploads here over SFTP; everything is verified by sha256 before use.
install -d -m 0750 -o "$deploy_user" -g root "$SYNC_INCOMING"
# Uploads of an earlier deploy user (a switch from root to `deploy`, say) are overwritten by SFTP.
find "$SYNC_INCOMING" -mindepth 1 -maxdepth 1 ! -user "$deploy_user" -exec chown -h "$deploy_user:root" {} +
touch "$SYNC_EVENTS"
chmod 0644 "$SYNC_EVENTS"
step runtime "runtime directory ready"

# Keep the newest few script hashes besides our own (never the one running).
prune_scripts() {
    local own dir kept=0
    own=$(cd "${BASH_SOURCE[0]%/*}" && pwd -P)
    [[ ${own%/*} == "$SYNC_SCRIPTS" ]] || return 0
    while IFS= read -r dir; do
        [[ -n $dir && $dir != "$own" ]] || continue
        if ((kept < KEEP_SCRIPT_HASHES)); then
            kept=$((kept + 1))
            continue
        fi
        log "pruning scripts ${dir##*/}"
        rm -rf "$dir"
    done < <(find "$SYNC_SCRIPTS" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]*' -printf '%T@ %p\n' |
        sort -rn | cut -d' ' -f2-)
    # Staging directories of bootstraps that were killed (an hour old: none is still running).
    find "$SYNC_SCRIPTS" -mindepth 1 -maxdepth 1 -type d -name '.new.*' -mmin +60 -exec rm -rf {} +
}
prune_scripts

# The loader resolves `current` once, when a daemon process starts: a daemon keeps the release it
# started with, even for modules it imports after a later switch.
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
mv -f "$loader_tmp" "$SYNC_LOADER"

# Temp files of killed runs (we hold the lock: none is in use).
rm -f /etc/apache2/.sync.conf.*
site_tmp=$(mktemp /etc/apache2/.sync.conf.XXXXXX)
trap 'rm -f "$site_tmp"' EXIT
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
        graceful-timeout=30 shutdown-timeout=30 listen-backlog=500 socket-timeout=60
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
[[ $state != applied ]] || exit 0
[[ $state == unconfirmed ]] || replace_keeping_old "$site_tmp" "$SYNC_SITE"
a2enmod -q wsgi >/dev/null

if ! site_enabled; then
    write_file "$SYNC_SITE_APPLIED" "$site_sha"
    log "Apache site written; the first install enables it"
    exit 0
fi

if ! apache_config_valid; then
    if [[ -n $REPLACED_HAD_OLD ]]; then
        put_back "$site_tmp" "$SYNC_SITE"
        die "new Apache site failed the config test; kept the old one: $APACHE_ERRORS"
    fi
    die "the Apache site failed the config test: $APACHE_ERRORS"
fi
# A daemon-process change needs Apache itself to re-read its config.
apache_ctl graceful
write_file "$SYNC_SITE_APPLIED" "$site_sha"
step runtime "Apache site updated"
