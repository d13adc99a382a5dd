#!/usr/bin/env bash
# npm run bench: measure on fresh local fleets, print the figures, write BENCHMARKS.md and the
# timelines in docs/bench/. Needs root (the fleets) and the engine (scripts/build-engine.sh).
# Takes about 45 minutes. Fleets: SYNC_BENCH_FLEET_3 (3 hosts, default id 3) and
# SYNC_BENCH_FLEET_8 (8 hosts, default id 4); only those two are started and stopped.
# SYNC_BENCH_OUT keeps the raw JSON in that folder (default: a temporary one, removed).
# Everything runs from a snapshot of the working tree taken at the start ($out/src), so edits made
# while the bench runs (a changed remote script re-runs steps on every host) don't leak into it.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

F3=${SYNC_BENCH_FLEET_3:-3}
F8=${SYNC_BENCH_FLEET_8:-4}
export TS_NODE_TRANSPILE_ONLY=true
keep=${SYNC_BENCH_OUT:-}
out=${keep:-$(mktemp -d)}
mkdir -p "$out"
src=$out/src
rm -rf "$src"
mkdir -p "$src/tools"
cp -r index.ts components scripts test tsconfig.json package.json Pulumi.yaml Pulumi.local.yaml "$src/"
cp -r tools/engine "$src/tools/"
ln -s "$repo/node_modules" "$src/node_modules"
cd "$src"
compiled=bin/bench
fleet() {
  local id=$1
  shift
  SYNC_FLEET_ID=$id SYNC_FLEET_STATE=/run/sync-fleet-$id scripts/fleet.sh "$@"
}
cleanup() {
  fleet "$F3" stop >/dev/null 2>&1 || true
  fleet "$F8" stop >/dev/null 2>&1 || true
  [[ -n $keep ]] || rm -rf "$out"
}
trap cleanup EXIT
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
mark() { printf '%s %s\n' "$1" "$(loadavg)" >>"$out/load.txt"; }
: >"$out/load.txt"
mark start

echo "== releases: the sample ones and the heavy pair (pandas + scipy in the wheelhouse)"
scripts/build-releases.sh "$out/releases" >/dev/null
scripts/bench/heavy-release.sh "$out/releases" "$out/heavy"

echo "== the compiled tree ($compiled): tsc, plus what the program and the runner read beside it"
rm -rf "$compiled"
npx tsc --outDir "$compiled"
cp -r components/remote components/local "$compiled/components/"
cp Pulumi.yaml Pulumi.local.yaml "$compiled/"
mkdir -p "$compiled/tools/engine"
cp tools/engine/versions.env "$compiled/tools/engine/"
ln -s ../../node_modules "$compiled/node_modules"

echo "== P5: the program under mocks, 1,000 servers (ts-node, as 'pulumi up' runs it) and compiled"
npx ts-node scripts/bench/programScale.ts 1000 | tee "$out/scale-ts-node.json"
node "$compiled/scripts/bench/programScale.js" 1000 | tee "$out/scale-compiled.json"
mark mocks

echo "== engine, 8 hosts: first install, P5 no-op up, P3 batch 1/2/8 (sample and heavy app), P2 (stand-in command plugin)"
fleet "$F8" stop >/dev/null 2>&1 || true
fleet "$F8" start 8 >/dev/null
export SYNC_FLEET_STATE=/run/sync-fleet-$F8
npx ts-node scripts/bench/engineBench.ts fleet8 "$out/engine-fleet8.json" "$out/releases" "$out/heavy" "$repo/docs/bench" "$PWD/$compiled"
mark fleet8
echo "== engine, P5 preview of 50, 200, 1,000 servers: ts-node, then compiled JS"
npx ts-node scripts/bench/engineBench.ts preview "$out/preview-ts-node.json" "$out/releases" 50 200 1000
npx ts-node scripts/bench/engineBench.ts preview "$out/preview-compiled.json" "$out/releases" 50 200 1000 \
  --compiled "$PWD/$compiled"
mark previews
fleet "$F8" stop >/dev/null

echo "== engine, 3 hosts: P2 light and heavy releases (stand-in command plugin)"
fleet "$F3" stop >/dev/null 2>&1 || true
fleet "$F3" start 3 >/dev/null
export SYNC_FLEET_STATE=/run/sync-fleet-$F3
npx ts-node scripts/bench/engineBench.ts fleet3 "$out/engine-fleet3.json" "$out/releases" "$out/heavy"
mark fleet3
fleet "$F3" stop >/dev/null

echo "== P1, P2, P4 and uv vs pip at script level on a fresh 3-host fleet"
fleet "$F3" start 3 >/dev/null
SYNC_FLEET_ID=$F3 npx ts-node scripts/bench/fleetBench.ts 5 "$out/heavy" | tee "$out/fleet.json"
mark fleet
fleet "$F3" stop >/dev/null

npx ts-node scripts/bench/report.ts "$out" >"$repo/BENCHMARKS.md"
echo "wrote BENCHMARKS.md (raw figures: ${keep:-removed with the temporary folder})"
