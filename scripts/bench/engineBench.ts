// Benchmarks under the real Pulumi engine (CLI v3.259.0 built by scripts/build-engine.sh, the
// `command` plugin's stand-in unless the released plugin is installed), the program inline through
// the Automation API exactly as scripts/local-stack.ts runs it (scripts/bench/engineOp.ts adds
// timestamps), on a running local fleet. Writes JSON to OUT and SVG timelines to SVGDIR.
//
//   engineBench.ts fleet8  OUT RELEASES HEAVY SVGDIR [COMPILED]
//                                                P3 (batch 1, 2, 8) for the sample and the heavy app,
//                                                P2 on 8 hosts, P5 no-op up (8 hosts), also with the
//                                                compiled tree when COMPILED is given
//   engineBench.ts fleet3  OUT RELEASES HEAVY    P2 on 3 hosts, light releases and the heavy ones
//   engineBench.ts preview OUT RELEASES N… [--compiled DIR]
//                                                P5 preview of N servers (ts-node, or the compiled tree)
// The fleet is the one SYNC_FLEET_ID / SYNC_FLEET_STATE names (scripts/fleet.sh).
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { FLEET_STATE, acceptedLogins, hostEvents, onHost, runnerEnv } from "../../test/engine/engineHarness";
import { HostEvent, stepSeconds } from "../lib/timeline";
import { REPO, STACK_NAME, engineDir, loadFleet, localStackEnv } from "../lib/localStack";
import { OpEvent, OpTimes } from "./engineOp";
import { TreePeak, watchTree } from "./procTree";

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));
const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const log = (text: string): void => {
    process.stderr.write(`[engine-bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};

interface OpResult {
    wallSeconds: number;
    peak: TreePeak;
    times: OpTimes;
    output: string;
}

/** A local stack in a work directory of the benchmark's own, operated one process per operation. */
class BenchStack {
    private ops = 0;

    constructor(
        readonly workDir: string,
        readonly artifactDir: string,
        /** The compiled tree (tsc output) to run instead of ts-node, when given. */
        readonly compiledDir?: string,
    ) {}

    private env(): NodeJS.ProcessEnv {
        return runnerEnv(this.workDir, this.artifactDir);
    }

    async op(operation: "open" | "up" | "preview"): Promise<OpResult> {
        // Kept per operation (for a look at what each step did): <work dir>-op-<n>.json
        const out = path.join(path.dirname(this.workDir), `${path.basename(this.workDir)}-op-${++this.ops}.json`);
        fs.rmSync(out, { force: true });
        const args = this.compiledDir
            ? [path.join(this.compiledDir, "scripts/bench/engineOp.js"), operation, out]
            : ["-r", "ts-node/register", path.join(REPO, "scripts/bench/engineOp.ts"), operation, out];
        const began = Date.now();
        const child = spawn(process.execPath, args, { cwd: REPO, env: this.env(), stdio: ["ignore", "pipe", "pipe"] });
        const watch = watchTree(child.pid as number);
        let output = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
        const wallSeconds = (Date.now() - began) / 1000;
        const peak = watch.stop();
        if (!fs.existsSync(out)) {
            throw new Error(`${operation} in ${this.workDir} exited ${code} without timings: ${output}`);
        }
        const times = JSON.parse(fs.readFileSync(out, "utf8")) as OpTimes;
        if (code !== 0 || !times.ok) {
            throw new Error(`${operation} in ${this.workDir} failed: ${times.error ?? ""}\n${output}`);
        }
        return { wallSeconds: round(wallSeconds), peak, times, output };
    }

    /** The engine's CLI against this stack, directly (no runner process): config changes. */
    pulumi(...args: string[]): string {
        const result = spawnSync(path.join(engineDir(), "bin/pulumi"), [...args, "--stack", STACK_NAME], {
            cwd: this.workDir,
            encoding: "utf8",
            env: { ...process.env, ...localStackEnv(this.workDir) },
        });
        if (result.status !== 0) {
            throw new Error(`pulumi ${args.join(" ")}: ${result.stderr}`);
        }
        return result.stdout;
    }

    set(key: string, value: string): void {
        this.pulumi("config", "set", "--path", key, value);
    }

    /** Replace sync:servers in the stack file (the stack must exist: run op("open") first). */
    setServers(servers: Record<string, unknown>[]): void {
        const file = path.join(this.workDir, "Pulumi.local.yaml");
        const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
        doc.config["sync:servers"] = servers;
        fs.writeFileSync(file, yaml.dump(doc, { lineWidth: 200, quotingType: '"' }));
    }
}

// ---------------------------------------------------------------------------------------------
// Reading an `up`: the engine's events (this process's side) and the hosts' own event logs.

type Marks = Record<string, number>;
async function marks(names: string[]): Promise<Marks> {
    const result: Marks = {};
    await Promise.all(names.map(async (name) => (result[name] = (await hostEvents(name)).length)));
    return result;
}
async function eventsSince(since: Marks): Promise<Record<string, HostEvent[]>> {
    const result: Record<string, HostEvent[]> = {};
    await Promise.all(
        Object.keys(since).map(async (name) => (result[name] = (await hostEvents(name)).slice(since[name]))),
    );
    return result;
}

/** Steps that run a remote command (a replaced resource's delete runs nothing: no remote delete). */
const WORK_OPS = new Set(["create", "create-replacement", "update"]);

const belongsTo = (resource: string, host: string): boolean => new RegExp(`(^|-)${host}(-|$)`).test(resource);

/** Engine spans (resourcePre → resOutputs) of every resource that did something. */
function spans(events: OpEvent[]): { name: string; type: string; op: string; start: number; end: number }[] {
    const open = new Map<string, OpEvent>();
    const result: { name: string; type: string; op: string; start: number; end: number }[] = [];
    for (const event of events) {
        if (!event.name) {
            continue;
        }
        if (event.kind === "resourcePreEvent") {
            open.set(event.name, event);
        } else if (event.kind === "resOutputsEvent" || event.kind === "resOpFailedEvent") {
            const pre = open.get(event.name);
            if (pre) {
                result.push({
                    name: event.name,
                    type: event.type ?? "",
                    op: event.op ?? "",
                    start: pre.at,
                    end: event.at,
                });
                open.delete(event.name);
            }
        }
    }
    return result;
}

/** The length of the union of [start, end] intervals in ms, in seconds. */
function unionSeconds(intervals: { start: number; end: number }[]): number {
    let total = 0;
    let reach = -Infinity;
    for (const { start, end } of [...intervals].sort((a, b) => a.start - b.start)) {
        if (end > reach) {
            total += end - Math.max(start, reach);
            reach = end;
        }
    }
    return total / 1000;
}

interface HostRun {
    host: string;
    /** Engine side: the host's upload (CopyToRemote) and activate command, when they ran. */
    uploadSeconds: number;
    uploadOp: string;
    installCommandSeconds: number;
    /** Engine side: the stage phase (its probe's start → its stage's end) and the activate phase (probe → activate). */
    stageSeconds: number;
    activateSeconds: number;
    stage?: { start: number; end: number };
    activate?: { start: number; end: number };
    probes: { start: number; end: number }[];
    /** Host side: first event of this deploy → finished, and each step. */
    hostSeconds: number;
    steps: Record<string, number>;
    start: number;
    end: number;
    events: HostEvent[];
    upload?: { start: number; end: number };
}

interface UpAnalysis {
    label: string;
    version: string;
    batchSize: number;
    wallSeconds: number;
    peakMb: number;
    /** process start → the runner's modules loaded (node, ts-node, @pulumi/pulumi/automation). */
    runnerLoadSeconds: number;
    /** → the stack opened (workspace, `pulumi version`, stack select). */
    stackOpenSeconds: number;
    /** → the first resource registered (the CLI starts, loads the plugin, runs the program). */
    programStartSeconds: number;
    /** the last host finished → the process exited (engine wrap-up, state write, exit). */
    tailSeconds: number;
    /** wall − everything above − the hosts' own work (remote steps as the engine timed them). */
    engineBetweenSeconds: number;
    resourceOps: Record<string, number>;
    hosts: HostRun[];
    processStart: number;
    end: number;
    commandPlugin: string;
}

function analyzeUp(
    label: string,
    version: string,
    batchSize: number,
    run: OpResult,
    hostLogs: Record<string, HostEvent[]>,
): UpAnalysis {
    const { times } = run;
    const resourceSpans = spans(times.events);
    const ops: Record<string, number> = {};
    for (const event of times.events) {
        if (event.kind === "resourcePreEvent" && event.op) {
            ops[event.op] = (ops[event.op] ?? 0) + 1;
        }
    }
    const firstResource = times.events.find((event) => event.kind === "resourcePreEvent")?.at ?? times.end;
    const hosts: HostRun[] = Object.entries(hostLogs).map(([host, events]) => {
        const own = resourceSpans.filter((span) => belongsTo(span.name, host) && WORK_OPS.has(span.op));
        const upload = own.find((span) => span.type.endsWith("CopyToRemote"));
        // A server's steps are named `<fleet>-<host>-<step>`: matching `-<host>-stage` keeps
        // `-<host>-probe-stage` out ("-stage" alone ends both).
        const step = (suffix: string) => own.find((span) => span.name.endsWith(`-${host}-${suffix}`));
        const commands = [step("stage"), step("activate")].filter((span) => span !== undefined);
        const phase = (from: string, to: string): { start: number; end: number } | undefined => {
            const first = step(from) ?? step(to);
            const last = step(to);
            return first && last ? { start: first.start / 1000, end: last.end / 1000 } : undefined;
        };
        const stagePhase = phase("probe-stage", "stage");
        const activatePhase = phase("probe-activate", "activate");
        const first = events[0]?.at ?? 0;
        const last = events.find((event) => event.step === "finished" || event.step === "failed")?.at ?? first;
        // On the host, inside each of the two commands: its first event → its last (the waits
        // between them, for the barrier and the earlier waves, left out).
        const onHost = commands.reduce((sum, span) => {
            const inside = events.filter((e) => e.at * 1000 >= span.start && e.at * 1000 <= span.end);
            return sum + (inside.length ? inside[inside.length - 1].at - inside[0].at : 0);
        }, 0);
        return {
            host,
            uploadSeconds: upload ? round((upload.end - upload.start) / 1000) : 0,
            uploadOp: upload?.op ?? "none",
            installCommandSeconds: round(commands.reduce((sum, span) => sum + (span.end - span.start) / 1000, 0)),
            stageSeconds: stagePhase ? round(stagePhase.end - stagePhase.start) : 0,
            activateSeconds: activatePhase ? round(activatePhase.end - activatePhase.start) : 0,
            stage: stagePhase,
            activate: activatePhase,
            probes: own
                .filter((span) => /-probe-(stage|activate)$/.test(span.name))
                .map((span) => ({ start: span.start / 1000, end: span.end / 1000 })),
            hostSeconds: round(onHost),
            steps: Object.fromEntries(Object.entries(stepSeconds(events)).map(([s, v]) => [s, round(v)])),
            start: first,
            end: last,
            events,
            upload: upload ? { start: upload.start / 1000, end: upload.end / 1000 } : undefined,
        };
    });
    const lastHostEnd = Math.max(0, ...hosts.map((h) => h.end * 1000));
    // Seconds in which at least one remote step ran (stages overlap: their union, not their sum).
    const remoteSeconds = unionSeconds(
        resourceSpans.filter((span) => WORK_OPS.has(span.op) && span.type.startsWith("command:remote:")),
    );
    const programStartSeconds = (firstResource - times.stackOpen) / 1000;
    const runnerLoadSeconds = (times.modulesLoaded - times.processStart) / 1000;
    const stackOpenSeconds = (times.stackOpen - times.modulesLoaded) / 1000;
    const tailSeconds = lastHostEnd ? (times.end - lastHostEnd) / 1000 : 0;
    return {
        label,
        version,
        batchSize,
        wallSeconds: run.wallSeconds,
        peakMb: run.peak.peakMb,
        runnerLoadSeconds: round(runnerLoadSeconds),
        stackOpenSeconds: round(stackOpenSeconds),
        programStartSeconds: round(programStartSeconds),
        tailSeconds: round(tailSeconds),
        engineBetweenSeconds:
            batchSize === 1
                ? round(
                      run.wallSeconds -
                          runnerLoadSeconds -
                          stackOpenSeconds -
                          programStartSeconds -
                          tailSeconds -
                          remoteSeconds,
                  )
                : 0,
        resourceOps: ops,
        hosts,
        processStart: times.processStart / 1000,
        end: times.end / 1000,
        commandPlugin: times.commandPlugin,
    };
}

// ---------------------------------------------------------------------------------------------
// The timeline picture of one `up`.

const COLOURS: Record<string, string> = {
    probe: "#000000",
    upload: "#8c564b",
    receive: "#c49c94",
    verify: "#bcbd22",
    reuse: "#dbdb8d",
    preflight: "#17becf",
    venv: "#9edae5",
    pip: "#1f77b4",
    switch: "#d62728",
    reload: "#ff7f0e",
    health: "#2ca02c",
    prune: "#9467bd",
    rollback: "#e377c2",
    ini: "#7f7f7f",
    staged: "#f7f7f7",
    check: "#c7c7c7",
};

function escapeXml(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function timelineSvg(up: UpAnalysis, title: string): string {
    const left = 90;
    const width = 1000;
    const rowHeight = 22;
    const top = 50;
    const t0 = up.processStart;
    const total = Math.max(up.end - t0, 1);
    const x = (t: number): number => left + ((t - t0) / total) * (width - left - 20);
    const rows = up.hosts.length + 1;
    const height = top + rows * rowHeight + 70;
    const parts: string[] = [];
    parts.push(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
        `<rect width="${width}" height="${height}" fill="white"/>`,
        `<text x="10" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
        `<text x="10" y="34">wall ${up.wallSeconds} s from process start; rows: each host's steps from its /var/sync/events.log; probes (thin black) and upload from the engine's events</text>`,
    );
    const step = total > 60 ? 10 : 5;
    for (let s = 0; s <= total; s += step) {
        parts.push(
            `<line x1="${x(t0 + s)}" y1="${top - 4}" x2="${x(t0 + s)}" y2="${top + rows * rowHeight}" stroke="#ddd"/>`,
            `<text x="${x(t0 + s)}" y="${top + rows * rowHeight + 14}" text-anchor="middle">${s}s</text>`,
        );
    }
    // Row 0: the runner and engine before the first resource.
    const firstResource = t0 + up.runnerLoadSeconds + up.stackOpenSeconds + up.programStartSeconds;
    parts.push(
        `<text x="10" y="${top + 15}">runner</text>`,
        `<rect x="${x(t0)}" y="${top + 3}" width="${Math.max(x(firstResource) - x(t0), 1)}" height="${rowHeight - 6}" fill="#aaa"><title>node + ts-node + stack open + engine start + program → first resource: ${round(firstResource - t0)} s</title></rect>`,
    );
    const rowsInOrder = [...up.hosts].sort((a, b) => a.host.localeCompare(b.host, "en", { numeric: true }));
    rowsInOrder.forEach((host, index) => {
        const y = top + (index + 1) * rowHeight;
        parts.push(`<text x="10" y="${y + 15}">${escapeXml(host.host)}</text>`);
        for (const probe of host.probes) {
            parts.push(
                `<rect x="${x(probe.start)}" y="${y + 8}" width="${Math.max(x(probe.end) - x(probe.start), 1)}" height="${rowHeight - 16}" fill="${COLOURS.probe}"><title>probe ${round(probe.end - probe.start)} s</title></rect>`,
            );
        }
        if (host.upload) {
            parts.push(
                `<rect x="${x(host.upload.start)}" y="${y + 3}" width="${Math.max(x(host.upload.end) - x(host.upload.start), 1)}" height="${rowHeight - 6}" fill="${COLOURS.upload}"><title>upload ${round(host.upload.end - host.upload.start)} s</title></rect>`,
            );
        }
        for (let i = 0; i + 1 < host.events.length; i++) {
            const event = host.events[i];
            const next = host.events[i + 1];
            parts.push(
                `<rect x="${x(event.at)}" y="${y + 3}" width="${Math.max(x(next.at) - x(event.at), 0.5)}" height="${rowHeight - 6}" fill="${COLOURS[event.step] ?? "#000"}"><title>${escapeXml(event.step)} ${round(next.at - event.at)} s</title></rect>`,
            );
        }
    });
    const legend = Object.entries(COLOURS);
    legend.forEach(([name, colour], index) => {
        const lx = left + index * 56;
        const ly = top + rows * rowHeight + 30;
        parts.push(
            `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${colour}"/>`,
            `<text x="${lx + 13}" y="${ly + 9}">${name}</text>`,
        );
    });
    parts.push("</svg>");
    return `${parts.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------

function stripEvents(up: UpAnalysis): Omit<UpAnalysis, "hosts"> & { hosts: Omit<HostRun, "events">[] } {
    return {
        ...up,
        hosts: up.hosts.map((host) => {
            const copy: Partial<HostRun> = { ...host };
            delete copy.events;
            return copy as Omit<HostRun, "events">;
        }),
    };
}

async function measuredUp(
    stack: BenchStack,
    names: string[],
    label: string,
    version: string,
    batchSize: number,
): Promise<UpAnalysis> {
    stack.set("sync:version", version);
    stack.set("sync:rollout.batchSize", String(batchSize));
    const since = await marks(names);
    log(`${label}: up ${version}, batchSize ${batchSize}`);
    const run = await stack.op("up");
    const up = analyzeUp(label, version, batchSize, run, await eventsSince(since));
    log(`${label}: ${up.wallSeconds} s (${JSON.stringify(up.resourceOps)})`);
    return up;
}

async function loginCounts(names: string[]): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    await Promise.all(names.map(async (name) => (counts[name] = await acceptedLogins(name))));
    return counts;
}
async function sshdLogLines(names: string[]): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    await Promise.all(
        names.map(async (name) => (counts[name] = Number((await onHost(name, "wc -l </var/log/sshd.log")).trim()))),
    );
    return counts;
}
const totalDelta = (before: Record<string, number>, after: Record<string, number>): number =>
    Object.keys(before).reduce((sum, name) => sum + after[name] - before[name], 0);

/** P2 as a pair: upgrade then rollback to the release that was current before it. */
function p2Summary(upgrades: UpAnalysis[], rollbacks: UpAnalysis[]): Record<string, unknown> {
    const upgrade = median(upgrades.map((u) => u.wallSeconds));
    const rollback = median(rollbacks.map((u) => u.wallSeconds));
    const perHost = (ups: UpAnalysis[], pick: (h: HostRun) => number): number =>
        median(ups.flatMap((u) => u.hosts.map(pick)));
    const side = (ups: UpAnalysis[]): Record<string, number> => ({
        wallSeconds: round(median(ups.map((u) => u.wallSeconds))),
        runnerLoadSeconds: round(median(ups.map((u) => u.runnerLoadSeconds))),
        stackOpenSeconds: round(median(ups.map((u) => u.stackOpenSeconds))),
        programStartSeconds: round(median(ups.map((u) => u.programStartSeconds))),
        uploadSecondsPerHost: round(perHost(ups, (h) => h.uploadSeconds)),
        uploadsRun: round(median(ups.map((u) => u.hosts.filter((h) => h.uploadSeconds > 0).length))),
        installCommandSecondsPerHost: round(perHost(ups, (h) => h.installCommandSeconds)),
        hostSecondsPerHost: round(perHost(ups, (h) => h.hostSeconds)),
        pipSecondsPerHost: round(perHost(ups, (h) => h.steps.pip ?? 0)),
        switchReloadHealthPerHost: round(
            perHost(ups, (h) => (h.steps.switch ?? 0) + (h.steps.reload ?? 0) + (h.steps.health ?? 0)),
        ),
        engineBetweenSeconds: round(median(ups.map((u) => u.engineBetweenSeconds))),
        tailSeconds: round(median(ups.map((u) => u.tailSeconds))),
        peakMb: round(median(ups.map((u) => u.peakMb)), 0),
    });
    return {
        upgrade: side(upgrades),
        rollback: side(rollbacks),
        ratio: round(rollback / upgrade),
        upgradeRuns: upgrades.map((u) => `${u.version}:${u.wallSeconds}`),
        rollbackRuns: rollbacks.map((u) => `${u.version}:${u.wallSeconds}`),
        rollbackHostSteps: rollbacks[0]?.hosts.map((h) => ({ host: h.host, upload: h.uploadOp, ...h.steps })),
        rollbackResourceOps: rollbacks[0]?.resourceOps,
    };
}

/**
 * P3: one upgrade `up` per batch size, each against the physical limit of a safe rolling deploy:
 * the slowest host's stage phase (probe + upload + stage, engine spans) plus ceil(N/b) × the
 * median activate phase (probe + activate), all measured in the same `up`.
 */
async function p3Runs(
    stack: BenchStack,
    names: string[],
    svgDir: string,
    app: string,
    plan: [number, string][],
): Promise<{ rows: Record<string, unknown>[]; ups: UpAnalysis[] }> {
    const rows: Record<string, unknown>[] = [];
    const ups: UpAnalysis[] = [];
    for (const [batchSize, version] of plan) {
        const up = await measuredUp(stack, names, `P3 ${app} batch ${batchSize}`, version, batchSize);
        ups.push(up);
        const slowestStage = Math.max(...up.hosts.map((h) => h.stageSeconds));
        const activation = median(up.hosts.map((h) => h.activateSeconds));
        const waves = Math.ceil(names.length / batchSize);
        const limit = slowestStage + waves * activation;
        const firstStart = Math.min(...up.hosts.map((h) => h.stage?.start ?? Number.POSITIVE_INFINITY));
        const lastEnd = Math.max(...up.hosts.map((h) => h.activate?.end ?? 0));
        const lastStageEnd = Math.max(...up.hosts.map((h) => h.stage?.end ?? 0));
        const firstSwitch = Math.min(
            ...up.hosts.map((h) => h.events.find((e) => e.step === "switch")?.at ?? Number.POSITIVE_INFINITY),
        );
        const svg = `p3-${app}-batch${batchSize}.svg`;
        fs.mkdirSync(svgDir, { recursive: true });
        fs.writeFileSync(
            path.join(svgDir, svg),
            timelineSvg(
                up,
                `P3 (${app} app): pulumi up ${version} on ${names.length} hosts, batchSize ${batchSize} (${up.commandPlugin} command plugin)`,
            ),
        );
        rows.push({
            app,
            batchSize,
            version,
            wallSeconds: up.wallSeconds,
            slowestStageSeconds: round(slowestStage),
            medianActivateSeconds: round(activation),
            waves,
            limitSeconds: round(limit),
            ratio: round(up.wallSeconds / limit),
            rolloutSeconds: round(lastEnd - firstStart),
            rolloutRatio: round((lastEnd - firstStart) / limit),
            // 0 or less: no host switched before every host had staged
            firstSwitchAfterLastStagedSeconds: round(firstSwitch - lastStageEnd),
            beforeFirstResourceSeconds: round(up.runnerLoadSeconds + up.stackOpenSeconds + up.programStartSeconds),
            tailSeconds: up.tailSeconds,
            pipSecondsPerHost: round(median(up.hosts.map((h) => h.steps.pip ?? 0))),
            svg,
            peakMb: up.peakMb,
        });
    }
    return { rows, ups };
}

async function fleet8(
    out: string,
    releases: string,
    heavy: string,
    svgDir: string,
    compiledDir?: string,
): Promise<void> {
    const names = loadFleet(FLEET_STATE).servers.map((s) => s.name);
    const work = path.join(path.dirname(out), "stack8");
    fs.rmSync(work, { recursive: true, force: true });
    const stack = new BenchStack(work, releases);
    await stack.op("open");
    const first = await measuredUp(stack, names, "first install", "1.1.4", 8);

    // P5: a no-op up (nothing changed) — remote commands run, counted as SSH logins on each host.
    const loginsBefore = await loginCounts(names);
    const noop = await measuredUp(stack, names, "no-op", "1.1.4", 8);
    const loginsAfter = await loginCounts(names);
    // The same no-op up with the compiled program and runner (tsc output), same stack.
    let noopCompiled: UpAnalysis | undefined;
    if (compiledDir) {
        const compiled = new BenchStack(work, releases, compiledDir);
        const before = await loginCounts(names);
        noopCompiled = await measuredUp(compiled, names, "no-op (compiled)", "1.1.4", 8);
        if (totalDelta(before, await loginCounts(names)) !== 0) {
            throw new Error("the compiled no-op up ran remote commands");
        }
    }
    const sshdBefore = await sshdLogLines(names);
    log("no-op preview (8 hosts)");
    const preview8 = await stack.op("preview");
    const sshdAfter = await sshdLogLines(names);

    // P3: upgrades at batch sizes 1, 2, 8.
    const { rows: p3, ups: p3Ups } = await p3Runs(stack, names, svgDir, "sample", [
        [1, "1.1.5"],
        [2, "1.9"],
        [8, "1.10"],
    ]);

    // P2 on 8 hosts: an upgrade, then the rollback to the release it replaced (kept on every host).
    const upgrade = await measuredUp(stack, names, "P2 upgrade (8)", "1.11", 1);
    const rollback = await measuredUp(stack, names, "P2 rollback (8)", "1.10", 1);
    fs.writeFileSync(
        path.join(svgDir, "p2-rollback-8.svg"),
        timelineSvg(rollback, "P2: rollback pulumi up 1.11 → 1.10 on 8 hosts, batchSize 1 (stand-in command plugin)"),
    );
    fs.writeFileSync(
        path.join(svgDir, "p2-upgrade-8.svg"),
        timelineSvg(upgrade, "P2: upgrade pulumi up 1.10 → 1.11 on 8 hosts, batchSize 1 (stand-in command plugin)"),
    );

    // P3 for the heavy app (pandas + scipy in the wheelhouse), on the same 8 hosts, a stack of its own.
    const heavyWork = path.join(path.dirname(out), "stack8-heavy");
    fs.rmSync(heavyWork, { recursive: true, force: true });
    const heavyStack = new BenchStack(heavyWork, heavy);
    await heavyStack.op("open");
    const [h1, h2, h3, h4] = heavyVersionsOf(heavy);
    await measuredUp(heavyStack, names, "heavy first install (8)", h1, 8);
    const { rows: p3Heavy, ups: p3HeavyUps } = await p3Runs(heavyStack, names, svgDir, "heavy", [
        [1, h2],
        [2, h3],
        [8, h4],
    ]);

    fs.writeFileSync(
        out,
        JSON.stringify(
            {
                hosts: names.length,
                commandPlugin: first.commandPlugin,
                loadAverage: os.loadavg().map((v) => round(v, 1)),
                firstInstall: { wallSeconds: first.wallSeconds, resourceOps: first.resourceOps },
                P5noop: {
                    wallSeconds: noop.wallSeconds,
                    runnerLoadSeconds: noop.runnerLoadSeconds,
                    stackOpenSeconds: noop.stackOpenSeconds,
                    programStartSeconds: noop.programStartSeconds,
                    resourceOps: noop.resourceOps,
                    sshLogins: totalDelta(loginsBefore, loginsAfter),
                    loginsPerHost: Object.fromEntries(names.map((n) => [n, loginsAfter[n] - loginsBefore[n]])),
                    peakMb: noop.peakMb,
                    compiled: noopCompiled && {
                        wallSeconds: noopCompiled.wallSeconds,
                        runnerLoadSeconds: noopCompiled.runnerLoadSeconds,
                        stackOpenSeconds: noopCompiled.stackOpenSeconds,
                        programStartSeconds: noopCompiled.programStartSeconds,
                        peakMb: noopCompiled.peakMb,
                    },
                    preview: {
                        wallSeconds: preview8.wallSeconds,
                        peakMb: preview8.peak.peakMb,
                        sshdLogLinesAdded: totalDelta(sshdBefore, sshdAfter),
                    },
                },
                P3: p3,
                P3heavy: p3Heavy,
                P2: p2Summary([upgrade], [rollback]),
                ups: [first, noop, ...p3Ups, upgrade, rollback, ...p3HeavyUps].map(stripEvents),
            },
            null,
            2,
        ),
    );
}

/** The heavy releases of scripts/bench/heavy-release.sh's folder, oldest first. */
function heavyVersionsOf(heavy: string): string[] {
    return fs
        .readdirSync(heavy)
        .map((name) => /^WeaveServer-(.+)\.tar\.gz$/.exec(name)?.[1])
        .filter((v): v is string => Boolean(v))
        .sort();
}

async function fleet3(out: string, releases: string, heavy: string): Promise<void> {
    const names = loadFleet(FLEET_STATE).servers.map((s) => s.name);
    const work = path.join(path.dirname(out), "stack3");
    fs.rmSync(work, { recursive: true, force: true });
    const stack = new BenchStack(work, releases);
    await stack.op("open");
    await measuredUp(stack, names, "first install (3)", "1.1.4", 1);
    const upgrades: UpAnalysis[] = [];
    const rollbacks: UpAnalysis[] = [];
    for (const [to, back] of [
        ["1.1.5", "1.1.4"],
        ["1.9", "1.1.5"],
    ]) {
        upgrades.push(await measuredUp(stack, names, "P2 upgrade (3)", to, 1));
        rollbacks.push(await measuredUp(stack, names, "P2 rollback (3)", back, 1));
    }

    // The heavy release: same app, a wheelhouse with pandas + scipy (and numpy) to install.
    const heavyWork = path.join(path.dirname(out), "stack3-heavy");
    fs.rmSync(heavyWork, { recursive: true, force: true });
    const heavyStack = new BenchStack(heavyWork, heavy);
    await heavyStack.op("open");
    const [h1, h2] = heavyVersionsOf(heavy);
    await measuredUp(heavyStack, names, "heavy first (3)", h1, 1);
    const heavyUpgrade = await measuredUp(heavyStack, names, "heavy upgrade (3)", h2, 1);
    const heavyRollback = await measuredUp(heavyStack, names, "heavy rollback (3)", h1, 1);
    const wheelhouseMb = fs
        .readdirSync(path.join(heavy, "wheelhouse"))
        .reduce((sum, name) => sum + fs.statSync(path.join(heavy, "wheelhouse", name)).size, 0);
    fs.writeFileSync(
        out,
        JSON.stringify(
            {
                hosts: names.length,
                commandPlugin: upgrades[0].commandPlugin,
                loadAverage: os.loadavg().map((v) => round(v, 1)),
                P2: p2Summary(upgrades, rollbacks),
                P2heavy: {
                    versions: [h1, h2],
                    wheelhouse: fs.readdirSync(path.join(heavy, "wheelhouse")).sort(),
                    wheelhouseMb: round(wheelhouseMb / 2 ** 20, 1),
                    ...p2Summary([heavyUpgrade], [heavyRollback]),
                },
                ups: [...upgrades, ...rollbacks, heavyUpgrade, heavyRollback].map(stripEvents),
            },
            null,
            2,
        ),
    );
}

async function previews(out: string, releases: string, counts: number[], compiledDir?: string): Promise<void> {
    const fleet = loadFleet(FLEET_STATE);
    const names = fleet.servers.map((s) => s.name);
    const results: Record<string, unknown>[] = [];
    for (const count of counts) {
        const work = path.join(path.dirname(out), `preview-${count}-${compiledDir ? "js" : "ts"}`);
        fs.rmSync(work, { recursive: true, force: true });
        const stack = new BenchStack(work, releases, compiledDir);
        await stack.op("open");
        // N servers named apart, each pointing at one of the fleet's own hosts (its real address and
        // host key): if preview connected anywhere, the hosts' sshd logs would grow.
        stack.setServers(
            Array.from({ length: count }, (_, i) => {
                const server = fleet.servers[i % fleet.servers.length];
                return {
                    name: `s${i}`,
                    host: server.host,
                    port: server.port,
                    user: server.user,
                    hostKey: server.hostKey,
                };
            }),
        );
        const before = await sshdLogLines(names);
        log(`preview of ${count} servers (${compiledDir ? "compiled JS" : "ts-node"})`);
        const run = await stack.op("preview");
        const after = await sshdLogLines(names);
        const resources = run.times.events.filter((e) => e.kind === "resourcePreEvent").length;
        const firstResource = run.times.events.find((e) => e.kind === "resourcePreEvent")?.at ?? run.times.end;
        const lastResource =
            [...run.times.events].reverse().find((e) => e.kind === "resourcePreEvent")?.at ?? run.times.end;
        const result = {
            servers: count,
            how: compiledDir ? "compiled" : "ts-node",
            resources,
            wallSeconds: run.wallSeconds,
            runnerLoadSeconds: round((run.times.modulesLoaded - run.times.processStart) / 1000),
            stackOpenSeconds: round((run.times.stackOpen - run.times.modulesLoaded) / 1000),
            toFirstResourceSeconds: round((firstResource - run.times.stackOpen) / 1000),
            registeringSeconds: round((lastResource - firstResource) / 1000),
            afterLastResourceSeconds: round((run.times.end - lastResource) / 1000),
            peakMb: run.peak.peakMb,
            peakByCommand: run.peak.byCommand,
            cpuSecondsByCommand: run.peak.cpuSecondsByCommand,
            sshdLogLinesAdded: totalDelta(before, after),
        };
        log(JSON.stringify(result));
        results.push(result);
        fs.rmSync(work, { recursive: true, force: true });
    }
    fs.writeFileSync(out, JSON.stringify(results, null, 2));
}

async function main(argv: string[]): Promise<void> {
    const [mode, out, releases, ...rest] = argv;
    if (mode === "fleet8") {
        await fleet8(out, releases, rest[0], rest[1], rest[2]);
    } else if (mode === "fleet3") {
        await fleet3(out, releases, rest[0]);
    } else if (mode === "preview") {
        const compiledAt = rest.indexOf("--compiled");
        const compiledDir = compiledAt >= 0 ? rest[compiledAt + 1] : undefined;
        const counts = rest.filter((_, i) => compiledAt < 0 || (i !== compiledAt && i !== compiledAt + 1)).map(Number);
        await previews(out, releases, counts, compiledDir);
    } else {
        throw new Error(
            "usage: engineBench.ts fleet8 OUT RELEASES HEAVY SVGDIR [COMPILED] | fleet3 OUT RELEASES HEAVY | preview OUT RELEASES N… [--compiled DIR]",
        );
    }
}

main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
});
