#!/usr/bin/env bash
# Self-test of the local fleet (scripts/fleet.sh): boots 2 hosts, checks SSH with the pinned
# host key (root, and deploy + sudo), that every host offers rsa, ecdsa and ed25519 host keys and
# is pinned by ed25519 alone (a client pinned so connects, one asking for the others is refused),
# that a wrong or unknown host key is refused, rebuild (three new keys), HTTP on :80,
# exec, config, down/up; then stops the fleet and asserts nothing is left: no mount, network
# namespace, veth/bridge, process or state dir. Finally it plants leftovers on purpose and checks
# that the leak check catches them (so a blind check cannot pass) and that `stop` removes them.
# In between, a second fleet (another SYNC_FLEET_ID, 2 hosts) runs beside the first: both serve
# SSH with their own pinned host keys, neither reaches the other, and stopping the second leaves
# the first fully working and nothing of the second behind.
#
#   sudo scripts/fleet-selftest.sh        exit 0 only when every check passed
#
# Environment: SYNC_FLEET_ID (the fleet under test, default 0), SYNC_FLEET_STATE (its state dir),
# SYNC_FLEET_SELFTEST_PEER_ID (the second fleet; default: the first id after SYNC_FLEET_ID with
# nothing of a fleet present, 1 for fleet 0 on an idle machine; its state dir is the default one).
# Refuses to run (exit 2) while either fleet exists; other fleets on the machine are left alone.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLEET=$HERE/fleet.sh

# Fleet names, spelled out here (not asked of fleet.sh) so that a naming bug there shows up.
fleet_tag() { if (($1 == 0)); then echo sync-fleet; else echo "sync-fleet$1"; fi; }
fleet_state() { if (($1 == 0)); then echo /run/sync-fleet; else echo "/run/sync-fleet-$1"; fi; }
fleet_present() { # id state -> 0 when anything of that fleet exists
  local tag
  tag=$(fleet_tag "$1")
  [[ -e "$2" ]] || ip netns list 2>/dev/null | grep -Eq "^$tag-[0-9]+( |\$)" ||
    ip link show "$tag-br" >/dev/null 2>&1
}
valid_id() { [[ "$1" =~ ^([0-9]|1[0-5])$ ]]; }

ID=${SYNC_FLEET_ID:-0}
valid_id "$ID" || { echo "fleet-selftest: SYNC_FLEET_ID must be 0..15, got: $ID" >&2; exit 2; }
STATE=${SYNC_FLEET_STATE:-$(fleet_state "$ID")}
STATE=${STATE%/}
export SYNC_FLEET_ID=$ID SYNC_FLEET_STATE=$STATE
TAG=$(fleet_tag "$ID") NET=198.18.$ID
if [[ -n "${SYNC_FLEET_SELFTEST_PEER_ID:-}" ]]; then
  PEER=$SYNC_FLEET_SELFTEST_PEER_ID
else
  PEER=
  for ((k = 1; k < 16; k++)); do
    id=$(((ID + k) % 16))
    fleet_present "$id" "$(fleet_state "$id")" || { PEER=$id; break; }
  done
  [[ -n "$PEER" ]] || { echo "fleet-selftest: no free fleet id for the second fleet" >&2; exit 2; }
fi
if ! valid_id "$PEER" || ((PEER == ID)); then
  echo "fleet-selftest: SYNC_FLEET_SELFTEST_PEER_ID must be 0..15 and not $ID, got: $PEER" >&2
  exit 2
fi
PEER_STATE=$(fleet_state "$PEER") PEER_TAG=$(fleet_tag "$PEER") PEER_NET=198.18.$PEER
[[ "$PEER_STATE" != "$STATE" ]] || { echo "fleet-selftest: both fleets would use $STATE" >&2; exit 2; }
peer() { SYNC_FLEET_ID=$PEER SYNC_FLEET_STATE=$PEER_STATE "$FLEET" "$@"; }

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
for f in "$ID $STATE" "$PEER $PEER_STATE"; do
  # shellcheck disable=SC2086  # "id state"
  if fleet_present $f; then
    echo "fleet-selftest: fleet ${f%% *} is running (or left over); run 'SYNC_FLEET_ID=${f%% *} $FLEET stop' first" >&2
    exit 2
  fi
done
echo "fleet-selftest: fleet $ID ($NET.0/24, $STATE), second fleet $PEER ($PEER_NET.0/24, $PEER_STATE)"

# Stop only what this run started: a fleet that was there first is someone else's.
started=0 peer_started=0
cleanup() {
  if ((peer_started)); then peer stop >/dev/null 2>&1 || true; fi
  if ((started)); then "$FLEET" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

run_netns_was_mount=0
mountpoint -q /run/netns 2>/dev/null && run_netns_was_mount=1

# The fleet's own options (scripts/fleet.sh write_ssh_config), as the fleet harness uses them.
ssh_base=(ssh -F "$STATE/ssh_config")

# --- the fleet works ---------------------------------------------------------------------------
t0=$SECONDS
started=1 # start cleans up after itself when it fails, except when the fleet was already there
"$FLEET" start 2 >/tmp/fleet-selftest.start.$$ 2>&1 || {
  grep -q 'is already running' /tmp/fleet-selftest.start.$$ && started=0
  cat /tmp/fleet-selftest.start.$$
  rm -f /tmp/fleet-selftest.start.$$
  bad "fleet start 2"
  echo "$passed passed, $failed failed"
  exit 1
}
rm -f /tmp/fleet-selftest.start.$$
ok "fleet start 2 ($((SECONDS - t0))s)"

A1=$NET.11 A2=$NET.12
check "status: all up" "$FLEET" status
check "ssh root@sync-1 with pinned key" "${ssh_base[@]}" "root@$A1" true
check "ssh root@sync-2 with pinned key" "${ssh_base[@]}" "root@$A2" true
check "ssh deploy@sync-1 + passwordless sudo" \
  "${ssh_base[@]}" "deploy@$A1" 'sudo -n true'
# shellcheck disable=SC2016  # expands on the host
check "ssh -F ssh_config sync-1 (the alias people use)" ssh -F "$STATE/ssh_config" sync-1 'test "$(hostname)" = sync-1'
# shellcheck disable=SC2016  # expands on the host
check "fleet.sh ssh sync-2" "$FLEET" ssh sync-2 'test "$(hostname)" = sync-2'

# --- host keys: rsa, ecdsa and ed25519 offered, ed25519 pinned ---------------------------------
# host_pubs NAME: the host's three public keys as made for it, "type base64", sorted.
host_pubs() { cat "$STATE/hosts/$1/ssh_host_"{rsa,ecdsa,ed25519}"_key.pub" | cut -d' ' -f1,2 | sort; }
# offered ADDR NAME: what the host's sshd offers (ssh-keyscan, no ssh_config) is exactly those.
offered() {
  local got
  got=$(ssh-keyscan -T 5 -t rsa,ecdsa,ed25519 "$1" 2>/dev/null | cut -d' ' -f2,3 | sort)
  [[ "$(cut -d' ' -f1 <<<"$got" | tr '\n' ' ')" == "ecdsa-sha2-nistp256 ssh-ed25519 ssh-rsa " ]] &&
    [[ "$got" == "$(host_pubs "$2")" ]]
}
# pinned_ed25519 ADDR NAME: known_hosts and config.json pin the host by its ed25519 key alone.
pinned_ed25519() {
  local want yaml
  want=$(cut -d' ' -f1,2 "$STATE/hosts/$2/ssh_host_ed25519_key.pub")
  yaml=$("$FLEET" config --yaml) # whole, not piped into grep -q (pipefail: SIGPIPE)
  [[ "$(grep -c "^$1 " "$STATE/known_hosts")" == 1 ]] && grep -qxF "$1 $want" "$STATE/known_hosts" &&
    grep -qF "\"host\":\"$1\",\"port\":22,\"user\":\"root\",\"hostKey\":\"$want\"" "$STATE/config.json" &&
    grep -qxF "      hostKey: \"$want\"" <<<"$yaml"
}
for h in sync-1 sync-2; do
  a=$NET.$((10 + ${h#sync-}))
  check "$h offers rsa, ecdsa and ed25519 host keys, the ones made for it" offered "$a" "$h"
  check "$h pinned by ed25519 alone (known_hosts, config.json, config --yaml)" pinned_ed25519 "$a" "$h"
done
ed_kh=$(mktemp)
printf '%s %s\n' "$A1" "$(cut -d' ' -f1,2 "$STATE/hosts/sync-1/ssh_host_ed25519_key.pub")" >"$ed_kh"
check "a client pinned by ed25519 connects to sync-1 (rsa, ecdsa, ed25519 host keys)" \
  "${ssh_base[@]}" -o "UserKnownHostsFile=$ed_kh" -o HostKeyAlgorithms=ssh-ed25519 "root@$A1" true
for alg in ecdsa-sha2-nistp256 rsa-sha2-512; do
  out=$("${ssh_base[@]}" -o "UserKnownHostsFile=$ed_kh" -o "HostKeyAlgorithms=$alg" "root@$A1" 'echo REACHED' 2>&1 || true)
  if [[ "$out" == *"Host key verification failed"* && "$out" != *REACHED* ]]; then
    ok "sync-1's $alg key is offered but refused: only ed25519 is pinned"
  else
    bad "sync-1's $alg key is offered but refused: only ed25519 is pinned (got: $out)"
  fi
done
rm -f "$ed_kh"

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
check_not "sync-2 unreachable while down" timeout 15 "${ssh_base[@]}" -o ConnectTimeout=3 "root@$A2" true
if ((SECONDS - t1 <= 10)); then ok "down host fails within bound"; else bad "down host took $((SECONDS - t1))s"; fi
check "sync-1 unaffected while sync-2 down" "${ssh_base[@]}" "root@$A1" true
"$FLEET" up sync-2 >/dev/null 2>&1
check "sync-2 reachable again after up" "${ssh_base[@]}" "root@$A2" true

# rebuild: a new machine behind sync-2 with three new host keys, pinned again by ed25519.
old_pubs=$(host_pubs sync-2 2>/dev/null || true) # (set -e: a missing key file is a failed check below, not an abort)
new_key=$("$FLEET" rebuild sync-2 2>/dev/null || true)
printed_new_key() { [[ "$new_key" == "ssh-ed25519 "* && "$new_key" == "$(cut -d' ' -f1,2 "$STATE/hosts/sync-2/ssh_host_ed25519_key.pub")" ]]; }
all_keys_new() { [[ -z "$(comm -12 <(printf '%s\n' "$old_pubs") <(host_pubs sync-2))" && "$(host_pubs sync-2 | wc -l)" == 3 ]]; }
check "rebuild prints sync-2's new ed25519 key" printed_new_key
check "rebuild made three new host keys" all_keys_new
check "rebuilt sync-2 offers its three new host keys" offered "$A2" sync-2
check "rebuilt sync-2 pinned by its new ed25519 key alone" pinned_ed25519 "$A2" sync-2
check "ssh root@sync-2 after rebuild (pinned by the new key)" "${ssh_base[@]}" "root@$A2" true

# --- leak check --------------------------------------------------------------------------------
# watch_words TAG STATE: what must be gone after that fleet's stop, as words for leaks():
# proc:<pid> (init and launcher of every host), pid:|net:|mnt:<inode> (every host's namespaces).
watch_words() {
  local state=$1 h f p
  for h in "$state"/hosts/*; do
    for f in init.pid launcher.pid; do echo "proc:$(<"$h/$f")"; done
    p=$(<"$h/init.pid")
    echo "pid:$(stat -L -c %i "/proc/$p/ns/pid")"
    echo "net:$(stat -L -c %i "/proc/$p/ns/net")"
    echo "mnt:$(stat -L -c %i "/proc/$p/ns/mnt")"
  done
}

# leaks ALLOW_RUN_NETNS TAG STATE WORD...: one line per leftover of that fleet; empty = clean.
# ALLOW_RUN_NETNS=1: the /run/netns mount point may stay (another fleet still uses it). It may
# also stay while any namespace is left in it: ours are reported by name below, so those are
# someone else's (a fleet started beside this run).
leaks() {
  local allow_run_netns=$1 tag=$2 state=$3 p st pidns netns mntns w
  shift 3
  local -a procs=() nss=()
  for w in "$@"; do
    case "$w" in
      proc:*) procs+=("${w#proc:}") ;;
      *) nss+=("$w") ;;
    esac
  done
  awk -v s="$state/" -v n="/run/netns/$tag-" '$2 == "/run/netns" || index($2, n) == 1 ||
    index($2, s) == 1 || index($4, s) > 0 {print "mount: " $0}' /proc/mounts |
    if ((run_netns_was_mount || allow_run_netns)) || [[ -n $(ls -A /run/netns 2>/dev/null) ]]; then
      grep -v ' /run/netns ' || true
    else
      cat
    fi
  ip netns list 2>/dev/null | awk -v t="$tag-" 'index($1, t) == 1 {print "netns: " $1}'
  ip -o link show 2>/dev/null | awk -F': ' -v t="$tag-" 'index($2, t) == 1 {print "link: " $2}'
  [[ ! -e "$state" ]] || echo "state dir: $state"
  for p in "${procs[@]}"; do
    st=$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    [[ -z "$st" || "$st" == Z ]] || echo "process: $p still alive ($st)"
  done
  while read -r p pidns netns mntns st; do
    [[ "$st" == Z* ]] && continue
    for w in "${nss[@]}"; do
      case "$w" in
        "pid:$pidns" | "net:$netns" | "mnt:$mntns")
          echo "process: $p in fleet namespace $w ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))" ;;
      esac
    done
  done < <(ps -e -o pid=,pidns=,netns=,mntns=,stat=)
  for p in /proc/[0-9]*; do
    w=$(readlink "$p/root" 2>/dev/null) || continue
    [[ "$w" == "$state"/* ]] && echo "process: ${p#/proc/} rooted in $w"
  done
  return 0
}

# all_alive WORD...: every proc:<pid> word is a living process (namespace words are skipped).
all_alive() {
  local w st
  for w in "$@"; do
    [[ "$w" == proc:* ]] || continue
    st=$(awk '/^State:/ {print $2}' "/proc/${w#proc:}/status" 2>/dev/null || true)
    [[ -n "$st" && "$st" != Z && "$st" != X ]] || return 1
  done
}

# --- a second fleet beside this one ------------------------------------------------------------
P1=$PEER_NET.11 P2=$PEER_NET.12
peer_ssh=(ssh -F "$PEER_STATE/ssh_config")
mapfile -t watch < <(watch_words "$STATE")
# A process a test might leave in a host netns from the root pid namespace: the other fleet's
# stop must leave it alone, this fleet's stop must kill it.
ip netns exec "$TAG-1" sleep 600 </dev/null >/dev/null 2>&1 &
planted=$!
disown "$planted"
watch+=("proc:$planted")

t0=$SECONDS
peer_started=1
if peer start 2 >/tmp/fleet-selftest.peer.$$ 2>&1; then
  ok "fleet $PEER start 2 beside fleet $ID ($((SECONDS - t0))s)"
else
  grep -q 'is already running' /tmp/fleet-selftest.peer.$$ && peer_started=0
  sed 's/^/  | /' /tmp/fleet-selftest.peer.$$
  bad "fleet $PEER start 2 beside fleet $ID"
fi
rm -f /tmp/fleet-selftest.peer.$$

check "fleet $PEER: netns $PEER_TAG-1/-2, veths $PEER_TAG-v1/-v2" bash -c \
  "ip netns list | grep -Eq '^$PEER_TAG-1( |\$)' && ip netns list | grep -Eq '^$PEER_TAG-2( |\$)' &&
   ip link show $PEER_TAG-v1 && ip link show $PEER_TAG-v2"
check "fleet $PEER: bridge $PEER_TAG-br at $PEER_NET.1/24" bash -c \
  "ip -o -4 addr show dev $PEER_TAG-br | grep -q ' $PEER_NET.1/24 '"
check "fleet $PEER: hosts sync-1/sync-2 at $P1/$P2" bash -c \
  "[[ \"\$(SYNC_FLEET_ID=$PEER SYNC_FLEET_STATE=$PEER_STATE '$FLEET' hosts | cut -f1,2 | tr '\t\n' ' ')\" == 'sync-1 $P1 sync-2 $P2 ' ]]"
check "fleet $PEER: config.json names $P1, $P2" bash -c \
  "grep -q '\"host\":\"$P1\"' '$PEER_STATE/config.json' && grep -q '\"host\":\"$P2\"' '$PEER_STATE/config.json'"
check "fleet $PEER: status all up" peer status
check "fleet $ID: status all up beside fleet $PEER" "$FLEET" status
for a in "$P1" "$P2"; do
  check "fleet $PEER: ssh root@$a with pinned key" "${peer_ssh[@]}" "root@$a" true
done
for a in "$A1" "$A2"; do
  check "fleet $ID: ssh root@$a with pinned key beside fleet $PEER" \
    "${ssh_base[@]}" "root@$a" true
done
check "fleet $PEER: ssh deploy@$P1 + passwordless sudo" \
  "${peer_ssh[@]}" "deploy@$P1" 'sudo -n true'
out=$("${peer_ssh[@]}" "root@$A1" 'echo REACHED' 2>&1 || true)
if [[ "$out" == *"Host key verification failed"* && "$out" != *REACHED* ]]; then
  ok "fleet $PEER's known_hosts does not vouch for fleet $ID's sync-1"
else
  bad "fleet $PEER's known_hosts does not vouch for fleet $ID's sync-1 (got: $out)"
fi
# Same host name, different host: fleet.sh ssh/exec pick the fleet by SYNC_FLEET_ID.
check "fleet $PEER: fleet.sh ssh sync-1 reaches $P1 (its own host key)" bash -c \
  "[[ \"\$(SYNC_FLEET_ID=$PEER SYNC_FLEET_STATE=$PEER_STATE '$FLEET' ssh sync-1 cat /etc/ssh/ssh_host_ed25519_key.pub)\" == \
     \"\$(cat '$PEER_STATE/hosts/sync-1/ssh_host_ed25519_key.pub')\" ]]"
check "fleet $PEER: fleet.sh exec sync-1 is the host at $P1" bash -c \
  "SYNC_FLEET_ID=$PEER SYNC_FLEET_STATE=$PEER_STATE '$FLEET' exec sync-1 ip -4 -o addr show dev eth0 | grep -q ' $P1/24 '"
check "fleet $ID: fleet.sh exec sync-1 is still the host at $A1" bash -c \
  "'$FLEET' exec sync-1 ip -4 -o addr show dev eth0 | grep -q ' $A1/24 '"
check_not "host keys differ between the fleets' sync-1" cmp -s \
  "$STATE/hosts/sync-1/ssh_host_ed25519_key.pub" "$PEER_STATE/hosts/sync-1/ssh_host_ed25519_key.pub"
check "fleet $PEER: HTTP :80 on $P1 answers" \
  bash -c "curl -fsS --noproxy '*' -m 5 http://$P1/ | grep -q 'Apache2 Debian Default Page'"
check_not "fleet $PEER host has no route to fleet $ID" peer exec sync-1 ip route get "$A1"
check_not "fleet $ID host has no route to fleet $PEER" "$FLEET" exec sync-1 ip route get "$P1"
check_not "start refuses fleet $PEER while it runs" peer start 1
check "fleet $PEER still up after the refused start" peer status
peer down sync-1 >/dev/null 2>&1
check_not "fleet $PEER: sync-1 unreachable while down" timeout 15 "${peer_ssh[@]}" -o ConnectTimeout=3 "root@$P1" true
check "fleet $ID: sync-1 unaffected by fleet $PEER's sync-1 down" \
  "${ssh_base[@]}" "root@$A1" true
peer up sync-1 >/dev/null 2>&1
check "fleet $PEER: sync-1 reachable again after up" "${peer_ssh[@]}" "root@$P1" true
peer freeze sync-2 >/dev/null 2>&1
check "fleet $ID: sync-2 answers while fleet $PEER's sync-2 is frozen" \
  "${ssh_base[@]}" "root@$A2" true
check "fleet $PEER: status reports sync-2 frozen" bash -c \
  "SYNC_FLEET_ID=$PEER SYNC_FLEET_STATE=$PEER_STATE '$FLEET' status | grep -q 'sync-2.*frozen'"
peer thaw sync-2 >/dev/null 2>&1
check "fleet $PEER: sync-2 answers after thaw" "${peer_ssh[@]}" "root@$P2" true

# Stop the second fleet: it must leave nothing, and take nothing of the first with it.
peer_watch=()
[[ -d "$PEER_STATE/hosts" ]] && mapfile -t peer_watch < <(watch_words "$PEER_STATE")
ip netns exec "$PEER_TAG-2" sleep 600 </dev/null >/dev/null 2>&1 &
disown "$!"
peer exec sync-1 bash -c 'sleep 600 </dev/null >/dev/null 2>&1 &' || true
t2=$SECONDS
if peer stop >/dev/null 2>&1; then ok "fleet $PEER stop ($((SECONDS - t2))s)"; else bad "fleet $PEER stop"; fi
peer_started=0
left=$(leaks 1 "$PEER_TAG" "$PEER_STATE" "${peer_watch[@]}")
if [[ -z "$left" ]]; then ok "nothing of fleet $PEER left after its stop"; else
  bad "left of fleet $PEER after its stop:"
  printf '  %s\n' "$left"
fi
check "fleet $ID: every process survived fleet $PEER's stop" all_alive "${watch[@]}"
check "fleet $ID: netns, veths, bridge survived fleet $PEER's stop" bash -c \
  "ip netns list | grep -Eq '^$TAG-1( |\$)' && ip netns list | grep -Eq '^$TAG-2( |\$)' &&
   ip link show $TAG-v1 && ip link show $TAG-v2 && ip -o -4 addr show dev $TAG-br | grep -q ' $NET.1/24 '"
check "fleet $ID: status all up after fleet $PEER's stop" "$FLEET" status
for a in "$A1" "$A2"; do
  check "fleet $ID: ssh root@$a with pinned key after fleet $PEER's stop" \
    "${ssh_base[@]}" "root@$a" true
done
check "fleet $ID: HTTP :80 on $A1 after fleet $PEER's stop" \
  bash -c "curl -fsS --noproxy '*' -m 5 http://$A1/ | grep -q 'Apache2 Debian Default Page'"
check "fleet $ID: exec after fleet $PEER's stop" bash -c "[[ \$('$FLEET' exec sync-2 hostname) == sync-2 ]]"

# --- stop of the fleet under test --------------------------------------------------------------
"$FLEET" exec sync-2 bash -c 'sleep 600 </dev/null >/dev/null 2>&1 &'
t2=$SECONDS
if "$FLEET" stop >/dev/null 2>&1; then ok "fleet stop ($((SECONDS - t2))s)"; else bad "fleet stop"; fi
left=$(leaks 0 "$TAG" "$STATE" "${watch[@]}")
if [[ -z "$left" ]]; then ok "nothing left after stop"; else bad "left after stop:"; printf '  %s\n' "$left"; fi
check "stop again when nothing runs" "$FLEET" stop

# --- the leak check is not blind, and stop cleans a crashed fleet's debris ----------------------
mkdir -p "$STATE/hosts/sync-9/merged"
: >"$STATE/created-run-netns-mount"
mount -t tmpfs selftest-leak "$STATE/hosts/sync-9/merged"
ip netns add "$TAG-9"
ip link add "$TAG-v9" type veth peer name eth0 netns "$TAG-9"
ip netns exec "$TAG-9" sleep 600 </dev/null >/dev/null 2>&1 &
disown "$!"
watch+=("net:$(stat -L -c %i "/run/netns/$TAG-9")")
left=$(leaks 0 "$TAG" "$STATE" "${watch[@]}")
for kind in "mount: " "netns: " "link: " "state dir" "process: "; do
  if [[ "$left" == *"$kind"* ]]; then
    ok "leak check catches a planted ${kind%: }"
  else
    bad "leak check misses a planted ${kind%: }"
  fi
done
if "$FLEET" stop >/dev/null 2>&1; then ok "stop cleans planted debris"; else bad "stop on debris"; fi
left=$(leaks 0 "$TAG" "$STATE" "${watch[@]}")
if [[ -z "$left" ]]; then ok "nothing left after stop on debris"; else bad "left:"; printf '  %s\n' "$left"; fi

trap - EXIT
echo "fleet-selftest: $passed passed, $failed failed"
((failed == 0))
