#!/usr/bin/env bash
# Boot one fleet host. Run by scripts/fleet.sh as pid 1 of a fresh pid + mount + uts + ipc
# namespace inside the host's network namespace:
#
#   ip netns exec NETNS unshare --mount --pid --uts --ipc --fork ... bash fleet-host.sh NAME ROOTFS HOSTDIR
#
# Everything mounted here lives only in this mount namespace, so it disappears with the host's
# processes: killing this pid 1 from outside leaves no mount behind.
set -euo pipefail

name=$1 rootfs=$2 hostdir=$3
m=$hostdir/merged

mount --make-rprivate /
mount -t overlay overlay \
  -o "lowerdir=$rootfs,upperdir=$hostdir/upper,workdir=$hostdir/work" "$m"

mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"

# /dev: a small tmpfs with the usual character devices bound in, plus a private devpts.
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$m/dev"
for dev in null zero full random urandom tty; do
  touch "$m/dev/$dev"
  mount --bind "/dev/$dev" "$m/dev/$dev"
done
mkdir -m 0755 "$m/dev/pts"
mkdir -m 1777 "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$m/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs "$m/dev/shm"
ln -s pts/ptmx "$m/dev/ptmx"
ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"
ln -s /proc/self/fd/2 "$m/dev/stderr"

mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs "$m/run"
mkdir -m 1777 "$m/run/lock"
mkdir -m 0755 "$m/run/sshd"

# Per-host identity: hostname, ssh host keys, the fleet's client key for root and deploy.
hostname "$name"
printf '%s\n' "$name" >"$m/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  "$name" >"$m/etc/hosts"
# Host keys as a Debian install has them: rsa, ecdsa and ed25519, all offered by sshd.
: >"$m/etc/ssh/sshd_config.d/fleet-hostkey.conf"
for type in rsa ecdsa ed25519; do
  install -m 0600 "$hostdir/ssh_host_${type}_key" "$m/etc/ssh/ssh_host_${type}_key"
  install -m 0644 "$hostdir/ssh_host_${type}_key.pub" "$m/etc/ssh/ssh_host_${type}_key.pub"
  printf 'HostKey /etc/ssh/ssh_host_%s_key\n' "$type" >>"$m/etc/ssh/sshd_config.d/fleet-hostkey.conf"
done
install -m 0600 "$hostdir/authorized_keys" "$m/root/.ssh/authorized_keys"
deploy_ids=$(stat -c %u:%g "$m/home/deploy")
install -m 0600 -o "${deploy_ids%:*}" -g "${deploy_ids#*:}" \
  "$hostdir/authorized_keys" "$m/home/deploy/.ssh/authorized_keys"

# From here on we are the host's init. No systemd: sshd and Apache are started directly
# (apache2ctl sees /proc/1/exe = bash, so it does not hand over to systemctl). Stop = SIGKILL
# of this process from outside, which takes the whole pid namespace with it.
cat >"$m/run/fleet-init" <<'INIT'
#!/bin/bash
# pid 1 of a local fleet host (scripts/lib/fleet-host.sh). Shrugs off TERM/INT like an init;
# the fleet stops a host with SIGKILL from outside.
set -u
cd /
trap ':' TERM INT HUP  # a handler, not SIG_IGN: children must get default signals
/usr/sbin/sshd -E /var/log/sshd.log || echo "fleet-host: sshd failed to start" >&2
apache2ctl start || echo "fleet-host: apache failed to start" >&2
echo "fleet-host: $(hostname) booted"
# Stay alive and reap orphans (bash reaps any child that exits).
while :; do
  sleep 3600 &
  wait "$!" || true
done
INIT
chmod 0755 "$m/run/fleet-init"
exec chroot "$m" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  /bin/bash /run/fleet-init
