#!/usr/bin/env bash
# npm run bench: measure this tree and today's layout (the commit before the OpenSSH transport,
# SYNC_BENCH_OLD_COMMIT, default f5dba13; scripts/bench/old-layout.sh) side by side on fresh local
# fleets, print the figures, write BENCHMARKS.md and the timelines in docs/bench/. Needs root (the
# fleets), the engine (scripts/build-engine.sh), Go (the old layout's stand-in) and the npm
# registry once (the old layout's node_modules). About an hour, alone on a 2-core machine.
#
# Fleets: SYNC_BENCH_FLEET_3 (3 hosts, default id 3) and SYNC_BENCH_FLEET_8 (8 hosts, default id 4);
# only those two are started and stopped, each afresh for every layout.
# Parts, for validating one piece at a time (BENCHMARKS.md and docs/bench are rewritten only by a
# run of every part and both layouts at full size; a partial run leaves its report in its folder):
#   SYNC_BENCH_LAYOUTS   "old new" (default), "old" or "new"
#   SYNC_BENCH_PARTS     any of: mocks fleet8 previews fleet3 script (default: all)
#     mocks     the program under mocks, SYNC_BENCH_MOCK_SERVERS (1000) servers, ts-node and compiled
#     fleet8    P3, P2, no-op up and preview, the read before planning, logins (8 hosts)
#     previews  preview of SYNC_BENCH_PREVIEW_SERVERS ("50 200") servers, ts-node and compiled (the
#               3.276 engine re-encrypts the whole snapshot after every step of a preview: 1,000
#               servers grew past 17 GB of memory within 8 minutes in either layout)
#     fleet3    P2 on 3 hosts, sample and heavy app
#     script    P1, P2, P4, uv vs pip at script level (this tree only)
#   SYNC_BENCH_HOSTS_8=N    the "8-host" fleet with N hosts; SYNC_BENCH_HEAVY=0 leaves the heavy app out
# SYNC_BENCH_OUT keeps the raw JSON in that folder (default: a temporary one, removed after a full
# run, kept after a partial one).
# Everything runs from a snapshot of the working tree taken at the start ($out/src; today's layout
# in $out/old), so edits made while the bench runs don't leak into it.
set -euo pipefail

# The whole script is read before it runs (a function, then `exit` on the same line as its call),
# so an edit made while the bench runs can't shift what bash reads next.
main() {
  cd "$(dirname "$0")/../.."
  repo=$PWD
  # shellcheck source=scripts/lib/node-env.sh
  . scripts/lib/node-env.sh
  sync_node_env

  F3=${SYNC_BENCH_FLEET_3:-3}
  F8=${SYNC_BENCH_FLEET_8:-4}
  parts=" ${SYNC_BENCH_PARTS:-mocks fleet8 previews fleet3 script} "
  layouts=${SYNC_BENCH_LAYOUTS:-old new}
  hosts8=${SYNC_BENCH_HOSTS_8:-8}
  heavy_on=${SYNC_BENCH_HEAVY:-1}
  preview_servers=${SYNC_BENCH_PREVIEW_SERVERS:-50 200}
  mock_servers=${SYNC_BENCH_MOCK_SERVERS:-1000}
  full=0
  if [[ $parts == " mocks fleet8 previews fleet3 script " && $layouts == "old new" && $hosts8 == 8 &&
    $heavy_on == 1 && $preview_servers == "50 200" && $mock_servers == 1000 ]]; then
    full=1
  fi
  has() { [[ $parts == *" $1 "* ]]; }
  for layout in $layouts; do
    [[ $layout == old || $layout == new ]] || { echo "SYNC_BENCH_LAYOUTS: unknown layout '$layout'" >&2; exit 2; }
  done

  export TS_NODE_TRANSPILE_ONLY=true
  keep=${SYNC_BENCH_OUT:-}
  out=${keep:-$(mktemp -d /var/tmp/sync-bench.XXXXXX)}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  src=$out/src
  rm -rf "$src" "$out/svg"
  mkdir -p "$src/tools" "$out/svg"
  cp -r index.ts components release scripts test tsconfig.json package.json Pulumi.yaml Pulumi.local.yaml "$src/"
  cp -r tools/engine "$src/tools/"
  ln -s "$repo/node_modules" "$src/node_modules"
  cd "$src"
  fleet() {
    local id=$1
    shift
    SYNC_FLEET_ID=$id SYNC_FLEET_STATE=/run/sync-fleet-$id scripts/fleet.sh "$@"
  }
  fresh_fleet() {
    fleet "$1" stop >/dev/null 2>&1 || true
    fleet "$1" start "$2" >/dev/null
  }
  # shellcheck disable=SC2317 # run by the EXIT trap
  cleanup() {
    fleet "$F3" stop >/dev/null 2>&1 || true
    fleet "$F8" stop >/dev/null 2>&1 || true
    if [[ -z $keep && $full == 1 ]]; then
      rm -rf "$out"
    fi
  }
  trap cleanup EXIT
  began=$SECONDS
  mark() { printf '%s %s %s\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" "$((SECONDS - began))" >>"$out/load.txt"; }
  : >"$out/load.txt"
  commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$repo" status --porcelain 2>/dev/null) ]] || commit="$commit + uncommitted changes"
  printf 'commit=%s\nparts=%s\nlayouts=%s\nhosts8=%s\nheavy=%s\npreviewServers=%s\nmockServers=%s\nfull=%s\n' \
    "$commit" "$(xargs <<<"$parts")" "$layouts" "$hosts8" "$heavy_on" "$preview_servers" "$mock_servers" "$full" >"$out/run.txt"
  mark start
  bench() { npx ts-node scripts/bench/engineBench.ts "$@"; }

  echo "== releases: the sample ones and the heavy ones (pandas + scipy in the wheelhouse)"
  scripts/build-releases.sh "$out/releases" >/dev/null
  heavy=-
  if [[ $heavy_on == 1 ]] && { has fleet8 || has fleet3 || has script; }; then
    scripts/bench/heavy-release.sh "$out/releases" "$out/heavy"
    heavy=$out/heavy
  fi

  # compile DIR: the tsc output of the tree in DIR at DIR/bin/bench, with what the program and the
  # runner read beside it.
  compile() {
    local tree=$1
    (cd "$tree" && rm -rf bin/bench && npx tsc --outDir bin/bench)
    cp -r "$tree/components/remote" "$tree/components/local" "$tree/bin/bench/components/"
    cp "$tree/Pulumi.yaml" "$tree/Pulumi.local.yaml" "$tree/bin/bench/"
    mkdir -p "$tree/bin/bench/tools/engine"
    cp "$tree/tools/engine/versions.env" "$tree/bin/bench/tools/engine/"
    ln -s ../../node_modules "$tree/bin/bench/node_modules"
  }
  declare -A tree compiled
  tree[new]=$src
  if [[ " $layouts " == *" old "* ]]; then
    echo "== today's layout (${SYNC_BENCH_OLD_COMMIT:-f5dba13}): its tree, node_modules, stand-in and engine home"
    while IFS='=' read -r key value; do
      export "$key=$value"
    done < <(SYNC_BENCH_GIT_DIR=$repo scripts/bench/old-layout.sh "$out")
    tree[old]=$SYNC_BENCH_OLD_TREE
  fi
  if has mocks || has fleet8 || has previews; then
    echo "== the compiled trees (tsc), for the figures that also run compiled"
    for layout in $layouts; do
      compile "${tree[$layout]}"
      compiled[$layout]=${tree[$layout]}/bin/bench
    done
  fi
  mark prepare

  if has mocks; then
    echo "== the program under mocks, $mock_servers servers (ts-node, as 'pulumi up' runs it, and compiled)"
    for layout in $layouts; do
      (cd "${tree[$layout]}" && npx ts-node scripts/bench/programScale.ts "$mock_servers") |
        tee "$out/scale-$layout-ts-node.json"
      (cd "${tree[$layout]}" && node "${compiled[$layout]}/scripts/bench/programScale.js" "$mock_servers") |
        tee "$out/scale-$layout-compiled.json"
    done
    mark mocks
  fi

  if has fleet8 || has previews; then
    for layout in $layouts; do
      echo "== $layout layout, $hosts8 hosts (fleet $F8): P3, P2, no-op, the read before planning, logins; previews"
      fresh_fleet "$F8" "$hosts8"
      export SYNC_FLEET_STATE=/run/sync-fleet-$F8
      if has fleet8; then
        bench fleet8 "$out/engine-fleet8-$layout.json" "$out/releases" "$heavy" "$out/svg" \
          --layout "$layout" --compiled "${compiled[$layout]}"
        mark "fleet8-$layout"
      fi
      if has previews; then
        read -ra counts <<<"$preview_servers"
        bench preview "$out/preview-$layout-ts-node.json" "$out/releases" "${counts[@]}" --layout "$layout"
        bench preview "$out/preview-$layout-compiled.json" "$out/releases" "${counts[@]}" --layout "$layout" \
          --compiled "${compiled[$layout]}"
        mark "previews-$layout"
      fi
      fleet "$F8" stop >/dev/null
    done
  fi

  if has fleet3; then
    for layout in $layouts; do
      echo "== $layout layout, 3 hosts (fleet $F3): P2, sample and heavy app"
      fresh_fleet "$F3" 3
      export SYNC_FLEET_STATE=/run/sync-fleet-$F3
      bench fleet3 "$out/engine-fleet3-$layout.json" "$out/releases" "$heavy" --layout "$layout"
      mark "fleet3-$layout"
      fleet "$F3" stop >/dev/null
    done
  fi

  if has script && [[ " $layouts " == *" new "* ]]; then
    echo "== P1, P2, P4 and uv vs pip at script level on a fresh 3-host fleet (this tree)"
    fresh_fleet "$F3" 3
    SYNC_FLEET_ID=$F3 npx ts-node scripts/bench/fleetBench.ts 5 "${heavy#-}" | tee "$out/fleet.json"
    mark script
    fleet "$F3" stop >/dev/null
  fi

  npx ts-node scripts/bench/report.ts "$out" >"$out/BENCHMARKS.md"
  if [[ $full == 1 ]]; then
    cp "$out/BENCHMARKS.md" "$repo/BENCHMARKS.md"
    rm -f "$repo"/docs/bench/*.svg
    mkdir -p "$repo/docs/bench"
    cp "$out"/svg/*.svg "$repo/docs/bench/"
    echo "wrote BENCHMARKS.md and docs/bench/ (raw figures: ${keep:-removed with the temporary folder}); $((SECONDS - began)) s"
  else
    echo "partial run ($(tr '\n' ' ' <"$out/run.txt")): report in $out/BENCHMARKS.md, timelines in $out/svg;"
    echo "BENCHMARKS.md and docs/bench untouched; $((SECONDS - began)) s"
  fi
}

main "$@"; exit
