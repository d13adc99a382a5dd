// Reading one `up` of either layout: the engine's events as the runner saw them (engineOp.ts) and
// each host's own events.log (scripts/lib/timeline.ts, the one reader of it). Pure functions.
//
// A host's steps are the `command:*` resources named `<fleet>-<host>-<step>`: in this tree
// `stage`, `ini`, `activate`; in today's layout also `probe-stage`, `bundle` (the CopyToRemote)
// and `probe-activate`. The stage phase is the first of probe-stage/bundle/stage to the end of
// the last; the activate phase likewise for probe-activate/ini/activate.
import { HostEvent, stepSeconds } from "../lib/timeline";
import { OpEvent, OpTimes } from "./engineOp";
import { TreePeak } from "./procTree";

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));
export const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** One operation of the runner as the bench ran it (scripts/bench/benchStack.ts). */
export interface OpResult {
    wallSeconds: number;
    peak: TreePeak;
    times: OpTimes;
    output: string;
}

export const STAGE_STEPS = ["probe-stage", "bundle", "stage"];
export const ACTIVATE_STEPS = ["probe-activate", "ini", "activate"];

/** Operations that run something (a replaced resource's delete runs nothing: no step has a delete). */
const WORK_OPS = new Set(["create", "create-replacement", "update"]);

/** An engine span, epoch seconds. */
export interface Span {
    start: number;
    end: number;
}

export interface StepSpan extends Span {
    /** The step: the name after `-<host>-`. */
    step: string;
    op: string;
}

/** Engine spans (resourcePre → resOutputs or resOpFailed) of every resource, epoch ms. */
export function engineSpans(
    events: OpEvent[],
): { name: string; type: string; op: string; start: number; end: number }[] {
    const open = new Map<string, OpEvent>();
    const result: { name: string; type: string; op: string; start: number; end: number }[] = [];
    for (const event of events) {
        if (!event.name) {
            continue;
        }
        if (event.kind === "resourcePreEvent") {
            open.set(`${event.type}::${event.name}`, event);
        } else if (event.kind === "resOutputsEvent" || event.kind === "resOpFailedEvent") {
            const key = `${event.type}::${event.name}`;
            const pre = open.get(key);
            if (pre) {
                result.push({
                    name: event.name,
                    type: event.type ?? "",
                    op: pre.op ?? "",
                    start: pre.at,
                    end: event.at,
                });
                open.delete(key);
            }
        }
    }
    return result;
}

/** The length of the union of intervals, in their unit. */
export function unionLength(intervals: Span[]): number {
    let total = 0;
    let reach = -Infinity;
    for (const { start, end } of [...intervals].sort((a, b) => a.start - b.start)) {
        if (end > reach) {
            total += end - Math.max(start, reach);
            reach = end;
        }
    }
    return total;
}

/** A host's steps that ran in an `up`, epoch seconds, in start order. */
export function hostStepSpans(events: OpEvent[], host: string): StepSpan[] {
    const ownStep = new RegExp(`-${host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-([a-z-]+)$`);
    return engineSpans(events)
        .filter((span) => span.type.startsWith("command:") && WORK_OPS.has(span.op))
        .flatMap((span) => {
            const step = ownStep.exec(span.name)?.[1];
            return step ? [{ step, op: span.op, start: span.start / 1000, end: span.end / 1000 }] : [];
        })
        .sort((a, b) => a.start - b.start);
}

function phaseOf(spans: StepSpan[], steps: string[]): Span | undefined {
    const inPhase = spans.filter((span) => steps.includes(span.step));
    return inPhase.length
        ? { start: Math.min(...inPhase.map((s) => s.start)), end: Math.max(...inPhase.map((s) => s.end)) }
        : undefined;
}

export interface HostRun {
    host: string;
    /** Engine side: the host's steps that ran. */
    steps: StepSpan[];
    /** Seconds per step (engine spans), and all of them together. */
    stepSeconds: Record<string, number>;
    stepsSeconds: number;
    stage?: Span;
    activate?: Span;
    stageSeconds: number;
    activateSeconds: number;
    /** Host side: inside each step, its first event → its last, summed. */
    hostSeconds: number;
    /** Host side: seconds per event of this up (an event lasts until the host's next). */
    events: HostEvent[];
    eventSeconds: Record<string, number>;
    /** switch + draining reload + health, from the host's events. */
    switchReloadHealthSeconds: number;
    /** SSH logins the host's sshd accepted during the up (when counted). */
    logins?: number;
}

export interface UpAnalysis {
    label: string;
    layout: string;
    version: string;
    batchSize: number;
    wallSeconds: number;
    peakMb: number;
    /** process start → the runner's modules loaded (node, ts-node, @pulumi/pulumi/automation). */
    runnerLoadSeconds: number;
    /** → the stack opened (workspace, `pulumi version`, stack select). */
    stackOpenSeconds: number;
    /** → the first resource registered (the CLI starts, loads the plugin, the program starts). */
    programStartSeconds: number;
    /** first resource → the fleet's component registered (the program, and the read before planning where there is one). */
    toFleetSeconds: number;
    /** first resource → the first host step starts (the program: the read before planning, registrations). */
    toFirstStepSeconds: number;
    /** process start → the first host step. */
    beforeFirstStepSeconds: number;
    /** the first host step's start → the last one's end. */
    rolloutSeconds: number;
    /** inside the rollout, no host step running: the engine between steps. */
    betweenStepsSeconds: number;
    /** the last host step's end → the process exited (engine wrap-up, state write, exit). */
    tailSeconds: number;
    resourceOps: Record<string, number>;
    hosts: HostRun[];
    processStart: number;
    end: number;
    commandPlugin: string;
    /** What the environment changed for this up (SYNC_SSH_PERSIST). */
    env?: Record<string, string>;
}

export function analyzeUp(
    label: string,
    layout: string,
    version: string,
    batchSize: number,
    run: OpResult,
    hostLogs: Record<string, HostEvent[]>,
): UpAnalysis {
    const { times } = run;
    const ops: Record<string, number> = {};
    for (const event of times.events) {
        if (event.kind === "resourcePreEvent" && event.op) {
            ops[event.op] = (ops[event.op] ?? 0) + 1;
        }
    }
    const firstResource = (times.events.find((e) => e.kind === "resourcePreEvent")?.at ?? times.end) / 1000;
    const fleetDeclared =
        (times.events.find((e) => e.kind === "resourcePreEvent" && e.type === "sync:fleet:SyncFleet")?.at ??
            firstResource * 1000) / 1000;
    const hosts: HostRun[] = Object.entries(hostLogs).map(([host, events]) => {
        const steps = hostStepSpans(times.events, host);
        const stage = phaseOf(steps, STAGE_STEPS);
        const activate = phaseOf(steps, ACTIVATE_STEPS);
        const perStep: Record<string, number> = {};
        for (const span of steps) {
            perStep[span.step] = round((perStep[span.step] ?? 0) + span.end - span.start);
        }
        // On the host, inside each step: its first event → its last (waits between steps left out).
        const onHost = steps.reduce((sum, span) => {
            const inside = events.filter((e) => e.at >= span.start && e.at <= span.end);
            return sum + (inside.length ? inside[inside.length - 1].at - inside[0].at : 0);
        }, 0);
        const eventSeconds = Object.fromEntries(Object.entries(stepSeconds(events)).map(([s, v]) => [s, round(v)]));
        return {
            host,
            steps,
            stepSeconds: perStep,
            stepsSeconds: round(steps.reduce((sum, span) => sum + span.end - span.start, 0)),
            stage,
            activate,
            stageSeconds: stage ? round(stage.end - stage.start) : 0,
            activateSeconds: activate ? round(activate.end - activate.start) : 0,
            hostSeconds: round(onHost),
            events,
            eventSeconds,
            switchReloadHealthSeconds: round(
                (eventSeconds.switch ?? 0) + (eventSeconds.reload ?? 0) + (eventSeconds.health ?? 0),
            ),
        };
    });
    const allSteps = hosts.flatMap((h) => h.steps);
    const processStart = times.processStart / 1000;
    const end = times.end / 1000;
    const firstStep = allSteps.length ? Math.min(...allSteps.map((s) => s.start)) : end;
    const lastStep = allSteps.length ? Math.max(...allSteps.map((s) => s.end)) : end;
    const stackOpen = times.stackOpen / 1000;
    return {
        label,
        layout,
        version,
        batchSize,
        wallSeconds: run.wallSeconds,
        peakMb: run.peak.peakMb,
        runnerLoadSeconds: round((times.modulesLoaded - times.processStart) / 1000),
        stackOpenSeconds: round((times.stackOpen - times.modulesLoaded) / 1000),
        programStartSeconds: round(firstResource - stackOpen),
        toFleetSeconds: round(fleetDeclared - firstResource),
        toFirstStepSeconds: round(allSteps.length ? firstStep - firstResource : 0),
        beforeFirstStepSeconds: round(firstStep - processStart),
        rolloutSeconds: round(lastStep - firstStep),
        betweenStepsSeconds: round(lastStep - firstStep - unionLength(allSteps)),
        tailSeconds: round(end - lastStep),
        resourceOps: ops,
        hosts,
        processStart,
        end,
        commandPlugin: times.commandPlugin,
    };
}

/** The first `switch` on any host after the last stage phase ended (≥ 0: the barrier held). */
export function firstSwitchAfterLastStaged(up: UpAnalysis): number {
    const lastStaged = Math.max(...up.hosts.map((h) => h.stage?.end ?? 0));
    const firstSwitch = Math.min(
        ...up.hosts.map((h) => h.events.find((e) => e.step === "switch")?.at ?? Number.POSITIVE_INFINITY),
    );
    return firstSwitch - lastStaged;
}

/**
 * P3: an `up` against the physical limit of a safe rolling deploy: the slowest host's stage phase
 * plus ceil(N/b) × the median activate phase, all measured in the same `up`.
 */
export function p3Row(up: UpAnalysis, app: string, svg: string): Record<string, unknown> {
    const slowestStage = Math.max(...up.hosts.map((h) => h.stageSeconds));
    const activation = median(up.hosts.map((h) => h.activateSeconds));
    const waves = Math.ceil(up.hosts.length / up.batchSize);
    const limit = slowestStage + waves * activation;
    return {
        app,
        layout: up.layout,
        batchSize: up.batchSize,
        version: up.version,
        hosts: up.hosts.length,
        wallSeconds: up.wallSeconds,
        slowestStageSeconds: round(slowestStage),
        medianActivateSeconds: round(activation),
        waves,
        limitSeconds: round(limit),
        ratio: round(up.wallSeconds / limit),
        rolloutSeconds: up.rolloutSeconds,
        rolloutRatio: round(up.rolloutSeconds / limit),
        firstSwitchAfterLastStagedSeconds: round(firstSwitchAfterLastStaged(up)),
        beforeFirstStepSeconds: up.beforeFirstStepSeconds,
        tailSeconds: up.tailSeconds,
        pipSecondsPerHost: round(median(up.hosts.map((h) => h.eventSeconds.pip ?? 0))),
        loginsPerHost: loginsPerHost(up),
        svg,
        peakMb: up.peakMb,
    };
}

/** Median SSH logins per host in an up (undefined when they were not counted). */
export function loginsPerHost(up: UpAnalysis): number | undefined {
    const counted = up.hosts.filter((h) => h.logins !== undefined).map((h) => h.logins as number);
    return counted.length ? median(counted) : undefined;
}

/** One side (upgrades or rollbacks) of P2, medians over the ups and their hosts. */
export function p2Side(ups: UpAnalysis[]): Record<string, unknown> {
    const perHost = (pick: (h: HostRun) => number): number => round(median(ups.flatMap((u) => u.hosts.map(pick))));
    const perUp = (pick: (u: UpAnalysis) => number): number => round(median(ups.map(pick)));
    const stepNames = [...new Set(ups.flatMap((u) => u.hosts.flatMap((h) => Object.keys(h.stepSeconds))))];
    const srh = perHost((h) => h.switchReloadHealthSeconds);
    const steps = perHost((h) => h.stepsSeconds);
    const rolloutPerHost = round(median(ups.map((u) => u.rolloutSeconds / u.hosts.length)));
    return {
        wallSeconds: perUp((u) => u.wallSeconds),
        runnerLoadSeconds: perUp((u) => u.runnerLoadSeconds),
        stackOpenSeconds: perUp((u) => u.stackOpenSeconds),
        programStartSeconds: perUp((u) => u.programStartSeconds),
        toFirstStepSeconds: perUp((u) => u.toFirstStepSeconds),
        rolloutSeconds: perUp((u) => u.rolloutSeconds),
        betweenStepsSeconds: perUp((u) => u.betweenStepsSeconds),
        tailSeconds: perUp((u) => u.tailSeconds),
        stepSecondsPerHost: Object.fromEntries(
            stepNames.map((step) => [step, perHost((h) => h.stepSeconds[step] ?? 0)]),
        ),
        stepsSecondsPerHost: steps,
        hostSecondsPerHost: perHost((h) => h.hostSeconds),
        pipSecondsPerHost: perHost((h) => h.eventSeconds.pip ?? 0),
        switchReloadHealthPerHost: srh,
        rolloutPerHostSeconds: rolloutPerHost,
        /** The host's steps (engine spans) vs its switch + reload + health. */
        stepsRatio: srh ? round(steps / srh) : 0,
        /** The rollout (first host step → last) over the hosts vs one switch + reload + health. */
        rolloutRatio: srh ? round(rolloutPerHost / srh) : 0,
        loginsPerHost: median(ups.map((u) => loginsPerHost(u) ?? Number.NaN).filter((n) => !Number.isNaN(n))),
        peakMb: perUp((u) => u.peakMb),
    };
}

/** P2 as pairs: upgrades, then rollbacks to the release that was current before each. */
export function p2Summary(upgrades: UpAnalysis[], rollbacks: UpAnalysis[]): Record<string, unknown> {
    const upgrade = median(upgrades.map((u) => u.wallSeconds));
    const rollback = median(rollbacks.map((u) => u.wallSeconds));
    return {
        hosts: upgrades[0]?.hosts.length ?? 0,
        upgrade: p2Side(upgrades),
        rollback: p2Side(rollbacks),
        ratio: round(rollback / upgrade),
        upgradeRuns: upgrades.map((u) => `${u.version}:${u.wallSeconds}`),
        rollbackRuns: rollbacks.map((u) => `${u.version}:${u.wallSeconds}`),
        rollbackResourceOps: rollbacks[0]?.resourceOps,
        rollbackHostEvents: rollbacks[0]?.hosts[0]?.events.map((e) => e.step),
    };
}

/** An up without its events (for the JSON). */
export function stripEvents(up: UpAnalysis): Omit<UpAnalysis, "hosts"> & { hosts: Omit<HostRun, "events">[] } {
    return {
        ...up,
        hosts: up.hosts.map((host) => {
            const copy: Partial<HostRun> = { ...host };
            delete copy.events;
            return copy as Omit<HostRun, "events">;
        }),
    };
}
