#!/usr/bin/env bash
# npm run bench: measure on a fresh local fleet, print the figures, write BENCHMARKS.md.
# Needs root (the fleet). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp -d)
trap 'scripts/fleet.sh stop >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

echo "== P5: the program under mocks, 1,000 servers (ts-node, as 'pulumi up' runs it) and compiled"
npx ts-node --transpile-only scripts/bench/programScale.ts 1000 | tee "$out/scale-ts-node.json"
# Compiled into ./bin (ignored by git) so node_modules resolves as for the sources.
rm -rf bin
npx tsc --outDir bin
cp -r components/remote bin/components/
node bin/scripts/bench/programScale.js 1000 | tee "$out/scale-compiled.json"
rm -rf bin

echo "== P1, P2, P4 on a fresh 3-host fleet"
scripts/fleet.sh stop >/dev/null 2>&1 || true
scripts/fleet.sh start 3 >/dev/null
npx ts-node --transpile-only scripts/bench/fleetBench.ts 5 | tee "$out/fleet.json"
scripts/fleet.sh stop >/dev/null

npx ts-node --transpile-only scripts/bench/report.ts "$out" >BENCHMARKS.md
echo "wrote BENCHMARKS.md"
