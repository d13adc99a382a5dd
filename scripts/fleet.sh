#!/usr/bin/env bash
# The local fleet: Debian 12 hosts in network + mount + pid namespaces, reachable over SSH
# (pinned host keys) and HTTP at 198.18.K.(10+i) on a private bridge. Needs root.
#
#   scripts/fleet.sh start [N]            boot sync-1..sync-N (default 3, max 8), print them
#   scripts/fleet.sh stop                 kill, unmount, delete netns/veths/state (always safe)
#   scripts/fleet.sh status               one line per host: up / down / frozen / dead
#   scripts/fleet.sh hosts                NAME ADDRESS PORT HOSTKEY (ed25519), one line per host
#   scripts/fleet.sh config [--yaml] [--user root|deploy]
#                                         stack config fragment (JSON, or Pulumi stack YAML)
#   scripts/fleet.sh exec NAME CMD...     run CMD inside the host (its namespaces and root)
#   scripts/fleet.sh ssh NAME [CMD...]    ssh root@host with the fleet key and pinned host key
#   scripts/fleet.sh rebuild NAME         a new, bare machine behind NAME: fresh overlay, new SSH host keys
#                                         (the pinned ed25519 one printed)
#   scripts/fleet.sh down NAME | up NAME  unplug / replug the host's network cable (veth)
#   scripts/fleet.sh freeze NAME | thaw NAME
#                                         SIGSTOP / SIGCONT every process of the host
#                                         (TCP still connects, nothing answers: a hung host)
#
# Every command acts on one fleet, chosen by SYNC_FLEET_ID (K below). Up to 16 fleets run side
# by side on one machine (e.g. two engineers, or the fleet and engine test tiers in parallel);
# stop of one never touches another's namespaces, links, mounts, processes or state.
#
# Environment: SYNC_FLEET_ID (fleet id K, 0..15, default 0), SYNC_FLEET_STATE (default
# /run/sync-fleet for K=0, /run/sync-fleet-K otherwise), SYNC_RELEASE_CACHE (rootfs cache,
# default ~/.cache/sync-release), SYNC_FLEET_START_TIMEOUT (seconds, default 60),
# SYNC_FLEET_KEEP_ON_FAILURE=1 (leave a failed start in place for debugging).
# With SYNC_FLEET_STATE set and SYNC_FLEET_ID unset, the id recorded in $STATE/fleet-id is used.
#
# Names and addresses of fleet K (RFC 2544 benchmarking range; host names sync-1..sync-N are
# per fleet, so every fleet has its own sync-1):
#                 K = 0                        K = 1..15
#   bridge        sync-fleet-br 198.18.0.1/24  sync-fleetK-br 198.18.K.1/24
#   host i        198.18.0.(10+i)              198.18.K.(10+i)         (its eth0)
#   netns         sync-fleet-<i>               sync-fleetK-<i>
#   root veth     sync-fleet-v<i>              sync-fleetK-v<i>
#   state         /run/sync-fleet              /run/sync-fleet-K
#   lock          /run/lock/sync-fleet.lock    /run/lock/sync-fleet-K.lock
# The bridges live in the root namespace; route 198.18.0.0/15 is a blackhole (kept after stop),
# so with a bridge gone its traffic dies here. Hosts get no default route: they reach their own
# fleet's subnet and nothing else (not other fleets). start refuses while fleet K exists.
#
# State ($SYNC_FLEET_STATE): fleet-id, id_ed25519[.pub] (client key, authorized for root and
# deploy), known_hosts, ssh_config (`ssh -F $STATE/ssh_config sync-1`), config.json, config.yaml,
# rootfs, hosts/<name>/{address,ssh_host_{rsa,ecdsa,ed25519}_key[.pub],init.pid,launcher.pid,
# console.log,upper/,work/,merged/}. upper/ holds everything a host changed on top of the cached
# rootfs.
#
# Host keys: like a Debian install, every host has an rsa (3072), an ecdsa (256) and an ed25519
# host key, and its sshd offers all three. The fleet pins the ed25519 one everywhere: known_hosts
# holds only that line per host, config.json/config.yaml/`hosts` give it as hostKey.
#
# Inside a host: no systemd. pid 1 is /run/fleet-init (bash) which started sshd and
# `apache2ctl start`; reload/restart Apache with `apache2ctl graceful|restart` or
# `service apache2 reload` (nothing restarts a daemon that dies). sshd logs to
# /var/log/sshd.log; there is no syslog. /run is tmpfs, /tmp is on the overlay.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MAX_HOSTS=8
MAX_FLEET_ID=15

log() { printf 'fleet: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Which fleet: SYNC_FLEET_ID, else the id recorded in an explicit SYNC_FLEET_STATE, else 0.
FLEET_ID=${SYNC_FLEET_ID:-}
if [[ -z "$FLEET_ID" && -n "${SYNC_FLEET_STATE:-}" && -s "${SYNC_FLEET_STATE%/}/fleet-id" ]]; then
  FLEET_ID=$(<"${SYNC_FLEET_STATE%/}/fleet-id")
fi
FLEET_ID=${FLEET_ID:-0}
[[ "$FLEET_ID" =~ ^([0-9]|1[0-5])$ ]] || die "SYNC_FLEET_ID must be 0..$MAX_FLEET_ID, got: $FLEET_ID"
if ((FLEET_ID == 0)); then # fleet 0 keeps the names from before there were fleet ids
  TAG=sync-fleet
  STATE=${SYNC_FLEET_STATE:-/run/sync-fleet}
  LOCK=/run/lock/sync-fleet.lock
else
  TAG=sync-fleet$FLEET_ID
  STATE=${SYNC_FLEET_STATE:-/run/sync-fleet-$FLEET_ID}
  LOCK=/run/lock/sync-fleet-$FLEET_ID.lock
fi
STATE=${STATE%/}
[[ -n "$STATE" && "$STATE" == /* ]] || die "SYNC_FLEET_STATE must be an absolute path"
if [[ -s "$STATE/fleet-id" && "$(<"$STATE/fleet-id")" != "$FLEET_ID" ]]; then
  die "$STATE belongs to fleet $(<"$STATE/fleet-id"), not fleet $FLEET_ID (SYNC_FLEET_ID)"
fi
SUBNET_PREFIX=198.18.$FLEET_ID
BRIDGE=$TAG-br      # <= 15 chars: sync-fleet15-br
BRIDGE_ADDR=$SUBNET_PREFIX.1/24
NS_PREFIX=$TAG-     # netns sync-fleet15-8
VETH_PREFIX=$TAG-v  # <= 15 chars: sync-fleet15-v8
# Shared by all fleets: the /run/netns mount point (first `ip netns add` makes it) and whether a
# fleet made it. Held briefly around `ip netns add` and its undoing, never while booting.
NETNS_LOCK=/run/lock/sync-fleet-netns.lock
NETNS_MARK=/run/lock/sync-fleet-created-run-netns-mount
START_TIMEOUT=${SYNC_FLEET_START_TIMEOUT:-60}
INNER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() { sed -n '2,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root"; }
take_lock() {
  mkdir -p "$(dirname "$LOCK")"
  exec 8>"$LOCK"
  flock -w 120 8 || die "another fleet start/stop holds $LOCK"
}

# The one set of SSH options for fleet hosts: `ssh -F $STATE/ssh_config` here, in the selftest and
# in the fleet harness (test/fleet/hostHarness.ts). The fleet key, the pinned host keys, no prompt,
# nothing from ~/.ssh. An alias per host (sync-1 …) for people; options given with -o win over it.
# Hosts offer rsa, ecdsa and ed25519 host keys; the client asks for ed25519 only, the type pinned
# in known_hosts (as the command plugin does with connection.hostKey).
write_ssh_config() { # N
  local n=$1 i
  {
    for ((i = 1; i <= n; i++)); do
      printf 'Host sync-%s\n  HostName %s\n  User root\n\n' "$i" "$(host_addr "$i")"
    done
    printf 'Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  BatchMode yes\n' "$STATE/id_ed25519"
    printf '  StrictHostKeyChecking yes\n  UserKnownHostsFile %s\n' "$STATE/known_hosts"
    printf '  HostKeyAlgorithms ssh-ed25519\n'
    printf '  ConnectTimeout 5\n  LogLevel ERROR\n'
  } >"$STATE/ssh_config"
}

# --- host bookkeeping -------------------------------------------------------------------------

host_index() { # sync-3 -> 3
  local name=$1
  [[ "$name" =~ ^sync-([1-9][0-9]*)$ ]] || die "unknown host name: $name (expected sync-<n>)"
  [[ -d "$STATE/hosts/$name" ]] || die "host $name is not part of the running fleet"
  printf '%s\n' "${BASH_REMATCH[1]}"
}
host_addr() { printf '%s.%s\n' "$SUBNET_PREFIX" "$((10 + $1))"; }
host_names() { # running fleet's hosts in order
  [[ -d "$STATE/hosts" ]] || return 0
  local d
  for d in "$STATE"/hosts/sync-*; do
    [[ -d "$d" ]] && basename "$d"
  done | sort -t- -k2 -n
}
HOST_KEY_TYPES=(rsa ecdsa ed25519) # what a Debian install has; ed25519 is the one pinned
host_key() { cut -d' ' -f1,2 "$STATE/hosts/$1/ssh_host_ed25519_key.pub"; }
init_pid() { # the host's pid 1, as seen from here; fails when it is gone
  local f=$STATE/hosts/$1/init.pid pid
  [[ -s "$f" ]] || return 1
  pid=$(<"$f")
  [[ -n "$(living <<<"$pid")" ]] || return 1
  printf '%s\n' "$pid"
}

# --- start -------------------------------------------------------------------------------------

setup_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$BRIDGE_ADDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Safety net, kept on purpose after stop: with the bridge gone, traffic to the fleet's range
  # must die here instead of leaving the machine by the default route.
  ip route replace blackhole 198.18.0.0/15
}

add_netns() { # ns; with NETNS_LOCK held (fd 7)
  if ! mountpoint -q /run/netns 2>/dev/null; then
    : >"$NETNS_MARK"
  fi
  ip netns add "$1"
}

setup_netns() { # i
  local i=$1 ns=$NS_PREFIX$1 veth=$VETH_PREFIX$1
  (
    exec 7>"$NETNS_LOCK"
    flock -w 60 7 || die "cannot take $NETNS_LOCK"
    add_netns "$ns"
  )
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(host_addr "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
}

prepare_host() { # i rootfs
  local i=$1 name=sync-$1 dir=$STATE/hosts/sync-$1
  local type
  mkdir -p "$dir/upper" "$dir/work" "$dir/merged"
  for type in "${HOST_KEY_TYPES[@]}"; do
    ssh-keygen -q -t "$type" -N '' -C "root@$name" -f "$dir/ssh_host_${type}_key"
  done
  cp "$STATE/id_ed25519.pub" "$dir/authorized_keys"
  host_addr "$i" >"$dir/address"
  printf '%s %s\n' "$(host_addr "$i")" "$(host_key "$name")" >>"$STATE/known_hosts"
}

launch_host() { # i rootfs
  local i=$1 rootfs=$2 name=sync-$1 dir=$STATE/hosts/sync-$1 launcher pid="" tries=0
  # setsid: not tied to our terminal. Not a process-group leader here, so setsid, ip and
  # unshare all exec in place: $! is unshare, whose only child is the host's pid 1.
  setsid ip netns exec "$NS_PREFIX$i" \
    unshare --mount --pid --uts --ipc --fork --kill-child --propagation private -- \
    bash "$HERE/lib/fleet-host.sh" "$name" "$rootfs" "$dir" \
    </dev/null >"$dir/console.log" 2>&1 8>&- &
  launcher=$!
  disown "$launcher" # no "Killed" job notices from this shell when the fleet is stopped
  printf '%s\n' "$launcher" >"$dir/launcher.pid"
  while [[ -z "$pid" ]]; do
    pid=$(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null || true)
    pid=${pid%% *}
    if [[ -z "$pid" ]]; then
      ((++tries < 200)) || die "$name: init process did not appear ($(cat "$dir/console.log"))"
      kill -0 "$launcher" 2>/dev/null || die "$name: failed to boot: $(cat "$dir/console.log")"
      sleep 0.05
    fi
  done
  printf '%s\n' "$pid" >"$dir/init.pid"
}

wait_host() { # name deadline -> 0 when SSH (pinned key) and HTTP answer
  local name=$1 deadline=$2 addr
  addr=$(<"$STATE/hosts/$name/address")
  while :; do
    if ssh -F "$STATE/ssh_config" -o ConnectTimeout=2 "root@$addr" true 2>/dev/null &&
      curl -fsS --noproxy '*' -m 2 -o /dev/null "http://$addr/" 2>/dev/null; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "$name ($addr) not ready after ${START_TIMEOUT}s; console:"
      sed 's/^/  | /' "$STATE/hosts/$name/console.log" >&2 || true
      return 1
    fi
    init_pid "$name" >/dev/null || {
      log "$name: init died; console:"
      sed 's/^/  | /' "$STATE/hosts/$name/console.log" >&2 || true
      return 1
    }
    sleep 0.2
  done
}

write_configs() {
  cmd_config >"$STATE/config.json"
  cmd_config --yaml >"$STATE/config.yaml"
}

START_OK=0
on_start_exit() {
  local rc=$?
  ((START_OK)) && return 0
  if [[ "${SYNC_FLEET_KEEP_ON_FAILURE:-0}" == 1 ]]; then
    log "start failed; left in place (SYNC_FLEET_KEEP_ON_FAILURE=1): run 'SYNC_FLEET_ID=$FLEET_ID $0 stop' to clean up"
  else
    log "start failed; cleaning up"
    do_stop || true
  fi
  exit "$rc"
}

cmd_start() {
  local n=${1:-3} rootfs i name t0=$SECONDS deadline failed=0
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || ((n > MAX_HOSTS)); then
    die "N must be 1..$MAX_HOSTS, got: $n"
  fi
  need_root
  for tool in ip unshare nsenter ssh ssh-keygen curl flock setsid; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
  done
  rootfs=$("$HERE/fleet-rootfs.sh")
  take_lock
  if [[ -d "$STATE/hosts" ]] || ip netns list 2>/dev/null | grep -q "^$NS_PREFIX" ||
    ip link show "$BRIDGE" >/dev/null 2>&1; then
    die "fleet $FLEET_ID is already running (or a crashed one is left): run 'SYNC_FLEET_ID=$FLEET_ID $0 stop' first"
  fi
  trap on_start_exit EXIT
  mkdir -p "$STATE/hosts"
  chmod 0700 "$STATE"
  printf '%s\n' "$FLEET_ID" >"$STATE/fleet-id"
  printf '%s\n' "$rootfs" >"$STATE/rootfs"
  ssh-keygen -q -t ed25519 -N '' -C "sync-fleet-client" -f "$STATE/id_ed25519"
  : >"$STATE/known_hosts"
  write_ssh_config "$n"
  setup_bridge
  for ((i = 1; i <= n; i++)); do
    prepare_host "$i"
    setup_netns "$i"
    launch_host "$i" "$rootfs"
  done
  deadline=$((SECONDS + START_TIMEOUT))
  local -a waits=()
  for ((i = 1; i <= n; i++)); do
    wait_host "sync-$i" "$deadline" &
    waits+=("$!")
  done
  for i in "${waits[@]}"; do
    wait "$i" || failed=1
  done
  ((failed == 0)) || die "fleet did not come up"
  write_configs
  START_OK=1
  log "fleet $FLEET_ID: $n host(s) up in $((SECONDS - t0))s; state: $STATE"
  cmd_hosts
}

# --- stop --------------------------------------------------------------------------------------

our_netns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+$" || true; }
our_links() {
  ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
    grep -E "^(${VETH_PREFIX}[0-9]+|$BRIDGE)$" || true
}

# Filter stdin pids to the living: zombies hold no namespace or mount, and their reaping is
# up to whoever adopted them (here that can be a slow pid 1).
living() {
  local pid st
  while read -r pid; do
    st=$(awk '/^State:/ {print $2; exit}' "/proc/$pid/status" 2>/dev/null) || continue
    [[ -n "$st" && "$st" != Z && "$st" != X ]] && printf '%s\n' "$pid"
  done
  return 0
}

# Living pids in any of the given namespaces ("pid:<inode>" / "net:<inode>" words).
pids_in_namespaces() {
  local -A want=()
  local w p pidns netns st
  for w in "$@"; do want[$w]=1; done
  ((${#want[@]})) || return 0
  while read -r p pidns netns st; do
    [[ "$st" == Z* || "$st" == X* ]] && continue
    if [[ -n "${want[pid:$pidns]:-}" || -n "${want[net:$netns]:-}" ]]; then
      printf '%s\n' "$p"
    fi
  done < <(ps -e -o pid=,pidns=,netns=,stat=)
}

# Every living pid that belongs to the fleet: recorded init/launcher pids, everything in the
# hosts' pid namespaces, and everything in our network namespaces (`ip netns exec` from a test).
fleet_pids() {
  local f pid ns inode
  local -a nss=()
  for f in "$STATE"/hosts/*/init.pid "$STATE"/hosts/*/launcher.pid; do
    [[ -s "$f" ]] || continue
    pid=$(<"$f")
    living <<<"$pid"
    if [[ "$f" == */init.pid ]] && inode=$(stat -L -c %i "/proc/$pid/ns/pid" 2>/dev/null); then
      nss+=("pid:$inode")
    fi
  done
  for ns in $(our_netns); do
    inode=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) && nss+=("net:$inode")
  done
  pids_in_namespaces "${nss[@]}"
}

do_stop() {
  local pids tries=0 ns link mnt leftovers=0
  # 1. processes. SIGKILL to a host's pid 1 takes its whole pid namespace (and so its private
  #    mounts: overlay, proc, dev, run) with it.
  while pids=$(fleet_pids | sort -u) && [[ -n "$pids" ]]; do
    # shellcheck disable=SC2086  # word splitting of the pid list is intended
    kill -KILL $pids 2>/dev/null || true
    if ((++tries > 100)); then
      log "processes still alive after 10s: $(tr '\n' ' ' <<<"$pids")"
      leftovers=1
      break
    fi
    sleep 0.1
  done
  # 2. network: deleting a veth deletes its peer; then the namespaces and the bridge.
  for link in $(our_links); do
    [[ "$link" == "$BRIDGE" ]] || ip link del "$link" 2>/dev/null || true
  done
  for ns in $(our_netns); do
    ip netns del "$ns" 2>/dev/null || { log "cannot delete netns $ns"; leftovers=1; }
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  # 3. mounts in this namespace under the state dir (only a crashed, odd start leaves any).
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || { log "cannot unmount $mnt"; leftovers=1; }
  done < <(awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r)
  # /run/netns is made a mount point by the first `ip netns add` (of any fleet); undo that if a
  # fleet did it and no namespace is left in it (another fleet's, or anyone else's).
  # $STATE/created-run-netns-mount: the marker of fleet.sh from before fleet ids.
  (
    exec 7>"$NETNS_LOCK"
    flock -w 60 7 || { log "cannot take $NETNS_LOCK; /run/netns left as is"; exit 0; }
    if [[ -e "$NETNS_MARK" || -e "$STATE/created-run-netns-mount" ]] &&
      [[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
      if mountpoint -q /run/netns; then
        umount /run/netns 2>/dev/null || log "cannot unmount /run/netns"
      fi
      mountpoint -q /run/netns || { rmdir /run/netns 2>/dev/null || true; rm -f "$NETNS_MARK"; }
    fi
  )
  # 4. state.
  if [[ -d "$STATE" ]]; then
    if awk -v s="$STATE/" 'index($2, s) == 1 {f=1} END {exit !f}' /proc/mounts; then
      log "mounts remain under $STATE; not removing it"
      leftovers=1
    else
      rm -rf --one-file-system "$STATE"
    fi
  fi
  [[ -z "$(our_netns)$(our_links)" ]] || { log "left: $(our_netns) $(our_links)"; leftovers=1; }
  return "$leftovers"
}

cmd_stop() {
  need_root
  take_lock
  local t0=$SECONDS
  do_stop || die "stop left something behind (see above)"
  log "stopped in $((SECONDS - t0))s"
}

# --- inspection --------------------------------------------------------------------------------

cmd_hosts() {
  local name
  [[ -n "$(host_names)" ]] || die "no fleet running (state: $STATE)"
  for name in $(host_names); do
    printf '%s\t%s\t%s\t%s\n' "$name" "$(<"$STATE/hosts/$name/address")" 22 "$(host_key "$name")"
  done
}

cmd_config() {
  local yaml=0 user=root name first=1
  while (($#)); do
    case "$1" in
      --yaml) yaml=1 ;;
      --json) yaml=0 ;;
      --user) user=${2:?--user needs a value}; shift ;;
      *) die "config: unknown argument: $1" ;;
    esac
    shift
  done
  [[ "$user" =~ ^(root|deploy)$ ]] || die "config: --user must be root or deploy"
  [[ -n "$(host_names)" ]] || die "no fleet running (state: $STATE)"
  if ((yaml)); then
    printf '# local fleet (scripts/fleet.sh); set the key with:\n'
    printf '#   pulumi config set --secret sync:sshPrivateKey < %s\n' "$STATE/id_ed25519"
    printf 'config:\n  sync:servers:\n'
    for name in $(host_names); do
      printf '    - name: %s\n      host: "%s"\n      port: 22\n      user: %s\n      hostKey: "%s"\n' \
        "$name" "$(<"$STATE/hosts/$name/address")" "$user" "$(host_key "$name")"
    done
    return
  fi
  printf '{"servers":['
  for name in $(host_names); do
    ((first)) || printf ','
    first=0
    printf '{"name":"%s","host":"%s","port":22,"user":"%s","hostKey":"%s"}' \
      "$name" "$(<"$STATE/hosts/$name/address")" "$user" "$(host_key "$name")"
  done
  printf '],"sshPrivateKeyPath":"%s","knownHostsPath":"%s","sshConfigPath":"%s"}\n' \
    "$STATE/id_ed25519" "$STATE/known_hosts" "$STATE/ssh_config"
}

cmd_status() {
  local name i addr state any_bad=0 veth pid
  if [[ -z "$(host_names)" ]]; then
    echo "fleet: not running"
    [[ -z "$(our_netns)$(our_links)" ]] || echo "fleet: leftovers present, run: $0 stop"
    return 1
  fi
  for name in $(host_names); do
    i=${name#sync-}
    addr=$(<"$STATE/hosts/$name/address")
    veth=$VETH_PREFIX$i
    if ! pid=$(init_pid "$name"); then
      state=dead
    elif [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status")" == T ]]; then
      state=frozen
    elif ! ip link show "$veth" 2>/dev/null | grep -Eq ',UP[,>]'; then
      state="down (network unplugged)"
    elif ! timeout 2 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null; then
      state="down (ssh not answering)"
    elif ! curl -fsS --noproxy '*' -m 2 -o /dev/null "http://$addr/" 2>/dev/null; then
      state="down (http not answering)"
    else
      state=up
    fi
    [[ "$state" == up ]] || any_bad=1
    printf '%s\t%s\t%s\n' "$name" "$addr" "$state"
  done
  return "$any_bad"
}

# --- poking at hosts ---------------------------------------------------------------------------

cmd_exec() {
  local name=${1:?usage: exec NAME CMD...} pid
  shift
  (($#)) || die "usage: exec NAME CMD..."
  need_root
  host_index "$name" >/dev/null
  pid=$(init_pid "$name") || die "$name is not running"
  exec nsenter --target "$pid" --mount --uts --ipc --net --pid --root --wd -- \
    /usr/bin/env -i PATH="$INNER_PATH" HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

cmd_ssh() {
  local name=${1:?usage: ssh NAME [CMD...]}
  shift
  host_index "$name" >/dev/null
  exec ssh -F "$STATE/ssh_config" "root@$(<"$STATE/hosts/$name/address")" "$@"
}

# A new, bare machine behind the same name and address: the host is killed, its overlay's upper
# layer (everything it changed) is thrown away, and it boots again from the cached rootfs with
# new SSH host keys (rsa, ecdsa, ed25519). Prints the new ed25519 key, the one pinned. What an EC2 replacement or a rebuilt server looks like.
cmd_rebuild() { # NAME
  local name=${1:?usage: rebuild NAME} i dir pid inode pids rootfs tries=0
  need_root
  take_lock
  i=$(host_index "$name")
  dir=$STATE/hosts/$name
  rootfs=$(<"$STATE/rootfs")
  if pid=$(init_pid "$name") && inode=$(stat -L -c %i "/proc/$pid/ns/pid" 2>/dev/null); then
    while pids=$( (pids_in_namespaces "pid:$inode"; living <"$dir/launcher.pid") | sort -u) &&
      [[ -n "$pids" ]]; do
      # shellcheck disable=SC2086  # word splitting of the pid list is intended
      kill -KILL $pids 2>/dev/null || true
      ((++tries < 100)) || die "$name: processes still alive after 10s: $pids"
      sleep 0.1
    done
  fi
  rm -rf --one-file-system "$dir"
  grep -v "^$(host_addr "$i") " "$STATE/known_hosts" >"$STATE/known_hosts.tmp" || true
  mv -f "$STATE/known_hosts.tmp" "$STATE/known_hosts"
  prepare_host "$i" "$rootfs"
  launch_host "$i" "$rootfs"
  wait_host "$name" $((SECONDS + START_TIMEOUT)) || die "$name did not come back"
  write_configs
  host_key "$name"
}

cmd_link() { # up|down NAME
  local updown=$1 name=${2:?usage: $1 NAME} i
  need_root
  i=$(host_index "$name")
  ip link set "$VETH_PREFIX$i" "$updown"
  log "$name network $updown"
}

cmd_signal() { # STOP|CONT NAME
  local sig=$1 name=${2:?usage: freeze|thaw NAME} pid inode p
  need_root
  host_index "$name" >/dev/null
  pid=$(init_pid "$name") || die "$name is not running"
  inode=$(stat -L -c %i "/proc/$pid/ns/pid")
  for p in $(pids_in_namespaces "pid:$inode"); do
    kill "-$sig" "$p" 2>/dev/null || true
  done
  log "$name: sent SIG$sig to all its processes"
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    hosts) cmd_hosts ;;
    config) cmd_config "$@" ;;
    exec) cmd_exec "$@" ;;
    ssh) cmd_ssh "$@" ;;
    rebuild) cmd_rebuild "$@" ;;
    down) cmd_link down "$@" ;;
    up) cmd_link up "$@" ;;
    freeze) cmd_signal STOP "$@" ;;
    thaw) cmd_signal CONT "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
