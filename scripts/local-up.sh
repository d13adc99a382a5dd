#!/usr/bin/env bash
# Roll the pinned sync:version out to a local fleet of Debian hosts: `pulumi up` of the local stack
# through the real Pulumi engine. Run as root (the fleet lives in network namespaces).
#   usage: scripts/local-up.sh [N]        N hosts, default 3 (a running fleet is reused as it is)
# Installs and builds what is missing (scripts/setup-machine.sh: apt packages, Go, npm packages,
# the Pulumi CLI and the `command` plugin stand-in, the fleet's rootfs; then the sample releases
# into .artifacts/), starts the fleet, then runs scripts/local-stack.ts up: Pulumi's own output,
# then each host with the version it serves.
# The stack (project copy, stack file, file backend) lives in <fleet state>/stack; operate it with
#   scripts/local-stack.sh preview|up|refresh|destroy|pulumi ARGS...
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-machine.sh
# shellcheck source=scripts/lib/node-env.sh
. scripts/lib/node-env.sh
sync_node_env
scripts/build-releases.sh .artifacts >/dev/null
if ! scripts/fleet.sh status >/dev/null 2>&1; then
    scripts/fleet.sh stop >/dev/null 2>&1 || true
    scripts/fleet.sh start "${1:-3}"
fi
TS_NODE_TRANSPILE_ONLY=true exec node -r ts-node/register scripts/local-stack.ts up
