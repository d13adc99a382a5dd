// Benchmarks under the real Pulumi engine (the CLI scripts/build-engine.sh built; the `command`
// plugin's stand-in unless a released one is installed), one layout at a time
// (scripts/bench/layouts.ts: "new", this tree; "old", today's layout from scripts/bench/old-layout.sh),
// each through its own runner exactly as its scripts/local-stack.ts runs it, on a running local
// fleet. Every measured `up` and `preview` starts with no SSH master connection to the fleet's hosts
// (as an operator's first of the day: the engine tier's closeLogins ends the ones the last run
// kept) and counts the logins each host's sshd accepted.
//
//   engineBench.ts fleet8  OUT RELEASES HEAVY|- SVGDIR --layout L [--compiled DIR]
//        first install; no-op up and preview (new: with and without the read before planning,
//        and the read's own cost per host); P3 sample app at batchSize 1, 2, 8; P2 upgrade and
//        rollback at batchSize 1 with their logins (new: again with SYNC_SSH_PERSIST=1, a login a
//        step); P3 heavy app (skipped when HEAVY is -); the no-op up again compiled, given DIR
//   engineBench.ts fleet3  OUT RELEASES HEAVY|- --layout L     P2 light and heavy, batchSize 1
//   engineBench.ts preview OUT RELEASES N… --layout L [--compiled DIR]
//        preview of a new stack of N servers (new: sync:observe false; the read's cost is fleet8's)
// The fleet is the one SYNC_FLEET_ID / SYNC_FLEET_STATE names (scripts/fleet.sh).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadReleaseArtifact } from "../../components/artifacts";
import { hostScriptsHash } from "../../components/hostScripts";
import { OBSERVE_PARALLEL, ObservationTarget, observeFleet, observeHost } from "../../components/observe";
import { FLEET_STATE, acceptedLogins, closeLogins, hostEvents, onHost } from "../../test/engine/engineHarness";
import { FleetConfig, loadFleet } from "../lib/localStack";
import { HostEvent } from "../lib/timeline";
import { BenchStack } from "./benchStack";
import { Layout, layoutOf } from "./layouts";
import { timelineSvg } from "./timelineSvg";
import {
    OpResult,
    UpAnalysis,
    analyzeUp,
    loginsPerHost,
    median,
    p2Summary,
    p3Row,
    round,
    stripEvents,
} from "./upAnalysis";

const log = (text: string): void => {
    process.stderr.write(`[engine-bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};

// ---------------------------------------------------------------------------------------------
// What the hosts say (through scripts/fleet.sh exec: their own namespaces, no SSH).

type Counts = Record<string, number>;
async function perHost(names: string[], read: (name: string) => Promise<number>): Promise<Counts> {
    const result: Counts = {};
    await Promise.all(names.map(async (name) => (result[name] = await read(name))));
    return result;
}
const eventCounts = (names: string[]): Promise<Counts> =>
    perHost(names, async (name) => (await hostEvents(name)).length);
const loginCounts = (names: string[]): Promise<Counts> => perHost(names, acceptedLogins);
const sshdLogLines = (names: string[]): Promise<Counts> =>
    perHost(names, async (name) => Number((await onHost(name, "wc -l </var/log/sshd.log")).trim()));
async function eventsSince(since: Counts): Promise<Record<string, HostEvent[]>> {
    const result: Record<string, HostEvent[]> = {};
    await Promise.all(
        Object.keys(since).map(async (name) => (result[name] = (await hostEvents(name)).slice(since[name]))),
    );
    return result;
}
const delta = (before: Counts, after: Counts): Counts =>
    Object.fromEntries(Object.keys(before).map((name) => [name, after[name] - before[name]]));
const total = (counts: Counts): number => Object.values(counts).reduce((sum, n) => sum + n, 0);

// ---------------------------------------------------------------------------------------------

/** A fleet and what the bench needs of it. */
interface Fleet {
    config: FleetConfig;
    names: string[];
    addresses: string[];
}

function fleetOf(): Fleet {
    const config = loadFleet(FLEET_STATE);
    return { config, names: config.servers.map((s) => s.name), addresses: config.servers.map((s) => s.host) };
}

/** One `up`: cold (no master connection), its hosts' events and logins read around it. */
async function measuredUp(
    stack: BenchStack,
    fleet: Fleet,
    label: string,
    version: string,
    batchSize: number,
    env: Record<string, string> = {},
): Promise<UpAnalysis> {
    stack.set("sync:version", version);
    stack.set("sync:rollout.batchSize", String(batchSize));
    await closeLogins(fleet.addresses);
    const [since, loginsBefore] = await Promise.all([eventCounts(fleet.names), loginCounts(fleet.names)]);
    log(`${stack.layout.name} ${label}: up ${version}, batchSize ${batchSize} ${JSON.stringify(env)}`);
    const run = await stack.op("up", env);
    const [events, loginsAfter] = await Promise.all([eventsSince(since), loginCounts(fleet.names)]);
    const up = analyzeUp(label, stack.layout.name, version, batchSize, run, events);
    const logins = delta(loginsBefore, loginsAfter);
    for (const host of up.hosts) {
        host.logins = logins[host.host];
    }
    if (Object.keys(env).length) {
        up.env = env;
    }
    log(
        `${stack.layout.name} ${label}: ${up.wallSeconds} s, ${total(logins)} logins (${JSON.stringify(up.resourceOps)})`,
    );
    return up;
}

/** A preview, cold: wall, memory, and what reached the hosts (sshd log lines, logins, events). */
async function measuredPreview(stack: BenchStack, fleet: Fleet, label: string): Promise<Record<string, unknown>> {
    await closeLogins(fleet.addresses);
    const [lines, logins, events] = await Promise.all([
        sshdLogLines(fleet.names),
        loginCounts(fleet.names),
        eventCounts(fleet.names),
    ]);
    log(`${stack.layout.name} ${label}`);
    const run = await stack.op("preview");
    const [linesAfter, loginsAfter, eventsAfter] = await Promise.all([
        sshdLogLines(fleet.names),
        loginCounts(fleet.names),
        eventCounts(fleet.names),
    ]);
    const result = {
        ...previewFigures(run),
        ...hostEffects(lines, linesAfter, logins, loginsAfter, events, eventsAfter),
    };
    log(`${stack.layout.name} ${label}: ${JSON.stringify(result)}`);
    return result;
}

function hostEffects(
    lines: Counts,
    linesAfter: Counts,
    logins: Counts,
    loginsAfter: Counts,
    events: Counts,
    eventsAfter: Counts,
): Record<string, number> {
    return {
        sshdLogLinesAdded: total(delta(lines, linesAfter)),
        logins: total(delta(logins, loginsAfter)),
        hostEventsAdded: total(delta(events, eventsAfter)),
    };
}

function previewFigures(run: OpResult): Record<string, unknown> {
    const { times } = run;
    const pre = times.events.filter((e) => e.kind === "resourcePreEvent");
    const firstResource = pre[0]?.at ?? times.end;
    const lastResource = pre[pre.length - 1]?.at ?? times.end;
    // The first resource of the fleet: after the program read the hosts (where it does).
    const fleetDeclared = pre.find((e) => e.type === "sync:fleet:SyncFleet")?.at ?? firstResource;
    const ops: Record<string, number> = {};
    for (const event of pre) {
        ops[event.op ?? "?"] = (ops[event.op ?? "?"] ?? 0) + 1;
    }
    return {
        wallSeconds: run.wallSeconds,
        resources: pre.length,
        resourceOps: ops,
        runnerLoadSeconds: round((times.modulesLoaded - times.processStart) / 1000),
        stackOpenSeconds: round((times.stackOpen - times.modulesLoaded) / 1000),
        toFirstResourceSeconds: round((firstResource - times.stackOpen) / 1000),
        toFleetSeconds: round((fleetDeclared - firstResource) / 1000),
        registeringSeconds: round((lastResource - fleetDeclared) / 1000),
        afterLastResourceSeconds: round((times.end - lastResource) / 1000),
        peakMb: run.peak.peakMb,
        peakByCommand: run.peak.byCommand,
        cpuSecondsByCommand: run.peak.cpuSecondsByCommand,
    };
}

/** Write an up's timeline picture. */
function picture(svgDir: string, file: string, up: UpAnalysis, title: string): string {
    fs.mkdirSync(svgDir, { recursive: true });
    fs.writeFileSync(
        path.join(svgDir, file),
        timelineSvg(
            up,
            `${title} (${up.layout === "old" ? "today's layout" : "this commit"}, ${up.commandPlugin} command plugin)`,
        ),
    );
    return file;
}

/** P3: one upgrade per batch size, each against its physical limit. */
async function p3Runs(
    stack: BenchStack,
    fleet: Fleet,
    svgDir: string,
    app: string,
    plan: [number, string][],
): Promise<{ rows: Record<string, unknown>[]; ups: UpAnalysis[] }> {
    const rows: Record<string, unknown>[] = [];
    const ups: UpAnalysis[] = [];
    for (const [batchSize, version] of plan) {
        const up = await measuredUp(stack, fleet, `P3 ${app} batch ${batchSize}`, version, batchSize);
        ups.push(up);
        const svg = picture(
            svgDir,
            `p3-${app}-batch${batchSize}-${stack.layout.name}.svg`,
            up,
            `P3 (${app} app): pulumi up ${version} on ${fleet.names.length} hosts, batchSize ${batchSize}`,
        );
        rows.push(p3Row(up, app, svg));
    }
    return { rows, ups };
}

/**
 * The read before planning on its own (components/observe.ts, as the program calls it): each host
 * alone from cold (its login included) and again at once (its master still up), then every host
 * at once from cold (the program reads up to OBSERVE_PARALLEL at once).
 */
async function observationCost(fleet: Fleet, artifactDir: string, version: string): Promise<Record<string, unknown>> {
    const release = loadReleaseArtifact(artifactDir, version);
    const targets: ObservationTarget[] = fleet.config.servers.map((server) => ({
        server: server.name,
        user: server.user,
        host: server.host,
        port: server.port,
        hostKey: server.hostKey,
        version,
        sdistSha256: release.sha256,
        scriptsHash: hostScriptsHash(),
    }));
    const key = fs.readFileSync(fleet.config.sshPrivateKeyPath, "utf8");
    const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
        const started = process.hrtime.bigint();
        const result = await work();
        return [result, Number(process.hrtime.bigint() - started) / 1e9];
    };
    const cold: number[] = [];
    const warm: number[] = [];
    await closeLogins(fleet.addresses);
    for (const target of targets) {
        for (const into of [cold, warm]) {
            const [result, seconds] = await timed(() => observeHost(target, key));
            if (!result.observed) {
                throw new Error(`observing ${target.server}: ${result.error}`);
            }
            into.push(round(seconds));
        }
    }
    await closeLogins(fleet.addresses);
    const [all, allSeconds] = await timed(() => observeFleet(targets, key, OBSERVE_PARALLEL));
    const failed = all.filter((r) => !r.observed);
    if (failed.length) {
        throw new Error(`observing every host: ${failed.map((r) => `${r.server}: ${r.error}`).join("; ")}`);
    }
    await closeLogins(fleet.addresses);
    const perHostCold = median(cold);
    return {
        hosts: targets.length,
        parallel: OBSERVE_PARALLEL,
        coldSeconds: cold,
        warmSeconds: warm,
        perHostColdSeconds: round(perHostCold),
        perHostWarmSeconds: round(median(warm)),
        allAtOnceSeconds: round(allSeconds),
        // 200 servers read OBSERVE_PARALLEL at once, each as long as one host alone from cold.
        projected200Seconds: round(Math.ceil(200 / OBSERVE_PARALLEL) * perHostCold),
        projected200Waves: Math.ceil(200 / OBSERVE_PARALLEL),
    };
}

/** The heavy releases of scripts/bench/heavy-release.sh's folder, oldest first. */
function heavyVersionsOf(heavy: string): string[] {
    return fs
        .readdirSync(heavy)
        .map((name) => /^WeaveServer-(.+)\.tar\.gz$/.exec(name)?.[1])
        .filter((v): v is string => Boolean(v))
        .sort();
}

async function fleet8(layout: Layout, out: string, releases: string, heavy: string, svgDir: string): Promise<void> {
    const fleet = fleetOf();
    const work = path.join(path.dirname(out), `stack8-${layout.name}`);
    fs.rmSync(work, { recursive: true, force: true });
    const stack = new BenchStack(layout, work, releases);
    await stack.op("open");
    const first = await measuredUp(stack, fleet, "first install", "1.1.4", 8);

    // A no-op up and a preview (nothing changed), with the read before planning where there is one.
    const noop = await measuredUp(stack, fleet, "no-op", "1.1.4", 8);
    const preview = await measuredPreview(stack, fleet, "no-op preview");
    let noopCompiled: UpAnalysis | undefined;
    if (layout.compiledDir) {
        noopCompiled = await measuredUp(
            new BenchStack(layout, work, releases, true),
            fleet,
            "no-op (compiled)",
            "1.1.4",
            8,
        );
    }
    let unobserved: Record<string, unknown> | undefined;
    let observation: Record<string, unknown> | undefined;
    if (layout.observes) {
        stack.set("sync:observe", "false");
        const noopUnobserved = await measuredUp(stack, fleet, "no-op, sync:observe false", "1.1.4", 8);
        const previewUnobserved = await measuredPreview(stack, fleet, "no-op preview, sync:observe false");
        stack.remove("sync:observe");
        unobserved = { noop: noopSummary(noopUnobserved), preview: previewUnobserved };
        log("the read before planning, on its own");
        observation = await observationCost(fleet, releases, "1.1.4");
        log(JSON.stringify(observation));
    }

    // P3: upgrades at batch sizes 1, 2, 8.
    const { rows: p3, ups: p3Ups } = await p3Runs(stack, fleet, svgDir, "sample", [
        [1, "1.1.5"],
        [2, "1.9"],
        [8, "1.10"],
    ]);

    // P2: an upgrade, then the rollback to the release it replaced (kept on every host).
    const upgrade = await measuredUp(stack, fleet, "P2 upgrade", "1.11", 1);
    const rollback = await measuredUp(stack, fleet, "P2 rollback", "1.10", 1);
    const n = fleet.names.length;
    picture(
        svgDir,
        `p2-upgrade-8-${layout.name}.svg`,
        upgrade,
        `P2: upgrade pulumi up 1.10 → 1.11 on ${n} hosts, batchSize 1`,
    );
    picture(
        svgDir,
        `p2-rollback-8-${layout.name}.svg`,
        rollback,
        `P2: rollback pulumi up 1.11 → 1.10 on ${n} hosts, batchSize 1`,
    );

    // Issue 23's ControlMaster question: the same upgrade and rollback with a login a step
    // (SYNC_SSH_PERSIST=1: a master outlives its step by 1 s only), then swaps between two built
    // releases alternating the two ways, for a steadier comparison of walls on a shared machine.
    let loginWays: Record<string, unknown> = {
        shared: { upgrade: loginSummary([upgrade]), swaps: loginSummary([rollback]) },
    };
    const extraUps: UpAnalysis[] = [];
    if (layout.observes) {
        const persist = { SYNC_SSH_PERSIST: "1" };
        const upgradePerStep = await measuredUp(stack, fleet, "upgrade, SYNC_SSH_PERSIST=1", "2.0", 1, persist);
        const swapsShared = [rollback];
        const swapsPerStep = [await measuredUp(stack, fleet, "rollback, SYNC_SSH_PERSIST=1", "1.10", 1, persist)];
        swapsShared.push(await measuredUp(stack, fleet, "swap", "2.0", 1));
        swapsPerStep.push(await measuredUp(stack, fleet, "swap, SYNC_SSH_PERSIST=1", "1.10", 1, persist));
        swapsPerStep.push(await measuredUp(stack, fleet, "swap, SYNC_SSH_PERSIST=1", "2.0", 1, persist));
        swapsShared.push(await measuredUp(stack, fleet, "swap", "1.10", 1));
        extraUps.push(upgradePerStep, ...swapsShared.slice(1), ...swapsPerStep);
        loginWays = {
            shared: { upgrade: loginSummary([upgrade]), swaps: loginSummary(swapsShared) },
            perStep: { upgrade: loginSummary([upgradePerStep]), swaps: loginSummary(swapsPerStep) },
        };
    }

    // P3 for the heavy app (pandas + scipy in the wheelhouse), a stack of its own on the same hosts.
    let p3Heavy: Record<string, unknown>[] = [];
    let p3HeavyUps: UpAnalysis[] = [];
    let observationHeavy: Record<string, unknown> | undefined;
    if (heavy !== "-") {
        const heavyWork = path.join(path.dirname(out), `stack8-heavy-${layout.name}`);
        fs.rmSync(heavyWork, { recursive: true, force: true });
        const heavyStack = new BenchStack(layout, heavyWork, heavy);
        await heavyStack.op("open");
        const [h1, h2, h3, h4] = heavyVersionsOf(heavy);
        await measuredUp(heavyStack, fleet, "heavy first install", h1, 8);
        ({ rows: p3Heavy, ups: p3HeavyUps } = await p3Runs(heavyStack, fleet, svgDir, "heavy", [
            [1, h2],
            [2, h3],
            [8, h4],
        ]));
        if (layout.observes) {
            // The read again, the heavy app current: it checks the current and the wanted
            // release's trees file by file (components/local/observe-host.sh), so it grows with them.
            log("the read before planning, the heavy app current");
            observationHeavy = {
                ...(await observationCost(fleet, heavy, h4)),
                version: h4,
                filesPerRelease: Number((await onHost(fleet.names[0], `find /var/sync/releases/${h4} | wc -l`)).trim()),
            };
            log(JSON.stringify(observationHeavy));
        }
    }

    fs.writeFileSync(
        out,
        JSON.stringify(
            {
                layout: layout.name,
                title: layout.title,
                hosts: n,
                commandPlugin: first.commandPlugin,
                loadAverage: os.loadavg().map((v) => round(v, 1)),
                firstInstall: {
                    wallSeconds: first.wallSeconds,
                    resourceOps: first.resourceOps,
                    logins: loginsPerHost(first),
                },
                noop: {
                    ...noopSummary(noop),
                    compiled: noopCompiled && noopSummary(noopCompiled),
                    preview,
                    unobserved,
                },
                observation,
                observationHeavy,
                P3: p3,
                P3heavy: p3Heavy,
                P2: p2Summary([upgrade], [rollback]),
                logins: loginWays,
                ups: [first, noop, ...p3Ups, upgrade, rollback, ...extraUps, ...p3HeavyUps].map(stripEvents),
            },
            null,
            2,
        ),
    );
}

function noopSummary(up: UpAnalysis): Record<string, unknown> {
    return {
        wallSeconds: up.wallSeconds,
        runnerLoadSeconds: up.runnerLoadSeconds,
        stackOpenSeconds: up.stackOpenSeconds,
        programStartSeconds: up.programStartSeconds,
        toFleetSeconds: up.toFleetSeconds,
        resourceOps: up.resourceOps,
        hostEventsAdded: up.hosts.reduce((sum, h) => sum + h.events.length, 0),
        logins: up.hosts.reduce((sum, h) => sum + (h.logins ?? 0), 0),
        peakMb: up.peakMb,
    };
}

/** Logins and times of a set of like ups (medians over the ups, and over their hosts). */
function loginSummary(ups: UpAnalysis[]): Record<string, unknown> {
    const hosts = ups.flatMap((up) => up.hosts);
    const stepMedian = (step: string): number => round(median(hosts.map((h) => h.stepSeconds[step] ?? 0)));
    return {
        runs: ups.map((up) => `${up.version}:${up.wallSeconds}`),
        wallSeconds: round(median(ups.map((up) => up.wallSeconds))),
        rolloutSeconds: round(median(ups.map((up) => up.rolloutSeconds))),
        loginsPerHost: round(median(hosts.map((h) => h.logins ?? 0)), 1),
        loginsPerHostRange: [
            Math.min(...hosts.map((h) => h.logins ?? 0)),
            Math.max(...hosts.map((h) => h.logins ?? 0)),
        ],
        stepsRun: median(hosts.map((h) => h.steps.length)),
        stageSecondsPerHost: stepMedian("stage"),
        activateSecondsPerHost: stepMedian("activate"),
        stepsSecondsPerHost: round(median(hosts.map((h) => h.stepsSeconds))),
    };
}

async function fleet3(layout: Layout, out: string, releases: string, heavy: string): Promise<void> {
    const fleet = fleetOf();
    const work = path.join(path.dirname(out), `stack3-${layout.name}`);
    fs.rmSync(work, { recursive: true, force: true });
    const stack = new BenchStack(layout, work, releases);
    await stack.op("open");
    await measuredUp(stack, fleet, "first install (3)", "1.1.4", 1);
    const upgrades: UpAnalysis[] = [];
    const rollbacks: UpAnalysis[] = [];
    for (const [to, back] of [
        ["1.1.5", "1.1.4"],
        ["1.9", "1.1.5"],
    ]) {
        upgrades.push(await measuredUp(stack, fleet, "P2 upgrade (3)", to, 1));
        rollbacks.push(await measuredUp(stack, fleet, "P2 rollback (3)", back, 1));
    }
    let heavySummary: Record<string, unknown> | undefined;
    const heavyUps: UpAnalysis[] = [];
    if (heavy !== "-") {
        // The heavy release: same app, a wheelhouse with pandas + scipy (and numpy) to install.
        const heavyWork = path.join(path.dirname(out), `stack3-heavy-${layout.name}`);
        fs.rmSync(heavyWork, { recursive: true, force: true });
        const heavyStack = new BenchStack(layout, heavyWork, heavy);
        await heavyStack.op("open");
        const [h1, h2] = heavyVersionsOf(heavy);
        await measuredUp(heavyStack, fleet, "heavy first (3)", h1, 1);
        heavyUps.push(await measuredUp(heavyStack, fleet, "heavy upgrade (3)", h2, 1));
        heavyUps.push(await measuredUp(heavyStack, fleet, "heavy rollback (3)", h1, 1));
        const wheelhouse = fs.readdirSync(path.join(heavy, "wheelhouse")).sort();
        const wheelhouseMb = wheelhouse.reduce(
            (sum, name) => sum + fs.statSync(path.join(heavy, "wheelhouse", name)).size,
            0,
        );
        heavySummary = {
            versions: [h1, h2],
            wheelhouse,
            wheelhouseMb: round(wheelhouseMb / 2 ** 20, 1),
            ...p2Summary([heavyUps[0]], [heavyUps[1]]),
        };
    }
    fs.writeFileSync(
        out,
        JSON.stringify(
            {
                layout: layout.name,
                title: layout.title,
                hosts: fleet.names.length,
                commandPlugin: upgrades[0].commandPlugin,
                loadAverage: os.loadavg().map((v) => round(v, 1)),
                P2: p2Summary(upgrades, rollbacks),
                P2heavy: heavySummary,
                ups: [...upgrades, ...rollbacks, ...heavyUps].map(stripEvents),
            },
            null,
            2,
        ),
    );
}

async function previews(
    layout: Layout,
    out: string,
    releases: string,
    counts: number[],
    compiled: boolean,
): Promise<void> {
    const fleet = fleetOf();
    const results: Record<string, unknown>[] = [];
    for (const count of counts) {
        const work = path.join(path.dirname(out), `preview-${count}-${layout.name}-${compiled ? "js" : "ts"}`);
        fs.rmSync(work, { recursive: true, force: true });
        const stack = new BenchStack(layout, work, releases, compiled);
        await stack.op("open");
        // N servers named apart, each pointing at one of the fleet's own hosts (its real address and
        // host key): if preview connected anywhere, the hosts' sshd logs would grow. The N servers
        // don't exist: the read before planning is off here (its cost is measured in fleet8).
        stack.setServers(
            Array.from({ length: count }, (_, i) => {
                const server = fleet.config.servers[i % fleet.config.servers.length];
                return {
                    name: `s${i}`,
                    host: server.host,
                    port: server.port,
                    user: server.user,
                    hostKey: server.hostKey,
                };
            }),
        );
        if (layout.observes) {
            stack.set("sync:observe", "false");
        }
        const result = {
            servers: count,
            how: compiled ? "compiled" : "ts-node",
            ...(await measuredPreview(
                stack,
                fleet,
                `preview of ${count} servers (${compiled ? "compiled JS" : "ts-node"})`,
            )),
        };
        results.push(result);
        fs.rmSync(work, { recursive: true, force: true });
    }
    fs.writeFileSync(out, JSON.stringify({ layout: layout.name, title: layout.title, previews: results }, null, 2));
}

function option(args: string[], name: string): string | undefined {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
    const named = new Set(["--layout", "--compiled"]);
    const positional = argv.filter((arg, i) => !named.has(arg) && !named.has(argv[i - 1]));
    const [mode, out, releases, ...rest] = positional;
    const compiledDir = option(argv, "--compiled");
    const layout = layoutOf(option(argv, "--layout") ?? "new", compiledDir);
    if (mode === "fleet8" && rest.length === 2) {
        await fleet8(layout, out, releases, rest[0], rest[1]);
    } else if (mode === "fleet3" && rest.length === 1) {
        await fleet3(layout, out, releases, rest[0]);
    } else if (mode === "preview" && rest.length > 0) {
        await previews(layout, out, releases, rest.map(Number), compiledDir !== undefined);
    } else {
        throw new Error(
            "usage: engineBench.ts fleet8 OUT RELEASES HEAVY|- SVGDIR | fleet3 OUT RELEASES HEAVY|- | preview OUT RELEASES N… — each with --layout new|old [--compiled DIR]",
        );
    }
}

main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
});
