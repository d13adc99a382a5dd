#!/usr/bin/env bash
# The process sync-release replaces, reproduced for benchmarks: copy the sdist and the
# wheelhouse to the host, `pip install` into ONE live venv (in place), restart Apache. No lock, no
# health check, no rollback: a failed install leaves a half-upgraded live venv, and the
# restart drops in-flight requests. Do not use it for anything but comparisons.
#
# Usage:
#   scripts/old-deploy.sh --ssh "ssh -i KEY -o UserKnownHostsFile=F root@HOST" \
#       --tarball DIR/WeaveServer-1.1.4.tar.gz --wheelhouse DIR/wheelhouse \
#       [--graceful] [--python python3.11] [--init-apache PORT]
#
#   --ssh CMD        ssh command line up to and including the destination (split on
#                    whitespace: options must not contain spaces); it gets one remote
#                    command string as its last argument and data on stdin, so
#                    `--ssh "chroot ROOT bash -c"` works too (used by the self-test)
#   --graceful       `apachectl graceful` instead of `apachectl restart`
#   --python PY      interpreter for the live venv (default python3.11: mod_wsgi's)
#   --init-apache P  once: write /var/sync/live.wsgi and an Apache site `sync-old` serving
#                    /var/sync/live on port P (mod_wsgi daemon mode), enable it
#
# On the host: /var/sync/shared/ gets the tarball and wheelhouse/ (the "shared folder"),
# /var/sync/live is the venv (created if missing).
set -euo pipefail

usage() {
  sed -n '/^# Usage:/,/^# On the host/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "old-deploy: $*" >&2
  exit 1
}

SSH_CMD='' TARBALL='' WHEELHOUSE='' RESTART=restart PYTHON=python3.11 APACHE_PORT=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --ssh) SSH_CMD=${2:-} && shift 2 ;;
    --tarball) TARBALL=${2:-} && shift 2 ;;
    --wheelhouse) WHEELHOUSE=${2:-} && shift 2 ;;
    --graceful) RESTART=graceful && shift ;;
    --python) PYTHON=${2:-} && shift 2 ;;
    --init-apache) APACHE_PORT=${2:-} && shift 2 ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -n $SSH_CMD && -n $TARBALL && -n $WHEELHOUSE ]] || usage
[[ -f $TARBALL ]] || die "no such tarball: $TARBALL"
[[ -d $WHEELHOUSE ]] || die "no such wheelhouse: $WHEELHOUSE"
NAME=$(basename "$TARBALL")
[[ $NAME =~ ^WeaveServer-[0-9A-Za-z.!+_-]+\.tar\.gz$ ]] || die "not a WeaveServer sdist name: $NAME"
[[ $PYTHON =~ ^[A-Za-z0-9./_-]+$ ]] || die "bad --python: $PYTHON"
[[ -z $APACHE_PORT || $APACHE_PORT =~ ^[0-9]{1,5}$ ]] || die "bad --init-apache port: $APACHE_PORT"
read -r -a SSH <<<"$SSH_CMD"

SHARED=/var/sync/shared
started=$(date +%s%N)

# 1. Copy the release to the host's shared folder (tarball + wheelhouse in one stream).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$TARBALL" "$stage/$NAME"
cp -R "$WHEELHOUSE" "$stage/wheelhouse"
tar -C "$stage" -cf - . |
  "${SSH[@]}" "mkdir -p $SHARED && rm -rf $SHARED/wheelhouse && tar -C $SHARED -xf - --no-same-owner"

# 2. pip install into the live venv, then restart Apache (script on stdin, args by value;
#    every arg was validated above, and ssh joins them into one remote shell command anyway).
remote_args=$(printf '%q ' "$SHARED/$NAME" "$SHARED/wheelhouse" "$RESTART" "$PYTHON" "${APACHE_PORT:-none}")
"${SSH[@]}" "bash -s -- $remote_args" <<'REMOTE'
set -euo pipefail
sdist=$1 wheelhouse=$2 restart=$3 python=$4 port=$5
live=/var/sync/live
if [[ ! -x $live/bin/python ]]; then
  "$python" -m venv "$live"
fi
if [[ $port != none && ! -e /etc/apache2/sites-available/sync-old.conf ]]; then
  printf 'from weave.server.wsgi import application  # noqa: F401\n' >/var/sync/live.wsgi
  cat >/etc/apache2/sites-available/sync-old.conf <<EOF
Listen $port
<VirtualHost *:$port>
    WSGIDaemonProcess sync-old processes=2 threads=8 python-home=$live
    WSGIProcessGroup sync-old
    WSGIApplicationGroup %{GLOBAL}
    WSGIScriptAlias / /var/sync/live.wsgi
    <Directory /var/sync>
        <Files live.wsgi>
            Require all granted
        </Files>
    </Directory>
</VirtualHost>
EOF
  a2enmod -q wsgi
  a2ensite -q sync-old
fi
# pip always reinstalls a requirement given as a local file (even the same version), and
# installs whatever dependency is missing: one call is the old `pip install X.tar.gz`.
"$live/bin/pip" install --disable-pip-version-check --no-input --no-index \
  --find-links "$wheelhouse" "$sdist"
apachectl "$restart"
"$live/bin/python" -c 'import importlib.metadata as m; print("old-deploy: live venv has WeaveServer", m.version("WeaveServer"))'
REMOTE

ms=$((($(date +%s%N) - started) / 1000000))
printf 'old-deploy: done in %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
