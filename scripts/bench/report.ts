// Render BENCHMARKS.md from the JSON the benchmark scripts wrote (scripts/bench/run.sh): this tree
// and today's layout side by side. Parts missing from a partial run read "not measured".
//   usage: npx ts-node --transpile-only scripts/bench/report.ts <dir with the run's JSON>
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/* eslint-disable @typescript-eslint/no-explicit-any */
const dir = process.argv[2];
const maybe = (name: string): any =>
    fs.existsSync(path.join(dir, name)) ? JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) : undefined;
type Side = "old" | "new";
const SIDES: Side[] = ["old", "new"];
const bySide = <T>(read: (side: Side) => T): Record<Side, T> => ({ old: read("old"), new: read("new") });

const run: Record<string, string> = Object.fromEntries(
    (fs.existsSync(path.join(dir, "run.txt")) ? fs.readFileSync(path.join(dir, "run.txt"), "utf8") : "")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);
const e8 = bySide((s) => maybe(`engine-fleet8-${s}.json`));
const e3 = bySide((s) => maybe(`engine-fleet3-${s}.json`));
const previewTs = bySide((s) => maybe(`preview-${s}-ts-node.json`)?.previews as any[] | undefined);
const previewJs = bySide((s) => maybe(`preview-${s}-compiled.json`)?.previews as any[] | undefined);
const scaleTs = bySide((s) => maybe(`scale-${s}-ts-node.json`));
const scaleJs = bySide((s) => maybe(`scale-${s}-compiled.json`));
const fleet = maybe("fleet.json");
const oldTitle = e8.old?.title ?? e3.old?.title ?? previewTs.old?.[0]?.title ?? "today's layout";
const oldCommit = /\(([^)]+)\)/.exec(oldTitle)?.[1] ?? "f5dba13";
const TITLE: Record<Side, string> = { old: `today's layout (${oldCommit})`, new: "this commit" };

const loadLines = (fs.existsSync(path.join(dir, "load.txt")) ? fs.readFileSync(path.join(dir, "load.txt"), "utf8") : "")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" "));
const loads = loadLines.map(([phase, one, five]) => `${phase} ${one}/${five}`).join(", ");
const elapsed = loadLines.length ? Number(loadLines[loadLines.length - 1][4] ?? 0) : 0;
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const debian = fs.existsSync("/etc/debian_version") ? fs.readFileSync("/etc/debian_version", "utf8").trim() : "?";
const kernel = execFileSync("uname", ["-r"]).toString().trim();
const engineVersion =
    /^PULUMI_ENGINE_VERSION=(\S+)$/m.exec(fs.readFileSync("tools/engine/versions.env", "utf8"))?.[1] ?? "?";
const pluginKind = e8.new?.commandPlugin ?? e3.new?.commandPlugin ?? e8.old?.commandPlugin ?? "stand-in";
const plugin = pluginKind === "stand-in" ? "stand-in command plugin" : `${pluginKind} command plugin`;

const NA = "not measured";
const meets = (ok: boolean | undefined): string =>
    ok === undefined ? "" : ok ? "meets the goal" : "**misses the goal**";
const r2 = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? "—" : value.toFixed(2));
const r1 = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? "—" : value.toFixed(1));
const table = (header: string[], rows: string[][]): string =>
    [
        `| ${header.join(" | ")} |`,
        `| ${header.map(() => "---").join(" | ")} |`,
        ...rows.map((r) => `| ${r.join(" | ")} |`),
    ].join("\n");
/** A goal row: the figure for each layout and the verdict on this commit's. */
const goalRow = (
    figure: string,
    goal: string,
    cell: (side: Side) => string | undefined,
    verdict: boolean | undefined,
): string[] => [figure, goal, cell("old") ?? NA, cell("new") ?? NA, meets(verdict)];
/** What issue 23 quotes from a full `npm run bench` of f5dba13 (its own definitions, another day's load). */
const issue23 = (figure: string): string => ` (issue 23 quotes f5dba13's own run: ${figure})`;
const ISSUE23_P3: Record<number, string> = { 1: "1.10×", 2: "1.22×", 8: "1.27×" };
/** Rows neither layout measured in this run are left out. */
const measured = (row: string[]): boolean => row[2] !== NA || row[3] !== NA;

// ---- P2 per host
const p2Scenarios: { name: string; pick: (side: Side) => any }[] = [
    { name: "3 hosts, sample app", pick: (s) => e3[s]?.P2 },
    { name: `${e8.new?.hosts ?? e8.old?.hosts ?? 8} hosts, sample app`, pick: (s) => e8[s]?.P2 },
    {
        name: `3 hosts, heavy app (${e3.new?.P2heavy?.wheelhouseMb ?? e3.old?.P2heavy?.wheelhouseMb ?? "?"} MB wheelhouse)`,
        pick: (s) => e3[s]?.P2heavy,
    },
];
const perHostCell = (p2: any): string | undefined =>
    p2 &&
    `${r2(p2.rollback.rolloutRatio)}× (${r2(p2.rollback.rolloutPerHostSeconds)} s / ${r2(p2.rollback.switchReloadHealthPerHost)} s); its steps ${r2(p2.rollback.stepsRatio)}× (${r2(p2.rollback.stepsSecondsPerHost)} s)`;

const p3Rows = (side: Side): any[] => [...(e8[side]?.P3 ?? []), ...(e8[side]?.P3heavy ?? [])];
const p3Of = (side: Side, app: string, batch: number): any =>
    p3Rows(side).find((p) => p.app === app && p.batchSize === batch);
const preview = (list: any[] | undefined, servers: number): any => list?.find((p) => p.servers === servers);
/** The preview size the goal is about: 200 servers, else the first size this run measured. */
const previewCounts = (run.previewServers ?? "200").split(" ").map(Number);
const previewServers = previewCounts.includes(200) ? 200 : previewCounts[0];
const mockServers = Number(run.mockServers ?? 1000);

const goals: string[][] = [];
if (fleet) {
    goals.push(
        goalRow(
            "P1 upgrade of one host vs the old process (script level)",
            "≤ 1.2×",
            (s) => (s === "new" ? `${fleet.P1.ratio}×` : undefined),
            fleet.P1.ratio <= 1.2,
        ),
        goalRow(
            "P2 rollback vs upgrade, one host (script level)",
            "≤ 0.2×",
            (s) => (s === "new" ? `${fleet.P2.ratio}×` : undefined),
            fleet.P2.ratio <= 0.2,
        ),
    );
}
for (const scenario of p2Scenarios) {
    goals.push(
        goalRow(
            `P2 rollback per host vs its switch + reload + health, ${scenario.name}: the rollout (first host step → last) per host; the host's own steps${issue23("1.42–2.14×")}`,
            "≤ 1.1×",
            (s) => perHostCell(scenario.pick(s)),
            scenario.pick("new") && scenario.pick("new").rollback.rolloutRatio <= 1.1,
        ),
    );
}
for (const scenario of p2Scenarios) {
    const cell = (s: Side): string | undefined => {
        const p2 = scenario.pick(s);
        return p2 && `${p2.ratio}× (${p2.rollback.wallSeconds} s / ${p2.upgrade.wallSeconds} s)`;
    };
    goals.push(
        goalRow(
            `P2 rollback vs upgrade \`up\`, ${scenario.name}, batchSize 1`,
            "≤ 0.5×",
            cell,
            scenario.pick("new") && scenario.pick("new").ratio <= 0.5,
        ),
    );
}
for (const app of ["sample", "heavy"]) {
    for (const batch of [1, 2, 8]) {
        if (!p3Of("old", app, batch) && !p3Of("new", app, batch)) {
            continue;
        }
        const any3 = p3Of("new", app, batch) ?? p3Of("old", app, batch);
        goals.push(
            goalRow(
                `P3 ${app} app, ${any3.hosts} hosts, batchSize ${batch}: wall of the \`up\` vs slowest stage + ${any3.waves} × median activation${app === "sample" && any3.hosts === 8 ? issue23(ISSUE23_P3[batch]) : ""}`,
                "≤ 1.15×",
                (s) => {
                    const p = p3Of(s, app, batch);
                    return (
                        p && `${p.ratio}× (${p.wallSeconds} s / ${p.limitSeconds} s); rollout alone ${p.rolloutRatio}×`
                    );
                },
                p3Of("new", app, batch) && p3Of("new", app, batch).ratio <= 1.15,
            ),
        );
    }
}
const pv = bySide((s) => ({ ts: preview(previewTs[s], previewServers), js: preview(previewJs[s], previewServers) }));
goals.push(
    goalRow(
        `\`preview\` of ${previewServers} servers, ts-node / compiled (this commit: sync:observe false, the servers don't exist)${previewServers === 200 ? issue23("7.2 s") : ""}`,
        "≤ 5 s",
        (s) =>
            pv[s].ts || pv[s].js ? `${pv[s].ts?.wallSeconds ?? "—"} s / ${pv[s].js?.wallSeconds ?? "—"} s` : undefined,
        pv.new.ts && pv.new.ts.wallSeconds <= 5,
    ),
    goalRow(
        `\`preview\` of ${previewServers} servers: peak RSS of the process tree, ts-node / compiled`,
        "≤ 1 GB",
        (s) => (pv[s].ts || pv[s].js ? `${pv[s].ts?.peakMb ?? "—"} MB / ${pv[s].js?.peakMb ?? "—"} MB` : undefined),
        pv.new.ts && pv.new.ts.peakMb <= 1024,
    ),
    goalRow(
        `the program alone under mocks, ${mockServers.toLocaleString("en")} servers, ts-node (as \`pulumi up\` runs it) / compiled${mockServers === 1000 ? issue23("12.8 s") : ""}`,
        "≤ 5 s",
        (s) =>
            scaleTs[s] || scaleJs[s] ? `${scaleTs[s]?.seconds ?? "—"} s / ${scaleJs[s]?.seconds ?? "—"} s` : undefined,
        scaleTs.new && scaleTs.new.seconds <= 5,
    ),
);
const noopCell = (s: Side): string | undefined => {
    const n = e8[s]?.noop;
    if (!n) {
        return undefined;
    }
    return s === "new"
        ? `${n.wallSeconds} s with the read / ${n.unobserved?.noop.wallSeconds ?? "—"} s without (compiled, with: ${n.compiled?.wallSeconds ?? "—"} s)`
        : `${n.wallSeconds} s (compiled: ${n.compiled?.wallSeconds ?? "—"} s)`;
};
const hosts8 = e8.new?.hosts ?? e8.old?.hosts ?? 8;
goals.push(
    goalRow(`no-op \`up\`, ${hosts8} hosts: wall`, "≤ 5 s", noopCell, e8.new && e8.new.noop.wallSeconds <= 5),
    goalRow(
        `no-op \`up\`, ${hosts8} hosts: events written on the hosts; SSH logins`,
        "0 events",
        (s) => e8[s] && `${e8[s].noop.hostEventsAdded}; ${e8[s].noop.logins} logins`,
        e8.new && e8.new.noop.hostEventsAdded === 0,
    ),
    goalRow(
        `\`preview\`, ${hosts8} hosts, nothing changed: wall`,
        "—",
        (s) =>
            e8[s] &&
            (s === "new"
                ? `${e8[s].noop.preview.wallSeconds} s with the read / ${e8[s].noop.unobserved?.preview.wallSeconds ?? "—"} s without`
                : `${e8[s].noop.preview.wallSeconds} s`),
        undefined,
    ),
);
const obs = e8.new?.observation;
if (obs) {
    const projectedPreview = pv.new.ts ? pv.new.ts.wallSeconds + obs.projected200Seconds : undefined;
    goals.push(
        goalRow(
            "the read before planning, one host (its login included) / with its login up; all hosts at once",
            "—",
            (s) =>
                s === "new"
                    ? `${r2(obs.perHostColdSeconds)} s / ${r2(obs.perHostWarmSeconds)} s; ${obs.hosts} at once ${r2(obs.allAtOnceSeconds)} s`
                    : "none (no read)",
            undefined,
        ),
        goalRow(
            `the read before planning at 200 servers, projected: ${obs.projected200Waves} waves of ${obs.parallel} × one host; the ${previewServers}-server preview with it`,
            "—",
            (s) =>
                s === "new"
                    ? `${r2(obs.projected200Seconds)} s; ${previewServers === 200 && projectedPreview !== undefined ? `${r2(projectedPreview)} s` : "—"}`
                    : "none",
            undefined,
        ),
    );
}
const logins = bySide((s) => e8[s]?.logins);
if (logins.old || logins.new) {
    goals.push(
        goalRow(
            `SSH logins per host in an upgrade \`up\` (sshd's "Accepted publickey"), ${hosts8} hosts, batchSize 1`,
            "1",
            (s) =>
                logins[s] &&
                (s === "new"
                    ? `${logins[s].shared.upgrade.loginsPerHost} (shared master); ${logins[s].perStep?.upgrade.loginsPerHost ?? "—"} with SYNC_SSH_PERSIST=1`
                    : `${logins[s].shared.upgrade.loginsPerHost} (a dial a step)`),
            logins.new && logins.new.shared.upgrade.loginsPerHost === 1,
        ),
    );
}
if (fleet) {
    for (const app of ["sample", "heavy"] as const) {
        const b = fleet.build?.[app];
        if (b) {
            goals.push(
                goalRow(
                    `uv vs pip: the build step on one host, ${app} app (script level)`,
                    app === "heavy" ? "≤ 0.4×" : "—",
                    (s) => (s === "new" ? `${b.ratio}× (${b.uvMedianSeconds} s / ${b.pipMedianSeconds} s)` : undefined),
                    app === "heavy" ? b.ratio <= 0.4 : undefined,
                ),
            );
        }
    }
    const failed = fleet.P4.oursUpgrade.failed + fleet.P4.oursRollback.failed;
    goals.push(
        goalRow(
            "P4 failed requests during our upgrade and rollback (script level)",
            "0",
            (s) => (s === "new" ? `${failed}` : undefined),
            failed === 0,
        ),
    );
}

// ---- P2 breakdown, both layouts side by side
const STEP_ORDER = ["probe-stage", "bundle", "stage", "probe-activate", "ini", "activate"];
const breakdown = (pick: (side: Side) => any): string => {
    const cols: { side: Side; which: "upgrade" | "rollback" }[] = SIDES.flatMap((side) =>
        pick(side) ? (["upgrade", "rollback"] as const).map((which) => ({ side, which })) : [],
    );
    if (!cols.length) {
        return `_${NA} in this run._`;
    }
    const steps = STEP_ORDER.filter((step) =>
        cols.some((c) => pick(c.side)[c.which].stepSecondsPerHost[step] !== undefined),
    );
    const rows: [string, (v: any) => string][] = [
        ["wall of the `up` process (s)", (v) => r2(v.wallSeconds)],
        ["node + ts-node + the runner's modules (s)", (v) => r2(v.runnerLoadSeconds)],
        ["stack open: workspace, `pulumi version`, select (s)", (v) => r2(v.stackOpenSeconds)],
        ["CLI start, plugin load, program → first resource (s)", (v) => r2(v.programStartSeconds)],
        [
            "first resource → first host step: the program (this commit: the read before planning) (s)",
            (v) => r2(v.toFirstStepSeconds),
        ],
        ["rollout: first host step → last (s)", (v) => r2(v.rolloutSeconds)],
        ...steps.map((step): [string, (v: any) => string] => [
            `… \`-${step}\` a host, engine span (s)`,
            (v) => (v.stepSecondsPerHost[step] === undefined ? "—" : r2(v.stepSecondsPerHost[step])),
        ]),
        ["… all of a host's steps (s)", (v) => r2(v.stepsSecondsPerHost)],
        ["… of which on the host, inside its steps (s)", (v) => r2(v.hostSecondsPerHost)],
        ["… pip (uv) (s)", (v) => r2(v.pipSecondsPerHost)],
        ["… switch + draining reload + health (s)", (v) => r2(v.switchReloadHealthPerHost)],
        ["… no host step running: the engine between steps (s)", (v) => r2(v.betweenStepsSeconds)],
        ["last host step → process exit: deletes of replaced resources, state, exit (s)", (v) => r2(v.tailSeconds)],
        ["SSH logins a host", (v) => `${v.loginsPerHost ?? "—"}`],
        ["peak RSS, process tree (MB)", (v) => `${v.peakMb}`],
    ];
    return table(
        ["", ...cols.map((c) => `${TITLE[c.side]}: ${c.which}`)],
        rows.map(([name, cell]) => [name, ...cols.map((c) => cell(pick(c.side)[c.which]))]),
    );
};

const p3Table =
    p3Rows("old").length || p3Rows("new").length
        ? table(
              [
                  "app",
                  "batchSize",
                  "layout",
                  "version",
                  "wall s",
                  "slowest stage s",
                  "median activation s × waves",
                  "limit s",
                  "ratio",
                  "rollout s (ratio)",
                  "first switch − last staged s",
                  "before the first host step s",
                  "tail s",
                  "pip a host s",
                  "logins a host",
                  "",
              ],
              ["sample", "heavy"].flatMap((app) =>
                  [1, 2, 8].flatMap((batch) =>
                      SIDES.flatMap((side) => {
                          const p = p3Of(side, app, batch);
                          return p
                              ? [
                                    [
                                        app,
                                        `${batch}`,
                                        TITLE[side],
                                        p.version,
                                        `${p.wallSeconds}`,
                                        r2(p.slowestStageSeconds),
                                        `${r2(p.medianActivateSeconds)} × ${p.waves}`,
                                        `${p.limitSeconds}`,
                                        `**${p.ratio}×**`,
                                        `${p.rolloutSeconds} (${p.rolloutRatio}×)`,
                                        r2(p.firstSwitchAfterLastStagedSeconds),
                                        r2(p.beforeFirstStepSeconds),
                                        r2(p.tailSeconds),
                                        r2(p.pipSecondsPerHost),
                                        `${p.loginsPerHost ?? "—"}`,
                                        `[timeline](docs/bench/${p.svg})`,
                                    ],
                                ]
                              : [];
                      }),
                  ),
              ),
          )
        : `_${NA} in this run._`;

// ---- the read before planning and the no-op runs
const noopSection = ((): string => {
    if (!e8.old && !e8.new) {
        return `_${NA} in this run._`;
    }
    const rows: string[][] = [];
    const add = (name: string, side: Side, n: any): void => {
        if (n) {
            rows.push([
                name,
                TITLE[side],
                `${n.wallSeconds}`,
                r2(n.runnerLoadSeconds),
                r2(n.stackOpenSeconds),
                r2((n.toFirstResourceSeconds ?? n.programStartSeconds) + n.toFleetSeconds),
                `${n.logins}`,
                `${n.hostEventsAdded}`,
                `${n.peakMb}`,
            ]);
        }
    };
    for (const side of SIDES) {
        const n = e8[side]?.noop;
        if (!n) {
            continue;
        }
        add(side === "new" ? "no-op `up`, with the read" : "no-op `up`", side, n);
        add("no-op `up`, sync:observe false", side, n.unobserved?.noop);
        add("no-op `up`, compiled", side, n.compiled);
        add(side === "new" ? "`preview`, with the read" : "`preview`", side, n.preview);
        add("`preview`, sync:observe false", side, n.unobserved?.preview);
    }
    return table(
        [
            "",
            "layout",
            "wall s",
            "node + runner s",
            "stack open s",
            "CLI start → the fleet declared: the program (and the read) s",
            "SSH logins",
            "host events written",
            "peak RSS MB",
        ],
        rows,
    );
})();

const observationText = obs
    ? `The read on its own (components/observe.ts's observeHost and observeFleet, as the program calls
them, from the bench's process): each of the ${obs.hosts} hosts alone with no master connection up,
its login included (s): ${obs.coldSeconds.join(", ")} — median **${r2(obs.perHostColdSeconds)} s**; the same
hosts again right after, their logins still up: ${obs.warmSeconds.join(", ")} — median **${r2(obs.perHostWarmSeconds)} s**
(so one login costs about ${r2(obs.perHostColdSeconds - obs.perHostWarmSeconds)} s here); all ${obs.hosts} at once (up to ${obs.parallel}
in parallel), cold: **${r2(obs.allAtOnceSeconds)} s**. At 200 servers the program reads ${obs.parallel} at once: projected
${obs.projected200Waves} waves × ${r2(obs.perHostColdSeconds)} s = **${r2(obs.projected200Seconds)} s** — a projection from the measured
per-host cost and the fan-out, assuming the deployer keeps ${obs.parallel} reads going as fast as one (here the
deployer and every host share 2 CPUs, and ${obs.hosts} at once took ${r2(obs.allAtOnceSeconds / obs.perHostColdSeconds)}× one host alone).`
    : `_${NA} in this run._`;
const obsHeavy = e8.new?.observationHeavy;
const observationHeavyText = obsHeavy
    ? `The same read with the heavy app current (release ${obsHeavy.version}, ${obsHeavy.filesPerRelease} files a release on a host; the
host's side checks the current release's tree and the wanted one's file by file): one host alone
from cold **${r2(obsHeavy.perHostColdSeconds)} s**${obs ? ` (${r2(obs.perHostColdSeconds)} s with the sample app)` : ""}, with its login up ${r2(obsHeavy.perHostWarmSeconds)} s, all ${obsHeavy.hosts} at once
${r2(obsHeavy.allAtOnceSeconds)} s; projected at 200 servers ${r2(obsHeavy.projected200Seconds)} s.`
    : "";

// ---- logins: sharing one master a host vs a login a step
const loginsSection = ((): string => {
    const rows: string[][] = [];
    const add = (name: string, side: Side, l: any): void => {
        if (l) {
            rows.push([
                name,
                TITLE[side],
                l.runs.join(", "),
                `${l.loginsPerHost} (${l.loginsPerHostRange.join("–")})`,
                r2(l.wallSeconds),
                r2(l.rolloutSeconds),
                r2(l.stageSecondsPerHost),
                r2(l.activateSecondsPerHost),
                r2(l.stepsSecondsPerHost),
            ]);
        }
    };
    for (const side of SIDES) {
        const l = logins[side];
        if (!l) {
            continue;
        }
        add(side === "new" ? "upgrade, one master a host" : "upgrade, a dial a step", side, l.shared.upgrade);
        add("upgrade, SYNC_SSH_PERSIST=1", side, l.perStep?.upgrade);
        add(
            side === "new" ? "swap to a built release, one master a host" : "rollback, a dial a step",
            side,
            l.shared.swaps,
        );
        add("swap to a built release, SYNC_SSH_PERSIST=1", side, l.perStep?.swaps);
    }
    if (!rows.length) {
        return `_${NA} in this run._`;
    }
    return table(
        [
            "",
            "layout",
            "runs (version: wall s)",
            "logins a host, median (range)",
            "wall s (median)",
            "rollout s",
            "`-stage` a host s",
            "`-activate` a host s",
            "all its steps a host s",
        ],
        rows,
    );
})();
const loginVerdict = ((): string => {
    const l = logins.new;
    if (!l?.perStep) {
        return "";
    }
    const activateGain = l.perStep.swaps.activateSecondsPerHost - l.shared.swaps.activateSecondsPerHost;
    const stepsGain = l.perStep.upgrade.stepsSecondsPerHost - l.shared.upgrade.stepsSecondsPerHost;
    const wallGain = l.perStep.swaps.wallSeconds - l.shared.swaps.wallSeconds;
    const extra = l.perStep.upgrade.loginsPerHost - l.shared.upgrade.loginsPerHost;
    const loginCost = obs ? obs.perHostColdSeconds - obs.perHostWarmSeconds : undefined;
    return `Measured: with SYNC_SSH_PERSIST=1 a host logs in ${l.perStep.upgrade.loginsPerHost} times in an upgrade (${extra >= 0 ? "+" : ""}${r1(extra)}; a master
outlives its step by 1 s, so a step that starts within that second still rides the last one's
login), against ${l.shared.upgrade.loginsPerHost} with the shared master. Per host, the activation (serial at batchSize 1,
so on the critical path) takes ${r2(l.perStep.swaps.activateSecondsPerHost)} s against ${r2(l.shared.swaps.activateSecondsPerHost)} s (${activateGain >= 0 ? "+" : ""}${r2(activateGain)} s),
all of a host's steps in the upgrade ${r2(l.perStep.upgrade.stepsSecondsPerHost)} s against ${r2(l.shared.upgrade.stepsSecondsPerHost)} s (${stepsGain >= 0 ? "+" : ""}${r2(stepsGain)} s), and the
median swap \`up\` ${r2(l.perStep.swaps.wallSeconds)} s against ${r2(l.shared.swaps.wallSeconds)} s (${wallGain >= 0 ? "+" : ""}${r2(wallGain)} s)${
        loginCost !== undefined
            ? `; one login costs
about ${r2(loginCost)} s (the read before planning, cold − warm)`
            : ""
    }. ${
        activateGain > 0 && wallGain > 0
            ? "**Sharing one login a host pays here**: a step that logs in anew adds that login to the host's path, and at batchSize 1 every activation is on the `up`'s critical path."
            : "**Sharing one login a host showed no gain above this machine's noise in this run.**"
    }`;
})();

// ---- previews and mocks
const cpuSplit = (p: any): string =>
    p.cpuSecondsByCommand
        ? Object.entries(p.cpuSecondsByCommand as Record<string, number>)
              .filter(([, seconds]) => seconds >= 0.1)
              .sort((a, b) => b[1] - a[1])
              .map(([name, seconds]) => `${name === "MainThread" ? "node" : name} ${seconds}`)
              .join(", ")
        : "—";
const previewRows: string[][] = SIDES.flatMap((side) =>
    [...(previewTs[side] ?? []), ...(previewJs[side] ?? [])].map((p) => ({ side, p })),
)
    .sort((a, b) => a.p.servers - b.p.servers || b.p.how.localeCompare(a.p.how) || b.side.localeCompare(a.side))
    .map(({ side, p }) => [
        TITLE[side],
        `${p.servers}`,
        p.how,
        `${p.resources} (${r1((p.resources - 3) / p.servers)}/server)`,
        `${p.wallSeconds}`,
        r2(p.runnerLoadSeconds + p.stackOpenSeconds + p.toFirstResourceSeconds + p.toFleetSeconds),
        `${p.registeringSeconds} (${r1((p.registeringSeconds * 1000) / p.resources)} ms/resource)`,
        `${p.afterLastResourceSeconds}`,
        `${p.peakMb} (${Object.entries(p.peakByCommand as Record<string, number>)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 3)
            .map(([name, mb]) => `${name === "MainThread" ? "node" : name} ${mb}`)
            .join(", ")})`,
        cpuSplit(p),
        `${p.sshdLogLinesAdded}`,
    ]);
const scaleRows: string[][] = SIDES.flatMap((side) =>
    [
        ["ts-node", scaleTs[side]],
        ["compiled JS (`tsc`, then node)", scaleJs[side]],
    ]
        .filter(([, s]) => s)
        .map(([how, s]: any[]) => [TITLE[side], how, `${s.servers}`, `${s.resources}`, `${s.seconds}`, `${s.rssMb}`]),
);

// ---- script level (this commit)
const scriptSection = ((): string => {
    if (!fleet) {
        return `_${NA} in this run._`;
    }
    const load = (name: string, r: any): string[] => [
        name,
        `${r.requests}`,
        `${r.failed}`,
        Object.keys(r.errors).length ? JSON.stringify(r.errors) : "—",
    ];
    const build = (["sample", "heavy"] as const)
        .filter((app) => fleet.build?.[app])
        .map((app) => {
            const b = fleet.build[app];
            return [
                `${app} (${b.version})`,
                b.uvSeconds.join(", "),
                b.pipSeconds.join(", "),
                `${b.uvMedianSeconds} / ${b.pipMedianSeconds}`,
                `**${b.ratio}×**`,
                `${b.stageSecondsUv}`,
            ];
        });
    return `### P1 — upgrade of one host vs the old process (goal ≤ 1.2×)

Ours (sync-1): stage (the bundle on the step's own session, sha256s, preflight, uv venv + offline
install, seal, record) + activate (switch, draining reload, version/heartbeat check, prune), through
the fleet tier's harness. Old process (sync-2, \`scripts/old-deploy.sh\`): copy, pip install into the
one live venv, \`apachectl restart\`. Medians of ${fleet.runs} upgrades each (1.1.4 → ${["1.1.5", "1.9", "1.10", "1.11", "2.0"].slice(0, fleet.runs).join(" → ")}).

${table(
    ["", "median s", "runs (s)"],
    [
        ["ours", `${fleet.P1.oursMedianSeconds}`, fleet.P1.oursRuns.join(", ")],
        ["old process", `${fleet.P1.oldMedianSeconds}`, fleet.P1.oldRuns.join(", ")],
        ["**ratio**", `**${fleet.P1.ratio}×**`, meets(fleet.P1.ratio <= 1.2)],
    ],
)}

Where our time goes (median seconds per step, from the host's \`/var/sync/events.log\`):

${table(
    ["step", "s"],
    Object.entries(fleet.P1.breakdownMedianSeconds as Record<string, number>).map(([step, s]) => [step, s.toFixed(2)]),
)}

Script-level rollback (a swap on one host, no engine): median ${fleet.P2.rollbackMedianSeconds} s (runs:
${fleet.P2.rollbackRuns.join(", ")}) vs upgrade ${fleet.P2.upgradeMedianSeconds} s: **${fleet.P2.ratio}×**, ${meets(fleet.P2.ratio <= 0.2)} (goal ≤ 0.2×).

### The build step on a host — uv vs pip (goal ≤ 0.4× for the heavy app)

On one fleet host, from the same unpacked sdist and wheelhouse, as the build user, into fresh
venvs, alternating: **uv** as \`stage.sh\` runs it and **pip** as the hosts ran it before uv
(\`scripts/bench/build-tools.sh\`; each tool's one-time set-up done first and not timed). "Stage"
is the real stage of the same release with uv on that host, first event → \`staged\`.

${table(["app (version)", "uv s", "pip s", "median uv / pip s", "ratio", "stage with uv, first event → staged s"], build)}

### P4 — failed requests under constant load (goal: 0 for ours)

4 keep-alive client loops hitting \`/__version__\` on one host for the whole deploy.

${table(
    ["deploy", "requests", "failed", "errors"],
    [
        load("ours, upgrade", fleet.P4.oursUpgrade),
        load("ours, rollback", fleet.P4.oursRollback),
        load("old process, upgrade", fleet.P4.oldProcess),
    ],
)}`;
})();

const timelines = SIDES.flatMap((side) =>
    e8[side]
        ? [
              `${TITLE[side]}: P2 ${hosts8} hosts [upgrade](docs/bench/p2-upgrade-8-${side}.svg), [rollback](docs/bench/p2-rollback-8-${side}.svg)`,
          ]
        : [],
).join("; ");
const partial =
    run.full === "1"
        ? ""
        : `\n> **Partial run** (${Object.entries(run)
              .filter(([key]) => key !== "full")
              .map(([k, v]) => `${k}: ${v}`)
              .join("; ")}): what it did not measure reads "${NA}". Not a full \`npm run bench\`.\n`;

console.log(`# Benchmarks
${partial}
Measured ${new Date().toISOString().slice(0, 10)} on one machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB,
Debian ${debian}, kernel ${kernel}; local fleets of Debian 12 hosts in namespaces on the same
machine (Apache 2.4 + mod_wsgi 4.9.4, Python 3.11). **Two layouts, measured in this one run on the
same machine, hosts, releases and engine:**

- **this commit** (${run.commit ?? "?"}): every host step a \`command:local:Command\` running the deployer's
  OpenSSH (components/local/on-host.sh: one ControlMaster login a host, shared by its steps), the
  bundle streamed on the stage's own session, three steps a server (\`-stage\`, \`-ini\`, \`-activate\`),
  every host read before planning (components/observe.ts; \`sync:observe false\` turns it off);
- **${TITLE.old}**, the layout before it: a login probe before each phase (the deployer's
  OpenSSH), the bundle by \`CopyToRemote\`, stage/ini/activate as \`command:remote:Command\` (one SSH
  dial a step), six steps a server; run by its own runner and program
  (\`scripts/bench/old-layout.sh\`: \`git archive ${oldCommit}\`, its own \`npm ci\`, its own build of the
  command stand-in, which still serves \`command:remote:*\`, in a PULUMI_HOME of its own) under the
  same CLI as this commit (its pinned v3.259.0 name links to the ${engineVersion} engine).

Engine: the Pulumi CLI ${engineVersion} built from its Go module, each program inline through the
Automation API exactly as its \`scripts/local-stack.ts\` runs it, a file backend, and the **${plugin}**
(tools/command-standin; the released \`pulumi-resource-command\` can't be had here). Every \`up\` and
\`preview\` on a fleet starts with no SSH master connection to its hosts, as an operator's first of
the day (the bench closes this fleet's masters before each). Every ratio compares figures taken
in this one run. Reproduce (root): \`npm run bench\` (scripts/bench/run.sh; this run took ${Math.round(elapsed / 60)} min), which
rewrites this file and docs/bench/*.svg. Load average (1 min/5 min) at the end of each part:
${loads}; on 2 CPUs, where the fleet's hosts and the deployer share them, load inflates every figure
that runs several hosts at once.

## Goals (issues 23 and 24)

The verdict is this commit's.

${table(["figure", "goal", TITLE.old, TITLE.new, ""], goals.filter(measured))}

## P2 per host — a rollback \`up\` (pin a kept release) against each host's switch + reload + health

Upgrade: pin the next release (every host builds it). Rollback: pin the release the upgrade replaced
(built on every host: the stage answers \`reuse\`). Both at batchSize 1, as \`scripts/local-stack.ts
up\` runs them. "Rollout per host" is the \`up\` from its first host step to its last, over the hosts:
what each host adds to the \`up\`; "its steps" is the sum of one host's own engine steps (login,
transfer and remote work included). The goal's yardstick is what a swap can't avoid: the host's
switch + draining reload + health check (its events.log). Both layouts are read alike here; the
1.42–2.14× issue 23 quotes came from f5dba13's own bench, which counted a host's upload and two
commands (not its probes), and the wall less the start and the tail over the hosts.

### ${p2Scenarios[0].name}

${breakdown(p2Scenarios[0].pick)}

### ${p2Scenarios[1].name}

${breakdown(p2Scenarios[1].pick)}

Timelines: ${timelines || NA}.

### ${p2Scenarios[2].name}

${breakdown(p2Scenarios[2].pick)}

## P3 — upgrade \`up\` at batchSize 1, 2, 8 vs the physical limit of a safe rolling deploy (goal ≤ 1.15×)

The limit: the slowest host's stage phase (its engine steps: probe, upload and stage in today's
layout, the stage in this commit) plus one median activate phase (probe, ini, activate / ini,
activate) per wave, ceil(N/b) waves — all measured in the same \`up\`. "Wall" is the whole \`up\`
process; "rollout" is the first host step's start to the last one's end; "before the first host
step" is the runner, the CLI, the program (and, in this commit, the read before planning). "First
switch − last staged" below 0 would mean a host switched before every host had staged. Each
timeline shows every host's events over its engine steps against the seconds since the \`up\`
process started.

${p3Table}

## Issue 24 — the read before planning: no-op \`up\`, \`preview\`, its cost per host

${hosts8} hosts, nothing changed since the last \`up\`; each run cold (no master connection up, so the
read logs in to every host once). "Host events written" is how many lines the hosts'
/var/sync/events.log grew (0: no step ran anywhere).

${noopSection}

${observationText}

${observationHeavyText}

## Issue 23 — one login a host (ControlMaster) or a login a step

Logins from each host's sshd log (\`grep -c 'Accepted publickey' /var/log/sshd.log\` before and after),
${hosts8} hosts, batchSize 1. This commit: the same kind of upgrade (a release every host builds) with
the master shared (the default: it outlives its last session by 120 s) and with SYNC_SSH_PERSIST=1
in the deployer's environment (it outlives it by 1 s: a step that starts later logs in anew), then
swaps between two built releases alternating the two ways (the rollback of P2 is the first shared
one). Today's layout dials once per step (its probes with OpenSSH, the rest with the plugin's Go SSH).

${loginsSection}

${loginVerdict}

## \`preview\` at scale and the program under mocks

\`preview\` of a new stack of N servers (every resource a create): N distinct names over the fleet
hosts' real addresses and host keys (this commit with \`sync:observe false\`: these servers don't
exist; the read's cost is the section above). "sshd lines" is how many lines the hosts' sshd logs grew
during the preview: 0 means the preview connected to nothing. No preview of 1,000 servers: the
3.276 engine's file backend serializes and encrypts the whole snapshot again after every step, in
a preview too, so its cost grows with the square of the stack; at 1,000 servers either layout's
preview grew past 17 GB of memory within 8 minutes (docs/how-it-works.md, "Scale").

${previewRows.length ? table(["layout", "servers", "how", "resources", "wall s", "to the fleet's first resource s", "registering s", "after the last resource s", "peak RSS MB (largest processes)", "CPU s by process", "sshd lines"], previewRows) : `_${NA} in this run._`}

The program alone under Pulumi's mocks (no engine):

${scaleRows.length ? table(["layout", "how it runs", "servers", "resources", "s", "RSS MB"], scaleRows) : `_${NA} in this run._`}

## Script level (this commit)

${scriptSection}
`);
console.log(fs.readFileSync(path.join(__dirname, "notes.md"), "utf8"));
