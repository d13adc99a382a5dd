// Benchmarks on the local fleet, in one run on the same hosts (README "Benchmarks"):
//   P1 upgrade of one host (upload + verify + venv + offline install + switch + reload + check)
//      vs the old process (pip install into the live venv + apachectl restart), medians of N runs,
//      with our breakdown by step from the host's own event log;
//   P2 rollback to a kept release (a swap) vs an upgrade;
//   P4 failed requests under constant load during our upgrade and rollback vs the old process;
//   the build step on a host with uv (as stage.sh does it) vs pip (as the hosts did before uv),
//      for the sample app and, given HEAVY (scripts/bench/heavy-release.sh's folder), the heavy one.
// Needs a running 3-host fleet (scripts/fleet.sh start 3); writes JSON to stdout.
//   usage: npx ts-node --transpile-only scripts/bench/fleetBench.ts [runs] [HEAVY]
import * as fs from "fs";
import * as path from "path";
import { Host, bootstrap, buildReleases, hosts, load, oldDeploy, release } from "../../test/fleet/hostHarness";
import { hostLayoutValue } from "../../components/hostLayout";
import { parseEvents, secondsBetween, stepSeconds } from "../lib/timeline";

const UPGRADES = ["1.1.5", "1.9", "1.10", "1.11", "2.0"];

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function round(value: number, digits = 2): number {
    return Number(value.toFixed(digits));
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
    const started = process.hrtime.bigint();
    const result = await work();
    return [result, Number(process.hrtime.bigint() - started) / 1e9];
}

async function ours(
    host: Host,
    dir: string,
    version: string,
): Promise<{ seconds: number; steps: Record<string, number> }> {
    const r = release(dir, version);
    const before = (await host.events()).length;
    // the bundle travels on the stage's own session: the upload is inside the stage
    const [result, installSeconds] = await timed(() => host.deploy(r, 10));
    if (result.code !== 0) {
        throw new Error(`${host.name}: install ${version} failed: ${result.stderr}`);
    }
    const steps = stepSeconds(parseEvents((await host.events()).slice(before).join("\n")));
    return { seconds: installSeconds, steps };
}

/**
 * The build step with uv and with pip on one host, `runs` times each, alternating, from the same
 * sdist and wheelhouse (scripts/bench/build-tools.sh); plus the real stage (uv) of the release,
 * first event → staged, on a host that has not built it.
 */
async function buildTools(host: Host, dir: string, version: string, runs: number): Promise<Record<string, unknown>> {
    const r = release(dir, version);
    const before = (await host.events()).length;
    const staged = await host.stage(r);
    if (staged.code !== 0) {
        throw new Error(`${host.name}: stage ${version} failed: ${staged.stderr}`);
    }
    const stage = secondsBetween(parseEvents((await host.events()).slice(before).join("\n")), "preflight", "staged");
    const script = fs.readFileSync(path.join(__dirname, "build-tools.sh"), "utf8");
    const work = `/var/tmp/sync-bench-${version}`;
    const sdist = `${work}/${hostLayoutValue("SYNC_RELEASE_PREFIX")}${version}${hostLayoutValue("SYNC_SDIST_SUFFIX")}`;
    const uv = `${hostLayoutValue("SYNC_TOOLS")}/uv-${hostLayoutValue("SYNC_UV_VERSION")}/uv`;
    await host.sh(`rm -rf ${work} && mkdir -p ${work} && cat >${work}/bundle.tar`, fs.readFileSync(r.bundlePath));
    const out = await host.sh(
        `tar -xf ${work}/bundle.tar -C ${work} && bash -s '${sdist}' '${work}/wheelhouse' '${uv}' '${runs}'; rm -rf ${work}`,
        script,
    );
    const times = JSON.parse(out.trim().split("\n").pop() as string) as { uv: number[]; pip: number[] };
    const uvMedian = median(times.uv);
    const pipMedian = median(times.pip);
    return {
        version,
        runs,
        uvSeconds: times.uv.map((t) => round(t)),
        pipSeconds: times.pip.map((t) => round(t)),
        uvMedianSeconds: round(uvMedian),
        pipMedianSeconds: round(pipMedian),
        ratio: round(uvMedian / pipMedian),
        stageSecondsUv: round(stage),
    };
}

async function main(): Promise<void> {
    const runs = Math.min(Number(process.argv[2] ?? UPGRADES.length), UPGRADES.length);
    const heavyDir = process.argv[3];
    const [a, b, c] = hosts();
    const dir = await buildReleases();
    await Promise.all([bootstrap(a, dir, "1.1.4"), bootstrap(c, dir, "1.1.4")]);
    const init = await oldDeploy(b, dir, "1.1.4", 8080);
    if (init.code !== 0) {
        throw new Error(`old-deploy init failed: ${init.stderr}`);
    }

    // uv vs pip, on the same host (sync-3, which has built neither): the sample app, then the heavy one.
    const build = {
        sample: await buildTools(c, dir, "2.0", runs),
        heavy: heavyDir ? await buildTools(c, heavyDir, heavyVersion(heavyDir), Math.min(runs, 3)) : undefined,
    };

    // P1: the same upgrades, ours on sync-1 and the old process on sync-2, interleaved.
    const upgrades: { seconds: number; steps: Record<string, number> }[] = [];
    const oldRuns: number[] = [];
    for (const version of UPGRADES.slice(0, runs)) {
        upgrades.push(await ours(a, dir, version));
        const [result, seconds] = await timed(() => oldDeploy(b, dir, version));
        if (result.code !== 0) {
            throw new Error(`old-deploy ${version} failed: ${result.stderr}`);
        }
        oldRuns.push(seconds);
    }
    const stepNames = [...new Set(upgrades.flatMap((u) => Object.keys(u.steps)))];
    const breakdown = Object.fromEntries(
        stepNames.map((s) => [s, round(median(upgrades.map((u) => u.steps[s] ?? 0)))]),
    );

    // P2: rollbacks to kept releases, alternating between the last two.
    const rollbacks: number[] = [];
    const kept = UPGRADES.slice(0, runs);
    for (let i = 0; i < runs; i++) {
        rollbacks.push((await ours(a, dir, kept[(runs - 2 - (i % 2) + kept.length) % kept.length])).seconds);
    }

    // P4: constant load on sync-3 during our upgrade and rollback, and on sync-2's old site during its upgrade.
    const underLoad = async (port: number, host: Host, deploy: () => Promise<unknown>) => {
        let finish: () => void = () => undefined;
        const deployed = new Promise<void>((resolve) => (finish = resolve));
        const counting = load(host.server.host, port, deployed);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await deploy();
        finish();
        return counting;
    };
    const loadUpgrade = await underLoad(80, c, () => ours(c, dir, "1.1.5"));
    const loadRollback = await underLoad(80, c, () => ours(c, dir, "1.1.4"));
    const loadOld = await underLoad(8080, b, () => oldDeploy(b, dir, "1.1.4"));

    const p1 = median(upgrades.map((u) => u.seconds));
    const old = median(oldRuns);
    const p2 = median(rollbacks);
    console.log(
        JSON.stringify(
            {
                runs,
                P1: {
                    oursMedianSeconds: round(p1),
                    oldMedianSeconds: round(old),
                    ratio: round(p1 / old),
                    goal: 1.2,
                    breakdownMedianSeconds: breakdown,
                    oursRuns: upgrades.map((u) => round(u.seconds)),
                    oldRuns: oldRuns.map((s) => round(s)),
                },
                P2: {
                    rollbackMedianSeconds: round(p2),
                    upgradeMedianSeconds: round(p1),
                    ratio: round(p2 / p1),
                    goal: 0.2,
                    rollbackRuns: rollbacks.map((s) => round(s)),
                },
                build,
                P4: {
                    oursUpgrade: {
                        requests: loadUpgrade.total,
                        failed: loadUpgrade.failed,
                        errors: loadUpgrade.errors,
                    },
                    oursRollback: {
                        requests: loadRollback.total,
                        failed: loadRollback.failed,
                        errors: loadRollback.errors,
                    },
                    oldProcess: { requests: loadOld.total, failed: loadOld.failed, errors: loadOld.errors },
                },
            },
            null,
            2,
        ),
    );
}

/** The newest heavy release of scripts/bench/heavy-release.sh's folder. */
function heavyVersion(dir: string): string {
    const versions = fs
        .readdirSync(dir)
        .map((name) => /^WeaveServer-(.+)\.tar\.gz$/.exec(name)?.[1])
        .filter((v): v is string => Boolean(v))
        .sort();
    return versions[versions.length - 1];
}

main().catch((error: Error) => {
    console.error(error);
    process.exit(1);
});
