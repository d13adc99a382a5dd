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
#
# The engine tier runs with the CLI of scripts/build-engine.sh and the command plugin stand-in it
# registers. SYNC_RELEASE_PLUGINS=<dir> runs it instead with the plugins in <dir> (a
# `pulumi-resource-command` and a `pulumi-language-nodejs`, e.g. built by hand from the released
# sources): scripts/released-plugins.sh registers them in a PULUMI_HOME of its own (a temporary
# one, removed afterwards; never the engine cache's home) and the tests run with it
# (SYNC_RELEASE_PULUMI_HOME). Without a nodejs language host the plain-CLI test
# (test/engine/plainCli.test.ts) is reported skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
# First what the tiers need on this machine (apt packages, Go, Node.js, node_modules, engine,
# rootfs); then the Node.js LTS it chose (the machine's own when >= 22) first on PATH.
bash scripts/setup-machine.sh
# shellcheck source=scripts/lib/node-env.sh
. scripts/lib/node-env.sh
sync_node_env

tiers=("$@")
[[ ${#tiers[@]} -gt 0 ]] || tiers=(static unit release fleet engine)
fleet_id=${SYNC_TEST_FLEET_ID:-0}
engine_fleet_id=${SYNC_TEST_ENGINE_FLEET_ID:-1}
release_fleet_id=${SYNC_TEST_RELEASE_FLEET_ID:-2}
# SYNC_TEST_RESULTS=<dir>: keep each jest run's JSON results there (default: a temporary dir).
if [[ -n "${SYNC_TEST_RESULTS:-}" ]]; then
    mkdir -p "$SYNC_TEST_RESULTS"
    results=$(cd "$SYNC_TEST_RESULTS" && pwd) keep_results=1
else
    results=$(mktemp -d) keep_results=0
fi
plugins_home=
failed_runs=0
stop_fleets() {
    SYNC_FLEET_ID=$fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
    SYNC_FLEET_ID=$engine_fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
    SYNC_FLEET_ID=$release_fleet_id scripts/fleet.sh stop >/dev/null 2>&1 || true
}
cleanup() {
    stop_fleets
    ((keep_results)) || rm -rf "$results"
    [[ -z "$plugins_home" ]] || rm -rf "$plugins_home"
}
trap cleanup EXIT

run_jest() { # jest project
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
        if [[ -n "${SYNC_RELEASE_PLUGINS:-}" ]]; then
            plugins_home=$(mktemp -d "${TMPDIR:-/tmp}/sync-release-plugins-home.XXXXXX")
            bash scripts/released-plugins.sh "$SYNC_RELEASE_PLUGINS" "$plugins_home"
            export SYNC_RELEASE_PULUMI_HOME=$plugins_home
        fi
        export SYNC_FLEET_ID=$engine_fleet_id
        scripts/fleet.sh stop
        scripts/fleet.sh start 3
        # A failed run does not stop the tier: the plain-CLI run still runs, the fleet is still
        # stopped, and the closing line counts every failure.
        run_jest engine || failed_runs=$((failed_runs + 1))
        scripts/fleet.sh stop
        # The plain `pulumi up` of a project copy, on a fresh fleet (same id) of its own.
        scripts/fleet.sh start 3
        run_jest engine-cli || failed_runs=$((failed_runs + 1))
        scripts/fleet.sh stop
        unset SYNC_FLEET_ID SYNC_RELEASE_PULUMI_HOME
        ;;
    *)
        echo "unknown tier '$tier' (static, unit, release, fleet, engine)" >&2
        exit 2
        ;;
    esac
done

# One closing line for every tier together (the JS is single-quoted on purpose). Skipped tests
# are counted apart, never as passed; a jest run that exited non-zero fails the whole, even when
# its results count no failed test (e.g. it wrote none).
# shellcheck disable=SC2016
node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(`${process.argv[1]}/${f}`, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests + r.numTodoTests;
}
const runs = Number(process.argv[2]);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped` + (runs ? ` (${runs} jest run(s) exited non-zero)` : ""));
process.exit(failed === 0 && runs === 0 && passed > 0 ? 0 : 1);
' "$results" "$failed_runs"
