#!/usr/bin/env bash
# Roll the pinned sync:version (Pulumi.local.yaml) out to a local fleet of Debian hosts.
#   usage: sudo scripts/local-rollout.sh            (SYNC_VERSION=1.1.5 to pin another release)
# Builds the sample releases, starts the fleet if it isn't running, then runs the commands the
# stack declares for the local stack (see scripts/lib/localRollout.ts and README: the Pulumi
# engine can't be built on this machine yet).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -d node_modules ]] || npm ci --no-audit --no-fund
scripts/build-releases.sh .artifacts >/dev/null
if ! scripts/fleet.sh status >/dev/null 2>&1; then
    scripts/fleet.sh stop >/dev/null 2>&1 || true
    scripts/fleet.sh start 3
fi
npx ts-node --transpile-only scripts/lib/localRollout.ts
