#!/usr/bin/env bash
# Self-test of the local fleet (scripts/fleet.sh): boots 2 hosts, checks SSH with the pinned
# host key (root, and deploy + sudo), that a wrong or unknown host key is refused, HTTP on :80,
# exec, config, down/up; then stops the fleet and asserts nothing is left: no mount, network
# namespace, veth/bridge, process or state dir. Finally it plants leftovers on purpose and checks
# that the leak check catches them (so a blind check cannot pass) and that `stop` removes them.
#
#   sudo scripts/fleet-selftest.sh        exit 0 only when every check passed
#
# Refuses to run (exit 2) while a fleet is running: fleet names and addresses are machine-wide.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLEET=$HERE/fleet.sh
STATE=${SYNC_FLEET_STATE:-/run/sync-fleet}
STATE=${STATE%/}
export SYNC_FLEET_STATE=$STATE

passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() { # description cmd...
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
check_not() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then bad "$what"; else ok "$what"; fi
}

[[ $EUID -eq 0 ]] || { echo "fleet-selftest: must run as root" >&2; exit 2; }
if [[ -e "$STATE" ]] || ip netns list 2>/dev/null | grep -q '^sync-fleet-' ||
  ip link show sync-fleet-br >/dev/null 2>&1; then
  echo "fleet-selftest: a fleet is running (or left over); run '$FLEET stop' first" >&2
  exit 2
fi

cleanup() { "$FLEET" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

run_netns_was_mount=0
mountpoint -q /run/netns 2>/dev/null && run_netns_was_mount=1

ssh_base=(ssh -F /dev/null -i "$STATE/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=yes -o ConnectTimeout=5 -o LogLevel=ERROR)

# --- the fleet works ---------------------------------------------------------------------------
t0=$SECONDS
"$FLEET" start 2 >/tmp/fleet-selftest.start.$$ 2>&1 || {
  cat /tmp/fleet-selftest.start.$$
  rm -f /tmp/fleet-selftest.start.$$
  bad "fleet start 2"
  echo "$passed passed, $failed failed"
  exit 1
}
rm -f /tmp/fleet-selftest.start.$$
ok "fleet start 2 ($((SECONDS - t0))s)"

A1=198.18.0.11 A2=198.18.0.12
KH=$STATE/known_hosts
check "status: all up" "$FLEET" status
check "ssh root@sync-1 with pinned key" "${ssh_base[@]}" -o "UserKnownHostsFile=$KH" "root@$A1" true
check "ssh root@sync-2 with pinned key" "${ssh_base[@]}" -o "UserKnownHostsFile=$KH" "root@$A2" true
check "ssh deploy@sync-1 + passwordless sudo" \
  "${ssh_base[@]}" -o "UserKnownHostsFile=$KH" "deploy@$A1" 'sudo -n true'
# shellcheck disable=SC2016  # expands on the host
check "fleet.sh ssh sync-2" "$FLEET" ssh sync-2 'test "$(hostname)" = sync-2'

wrong_kh=$(mktemp)
printf '%s %s\n' "$A1" "$(cut -d' ' -f1,2 "$STATE/hosts/sync-2/ssh_host_ed25519_key.pub")" >"$wrong_kh"
out=$("${ssh_base[@]}" -o "UserKnownHostsFile=$wrong_kh" "root@$A1" 'echo REACHED' 2>&1 || true)
if [[ "$out" == *"Host key verification failed"* && "$out" != *REACHED* ]]; then
  ok "wrong host key refused"
else
  bad "wrong host key refused (got: $out)"
fi
: >"$wrong_kh"
out=$("${ssh_base[@]}" -o "UserKnownHostsFile=$wrong_kh" "root@$A1" 'echo REACHED' 2>&1 || true)
if [[ "$out" == *"Host key verification failed"* && "$out" != *REACHED* ]]; then
  ok "unknown host key refused"
else
  bad "unknown host key refused (got: $out)"
fi
rm -f "$wrong_kh"

for a in "$A1" "$A2"; do
  check "HTTP :80 on $a answers (Debian default page)" \
    bash -c "curl -fsS --noproxy '*' -m 5 http://$a/ | grep -q 'Apache2 Debian Default Page'"
done
check "exec: hostname inside sync-1" bash -c "[[ \$('$FLEET' exec sync-1 hostname) == sync-1 ]]"
check "exec: apache2ctl graceful (no systemd needed)" "$FLEET" exec sync-1 apache2ctl graceful
check "exec: python3.11 venv" "$FLEET" exec sync-2 bash -c \
  'python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/python -c "import sys; assert sys.version_info[:2] == (3, 11)"'
check "exec: mod_wsgi enabled" bash -c "'$FLEET' exec sync-1 apache2ctl -M 2>/dev/null | grep -q wsgi_module"
check_not "host has no route off the bridge" "$FLEET" exec sync-1 ip route get 192.0.2.1
check "config is JSON with 2 servers + key path" bash -c \
  "'$FLEET' config | node -e 'const c=JSON.parse(require(\"fs\").readFileSync(0,\"utf8\")); \
   if (c.servers.length!==2||!c.servers[0].hostKey.startsWith(\"ssh-ed25519 AAAA\")||!c.sshPrivateKeyPath) process.exit(1)'"
check "config --yaml names sync:servers" bash -c "'$FLEET' config --yaml | grep -q 'sync:servers:'"

"$FLEET" down sync-2 >/dev/null 2>&1
t1=$SECONDS
check_not "sync-2 unreachable while down" timeout 15 "${ssh_base[@]}" -o ConnectTimeout=3 \
  -o "UserKnownHostsFile=$KH" "root@$A2" true
if ((SECONDS - t1 <= 10)); then ok "down host fails within bound"; else bad "down host took $((SECONDS - t1))s"; fi
check "sync-1 unaffected while sync-2 down" "${ssh_base[@]}" -o "UserKnownHostsFile=$KH" "root@$A1" true
"$FLEET" up sync-2 >/dev/null 2>&1
check "sync-2 reachable again after up" "${ssh_base[@]}" -o "UserKnownHostsFile=$KH" "root@$A2" true

# What must be gone after stop: these pids, these namespaces.
watch_pids=() watch_ns=()
for h in "$STATE"/hosts/*; do
  for f in init.pid launcher.pid; do watch_pids+=("$(<"$h/$f")"); done
  p=$(<"$h/init.pid")
  watch_ns+=("pid:$(stat -L -c %i "/proc/$p/ns/pid")" "net:$(stat -L -c %i "/proc/$p/ns/net")"
    "mnt:$(stat -L -c %i "/proc/$p/ns/mnt")")
done
# A process a test might leave in a host netns from the root pid namespace: stop must kill it.
ip netns exec sync-fleet-1 sleep 600 </dev/null >/dev/null 2>&1 &
disown "$!"
"$FLEET" exec sync-2 bash -c 'sleep 600 </dev/null >/dev/null 2>&1 &'

# --- leak check --------------------------------------------------------------------------------
leaks() { # prints one line per leftover; empty output = clean
  local p st pidns netns mntns w
  awk -v s="$STATE/" '$2 == "/run/netns" || index($2, "/run/netns/sync-fleet-") == 1 ||
    index($2, s) == 1 || index($4, s) > 0 {print "mount: " $0}' /proc/mounts |
    if ((run_netns_was_mount)); then grep -v ' /run/netns ' || true; else cat; fi
  ip netns list 2>/dev/null | awk '$1 ~ /^sync-fleet-/ {print "netns: " $1}'
  ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^sync-fleet-/ {print "link: " $2}'
  [[ ! -e "$STATE" ]] || echo "state dir: $STATE"
  for p in "${watch_pids[@]}"; do
    st=$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    [[ -z "$st" || "$st" == Z ]] || echo "process: $p still alive ($st)"
  done
  while read -r p pidns netns mntns st; do
    [[ "$st" == Z* ]] && continue
    for w in "${watch_ns[@]}"; do
      case "$w" in
        "pid:$pidns" | "net:$netns" | "mnt:$mntns")
          echo "process: $p in fleet namespace $w ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))" ;;
      esac
    done
  done < <(ps -e -o pid=,pidns=,netns=,mntns=,stat=)
  for p in /proc/[0-9]*; do
    w=$(readlink "$p/root" 2>/dev/null) || continue
    [[ "$w" == "$STATE"/* ]] && echo "process: ${p#/proc/} rooted in $w"
  done
  return 0
}

t2=$SECONDS
if "$FLEET" stop >/dev/null 2>&1; then ok "fleet stop ($((SECONDS - t2))s)"; else bad "fleet stop"; fi
left=$(leaks)
if [[ -z "$left" ]]; then ok "nothing left after stop"; else bad "left after stop:"; printf '  %s\n' "$left"; fi
check "stop again when nothing runs" "$FLEET" stop

# --- the leak check is not blind, and stop cleans a crashed fleet's debris ----------------------
mkdir -p "$STATE/hosts/sync-9/merged"
: >"$STATE/created-run-netns-mount"
mount -t tmpfs selftest-leak "$STATE/hosts/sync-9/merged"
ip netns add sync-fleet-9
ip link add sync-fleet-v9 type veth peer name eth0 netns sync-fleet-9
ip netns exec sync-fleet-9 sleep 600 </dev/null >/dev/null 2>&1 &
disown "$!"
watch_ns+=("net:$(stat -L -c %i /run/netns/sync-fleet-9)")
left=$(leaks)
for kind in "mount: " "netns: " "link: " "state dir" "process: "; do
  if [[ "$left" == *"$kind"* ]]; then
    ok "leak check catches a planted ${kind%: }"
  else
    bad "leak check misses a planted ${kind%: }"
  fi
done
if "$FLEET" stop >/dev/null 2>&1; then ok "stop cleans planted debris"; else bad "stop on debris"; fi
left=$(leaks)
if [[ -z "$left" ]]; then ok "nothing left after stop on debris"; else bad "left:"; printf '  %s\n' "$left"; fi

trap - EXIT
echo "fleet-selftest: $passed passed, $failed failed"
((failed == 0))
