# shellcheck shell=bash
# RuntimeDir: the isolated runtime directory for the Sync server on one host.
#   usage: runtime.sh <deploy-user> <wsgi-processes> <wsgi-threads>
# Creates the service user, /var/sync, the WSGI loader and the Apache site. Idempotent; the site is
# only enabled by the first install, once a release exists. Leaves the old site in place when the
# new one fails Apache's config test.
# shellcheck source=components/remote/lib.sh
[[ -n ${SYNC_ROOT:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deploy_user=${1:?deploy user}
processes=${2:?wsgi processes}
threads=${3:?wsgi threads}
[[ $deploy_user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "bad deploy user '$deploy_user'"
[[ $processes =~ ^[1-9][0-9]?$ && $threads =~ ^[1-9][0-9]?$ ]] || die "bad process/thread counts"

require_root
SYNC_STEP=preflight
# EC2 hosts install packages from cloud-init; wait for it (bounded by the caller's timeout).
if command -v cloud-init >/dev/null; then
    cloud-init status --wait >/dev/null 2>&1 || log "cloud-init reported an error; checking the platform anyway"
fi
preflight

SYNC_STEP=runtime
if ! getent group "$SYNC_USER" >/dev/null; then
    groupadd --system "$SYNC_USER"
fi
if ! getent passwd "$SYNC_USER" >/dev/null; then
    useradd --system --gid "$SYNC_USER" --home-dir "$SYNC_ROOT" --no-create-home --shell /usr/sbin/nologin "$SYNC_USER"
fi

install -d -m 0755 -o root -g root "$SYNC_ROOT" "$SYNC_ROOT/releases" "$SYNC_ROOT/dist"
# The deploy user uploads here over SFTP; everything is verified by sha256 before use.
install -d -m 0750 -o "$deploy_user" -g root "$SYNC_INCOMING"
touch "$SYNC_EVENTS" "$SYNC_LOCK"
chmod 0644 "$SYNC_EVENTS"
chmod 0600 "$SYNC_LOCK"
take_lock
step runtime "runtime directory ready"

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

site_tmp=$(mktemp /etc/apache2/.sync.conf.XXXXXX)
cat >"$site_tmp" <<CONF
# Written by sync-release. The Sync server under mod_wsgi daemon mode.
# python-home is the release in use; the loader pins each daemon to its own release.
# WSGIScriptReloading Off: only sync-release restarts daemons, by SIGUSR1 (graceful, drains).
WSGIScriptReloading Off
<VirtualHost *:80>
    ServerName sync.local
    WSGIDaemonProcess sync user=$SYNC_USER group=$SYNC_USER processes=$processes threads=$threads \\
        python-home=$SYNC_ROOT/current display-name=%{GROUP} \\
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

if cmp -s "$site_tmp" "$SYNC_SITE"; then
    rm -f "$site_tmp"
    log "Apache site unchanged"
    exit 0
fi

backup=""
if [[ -f $SYNC_SITE ]]; then
    backup=$(mktemp /etc/apache2/.sync.conf.prev.XXXXXX)
    cp -p "$SYNC_SITE" "$backup"
fi
mv -f "$site_tmp" "$SYNC_SITE"
a2enmod -q wsgi >/dev/null

if ! site_enabled; then
    log "Apache site written; the first install enables it"
    rm -f "$backup"
    exit 0
fi

if ! apache_config_valid; then
    if [[ -n $backup ]]; then
        mv -f "$backup" "$SYNC_SITE"
    fi
    die "new Apache site failed the config test; kept the old one: $APACHE_ERRORS"
fi
rm -f "$backup"
# A daemon-process change needs Apache itself to re-read its config.
apache2ctl graceful
step runtime "Apache site updated"
