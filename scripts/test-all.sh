#!/usr/bin/env bash
# Every test tier, in order: static checks, unit (mocks), release (the release command, building
# in the fleet's rootfs), fleet (real hosts over SSH), engine (the local stack under the Pulumi CLI
# built from its Go module). Each tier that needs hosts starts a fresh local fleet of its own and
# stops it again, whatever happens. Needs root.
#   usage: scripts/test-all.sh [static|unit|release|fleet|engine ...]     (default: all)
# Fleet ids (scripts/fleet.sh SYNC_FLEET_ID): SYNC_TEST_FLEET_ID for the fleet tier (default 0),
# SYNC_TEST_ENGINE_FLEET_ID for the engine tier (default 1), SYNC_TEST_RELEASE_FLEET_ID for the
# release tier (default 2); the fleet selftest also starts the first free id after the fleet tier's.
# Runs scripts/setup-machine.sh first, whichever tiers are asked for.
set -euo pipefail
cd "$(dirname "$0")/.."
# First what the tiers need on this machine (apt packages, Go, node_modules, engine, rootfs).
bash scripts/setup-machine.sh

tiers=("$@")
[[ ${#tiers[@]} -gt 0 ]] || tiers=(static unit release fleet engine)
fleet_id=${SYNC_TEST_FLEET_ID:-0}
engine_fleet_id=${SYNC_TEST_ENGINE_FLEET_ID:-1}
release_fleet_id=${SYNC_TEST_RELEASE_FLEET_ID:-2}
results=$(mktemp -d)
stop_fleets() {
    SYNC_FLEET_ID=$fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
    SYNC_FLEET_ID=$engine_fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
    SYNC_FLEET_ID=$release_fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
}
trap 'stop_fleets; rm -rf "$results"' EXIT

run_jest() { # tier
    local tier=$1
    npx jest --selectProjects "$tier" --runInBand --json --outputFile "$results/$tier.json"
}

for tier in "${tiers[@]}"; do
    echo "=== tier: $tier ($(date -u +%H:%M:%S))"
    case $tier in
    static)
        npx tsc --noEmit
        npx eslint .
        npx prettier --check . >/dev/null
        bash scripts/shellcheck.sh
        ;;
    unit)
        run_jest unit
        ;;
    release)
        # One fleet host: a release with a compiled dependency is installed on it offline.
        export SYNC_FLEET_ID=$release_fleet_id
        scripts/fleet.sh stop
        scripts/fleet.sh start 1
        run_jest release
        scripts/fleet.sh stop
        unset SYNC_FLEET_ID
        ;;
    fleet)
        export SYNC_FLEET_ID=$fleet_id
        bash scripts/fleet-selftest.sh
        scripts/fleet.sh stop
        scripts/fleet.sh start 3
        run_jest fleet
        scripts/fleet.sh stop
        unset SYNC_FLEET_ID
        ;;
    engine)
        # The Pulumi CLI and the command plugin stand-in (and its own tests), then the local
        # stack under the engine on a fleet of its own.
        bash scripts/build-engine.sh
        (cd tools/command-standin && PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=${GOTOOLCHAIN:-auto} \
            GOFLAGS="-mod=readonly -buildvcs=false -trimpath" go test -count=1 ./...)
        export SYNC_FLEET_ID=$engine_fleet_id
        scripts/fleet.sh stop
        scripts/fleet.sh start 3
        run_jest engine
        scripts/fleet.sh stop
        unset SYNC_FLEET_ID
        ;;
    *)
        echo "unknown tier '$tier' (static, unit, release, fleet, engine)" >&2
        exit 2
        ;;
    esac
done

# One closing line for every tier together (the JS is single-quoted on purpose).
# shellcheck disable=SC2016
node -e '
const fs = require("fs");
let passed = 0, failed = 0;
for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
' "$results"
