// Render BENCHMARKS.md from the JSON the benchmark scripts printed (scripts/bench/run.sh).
//   usage: npx ts-node --transpile-only scripts/bench/report.ts <dir with the run's JSON>
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/* eslint-disable @typescript-eslint/no-explicit-any */
const dir = process.argv[2];
const read = (name: string): any => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
const fleet = read("fleet.json");
const scaleTs = read("scale-ts-node.json");
const scaleJs = read("scale-compiled.json");
const e8 = read("engine-fleet8.json");
const e3 = read("engine-fleet3.json");
const previewTs: any[] = read("preview-ts-node.json");
const previewJs: any[] = read("preview-compiled.json");
const loads = fs
    .readFileSync(path.join(dir, "load.txt"), "utf8")
    .trim()
    .split("\n")
    .map((line) => line.split(" "))
    .map(([phase, one, five]) => `${phase} ${one}/${five}`)
    .join(", ");
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const debian = fs.existsSync("/etc/debian_version") ? fs.readFileSync("/etc/debian_version", "utf8").trim() : "?";
const kernel = execFileSync("uname", ["-r"]).toString().trim();
const engineVersion =
    /^PULUMI_ENGINE_VERSION=(\S+)$/m.exec(fs.readFileSync("tools/engine/versions.env", "utf8"))?.[1] ?? "?";
const plugin = e8.commandPlugin === "stand-in" ? "stand-in command plugin" : `${e8.commandPlugin} command plugin`;
const meets = (ok: boolean): string => (ok ? "meets the goal" : "**misses the goal**");
const r2 = (value: number): string => value.toFixed(2);
const r1 = (value: number): string => value.toFixed(1);

// ---- derived figures
const perHostRollback = (p2: any): number =>
    (p2.rollback.uploadSecondsPerHost + p2.rollback.installCommandSecondsPerHost) /
    p2.rollback.switchReloadHealthPerHost;
/** A rollback's seconds per host inside the `up`: wall less the fixed start and tail, over the hosts. */
const perHostInUp = (p2: any, hosts: number): number =>
    (p2.rollback.wallSeconds -
        p2.rollback.runnerLoadSeconds -
        p2.rollback.stackOpenSeconds -
        p2.rollback.programStartSeconds -
        p2.rollback.tailSeconds) /
    hosts;
const p2Rows = [
    { name: "3 hosts, sample app", p2: e3.P2, hosts: e3.hosts },
    { name: "8 hosts, sample app", p2: e8.P2, hosts: e8.hosts },
    { name: `3 hosts, heavy app (${e3.P2heavy.wheelhouseMb} MB wheelhouse)`, p2: e3.P2heavy, hosts: e3.hosts },
];
const preview200 = previewTs.find((p) => p.servers === 200);
const preview200Js = previewJs.find((p) => p.servers === 200);
const noop = e8.P5noop;

const goalsTable = [
    [
        "P1 upgrade of one host vs the old process (script level)",
        "≤ 1.2×",
        `${fleet.P1.ratio}×`,
        meets(fleet.P1.ratio <= 1.2),
    ],
    ["P2 rollback vs upgrade, one host (script level)", "≤ 0.2×", `${fleet.P2.ratio}×`, meets(fleet.P2.ratio <= 0.2)],
    ...p2Rows.map((row) => [
        `P2 rollback vs upgrade \`up\`, ${row.name}, batchSize 1 (${plugin})`,
        "≤ 0.5×",
        `${row.p2.ratio}× (${row.p2.rollback.wallSeconds} s / ${row.p2.upgrade.wallSeconds} s)`,
        meets(row.p2.ratio <= 0.5),
    ]),
    ...p2Rows.map((row) => [
        `P2 rollback per host vs its switch + reload + health, ${row.name}: upload + install command; all of the \`up\` from the first resource to the last host, per host`,
        "≤ 1.1×",
        `${r2(perHostRollback(row.p2))}× (${r2(row.p2.rollback.uploadSecondsPerHost + row.p2.rollback.installCommandSecondsPerHost)} s / ${r2(row.p2.rollback.switchReloadHealthPerHost)} s); ${r2(perHostInUp(row.p2, row.hosts) / row.p2.rollback.switchReloadHealthPerHost)}× (${r2(perHostInUp(row.p2, row.hosts))} s)`,
        meets(perHostInUp(row.p2, row.hosts) / row.p2.rollback.switchReloadHealthPerHost <= 1.1),
    ]),
    ...[...e8.P3, ...e8.P3heavy].map((p: any) => [
        `P3 ${p.app} app, 8 hosts, batchSize ${p.batchSize}: wall of the \`up\` vs slowest stage + ${p.waves} × median activation (${plugin})`,
        "≤ 1.15×",
        `${p.ratio}× (${p.wallSeconds} s / ${p.limitSeconds} s); the rollout alone ${p.rolloutRatio}×`,
        meets(p.ratio <= 1.15),
    ]),
    ...(["sample", "heavy"] as const)
        .filter((app) => fleet.build?.[app])
        .map((app) => [
            `uv vs pip: the build step on one host, ${app} app (script level)`,
            app === "heavy" ? "≤ 0.4×" : "—",
            `${fleet.build[app].ratio}× (${fleet.build[app].uvMedianSeconds} s / ${fleet.build[app].pipMedianSeconds} s)`,
            app === "heavy" ? meets(fleet.build[app].ratio <= 0.4) : "",
        ]),
    [
        "P4 failed requests during our upgrade and rollback",
        "0",
        `${fleet.P4.oursUpgrade.failed + fleet.P4.oursRollback.failed}`,
        meets(fleet.P4.oursUpgrade.failed + fleet.P4.oursRollback.failed === 0),
    ],
    [
        `P5 no-op \`up\`, 8 hosts: remote commands (SSH logins) (${plugin})`,
        "0",
        `${noop.sshLogins}`,
        meets(noop.sshLogins === 0),
    ],
    [
        `P5 no-op \`up\`, 8 hosts: wall (${plugin})`,
        "≤ 5 s",
        `${noop.wallSeconds} s (compiled: ${noop.compiled?.wallSeconds ?? "—"} s)`,
        meets(noop.wallSeconds <= 5),
    ],
    [
        `P5 \`preview\`, 200 servers: wall, ts-node / compiled (${plugin})`,
        "≤ 15 s",
        `${preview200.wallSeconds} s / ${preview200Js.wallSeconds} s`,
        meets(preview200.wallSeconds <= 15),
    ],
    [
        `P5 \`preview\`, 200 servers: peak RSS of the process tree, ts-node / compiled`,
        "≤ 1 GB",
        `${preview200.peakMb} MB / ${preview200Js.peakMb} MB`,
        meets(preview200.peakMb <= 1024),
    ],
    [
        "P5 the program alone under mocks, 1,000 servers, ts-node (as `pulumi up` runs it) / compiled",
        "≤ 5 s",
        `${scaleTs.seconds} s / ${scaleJs.seconds} s`,
        meets(scaleTs.seconds <= 5),
    ],
]
    .map((row) => `| ${row.join(" | ")} |`)
    .join("\n");

const breakdown = (p2: any): string => {
    const rows: [string, (side: any) => string][] = [
        ["wall of the `up` process (s)", (s) => r2(s.wallSeconds)],
        ["node + ts-node + the runner's modules (s)", (s) => r2(s.runnerLoadSeconds)],
        ["stack open: workspace, `pulumi version`, select (s)", (s) => r2(s.stackOpenSeconds)],
        ["CLI start, plugin load, program → first resource (s)", (s) => r2(s.programStartSeconds)],
        [
            "uploads run / s per host (engine span of the bundle's CopyToRemote)",
            (s) => `${s.uploadsRun} / ${r2(s.uploadSecondsPerHost)}`,
        ],
        ["stage + activate commands per host, engine spans (s)", (s) => r2(s.installCommandSecondsPerHost)],
        ["… of which on the host, inside the two commands (s)", (s) => r2(s.hostSecondsPerHost)],
        ["… pip (s)", (s) => r2(s.pipSecondsPerHost)],
        ["… switch + draining reload + health (s)", (s) => r2(s.switchReloadHealthPerHost)],
        ["no remote step running, all hosts: engine between steps (s)", (s) => r2(s.engineBetweenSeconds)],
        ["last host finished → process exit: deletes of replaced resources, state, exit (s)", (s) => r2(s.tailSeconds)],
        ["peak RSS, process tree (MB)", (s) => `${s.peakMb}`],
    ];
    return [
        "| | upgrade | rollback |",
        "| --- | --- | --- |",
        ...rows.map(([name, pick]) => `| ${name} | ${pick(p2.upgrade)} | ${pick(p2.rollback)} |`),
    ].join("\n");
};

/** Walls of the same upgrades before the two phases (BENCHMARKS.md of the previous layout, sample app). */
const BEFORE_SAMPLE: Record<number, number> = { 1: 39.4, 2: 23.8, 8: 18.5 };
const p3Table = [...e8.P3, ...e8.P3heavy]
    .map(
        (p: any) =>
            `| ${p.app} | ${p.batchSize} | ${p.version} | ${p.wallSeconds} | ${r2(p.slowestStageSeconds)} | ${r2(p.medianActivateSeconds)} × ${p.waves} | ${p.limitSeconds} | **${p.ratio}×** | ${p.rolloutSeconds} (${p.rolloutRatio}×) | ${r2(p.firstSwitchAfterLastStagedSeconds)} | ${r2(p.pipSecondsPerHost)} | ${p.app === "sample" ? `${BEFORE_SAMPLE[p.batchSize]} s → ${r2(p.wallSeconds / BEFORE_SAMPLE[p.batchSize])}×` : `≈ 15 s a host before → ${r2(p.wallSeconds / 8)} s a host`} | [timeline](docs/bench/${p.svg}) |`,
    )
    .join("\n");
const buildTable = (["sample", "heavy"] as const)
    .filter((app) => fleet.build?.[app])
    .map((app) => {
        const b = fleet.build[app];
        return `| ${app} (${b.version}) | ${b.uvSeconds.join(", ")} | ${b.pipSeconds.join(", ")} | ${b.uvMedianSeconds} / ${b.pipMedianSeconds} | **${b.ratio}×** | ${b.stageSecondsUv} |`;
    })
    .join("\n");

const cpuSplit = (p: any): string =>
    p.cpuSecondsByCommand
        ? Object.entries(p.cpuSecondsByCommand as Record<string, number>)
              .filter(([, seconds]) => seconds >= 0.1)
              .sort((a, b) => b[1] - a[1])
              .map(([name, seconds]) => `${name} ${seconds}`)
              .join(", ")
        : "—";
const previewRows = [...previewTs, ...previewJs]
    .sort((a, b) => a.servers - b.servers || a.how.localeCompare(b.how))
    .map(
        (p) =>
            `| ${p.servers} | ${p.how} | ${p.resources} (${r1((p.resources - 3) / p.servers)}/server) | ${p.wallSeconds} | ${r2(p.runnerLoadSeconds + p.stackOpenSeconds + p.toFirstResourceSeconds)} | ${p.registeringSeconds} (${r1((p.registeringSeconds * 1000) / p.resources)} ms/resource) | ${p.afterLastResourceSeconds} | ${p.peakMb} (${Object.entries(
                p.peakByCommand as Record<string, number>,
            )
                .sort((a, b) => b[1] - a[1])
                .slice(0, 3)
                .map(([name, mb]) => `${name} ${mb}`)
                .join(", ")}) | ${cpuSplit(p)} | ${p.sshdLogLinesAdded} |`,
    )
    .join("\n");

const steps = Object.entries(fleet.P1.breakdownMedianSeconds as Record<string, number>)
    .map(([step, seconds]) => `| ${step} | ${seconds.toFixed(2)} |`)
    .join("\n");
const load = (name: string, r: any): string =>
    `| ${name} | ${r.requests} | ${r.failed} | ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : "—"} |`;
const heavy = e3.P2heavy;

console.log(`# Benchmarks

Measured ${new Date().toISOString().slice(0, 10)} on one machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB,
Debian ${debian}, kernel ${kernel}; local fleets of Debian 12 hosts in namespaces on the same
machine (Apache 2.4 + mod_wsgi 4.9.4, Python 3.11). Engine figures: the Pulumi CLI ${engineVersion} built
from its Go module, the program inline through the Automation API exactly as
\`scripts/local-stack.ts\` runs it, a file backend, and the **stand-in command plugin**
(tools/command-standin; the released \`pulumi-resource-command\` can't be had here), so every engine
figure says "${plugin}". Every ratio compares figures taken in this one run. Reproduce (root):
\`npm run bench\` (scripts/bench/run.sh, about 45 minutes), which rewrites this file and
docs/bench/*.svg. The machine was shared with other work during the run (load average 1 min/5 min:
${loads}); on 2 CPUs that inflates every figure that runs several hosts at once.

## Goals

| figure | goal | measured | |
| --- | --- | --- | --- |
${goalsTable}

## P2 end to end — rollback \`up\` (pin a kept release) vs upgrade \`up\`, batchSize 1 (${plugin})

Upgrade: pin the next release (every host builds it). Rollback: pin the release the upgrade replaced
(complete on every host). Both as \`scripts/local-stack.ts up\` runs them (Automation API: \`pulumi up
--yes --skip-preview\`, one process). Runs (version: s): 3 hosts upgrade ${e3.P2.upgradeRuns.join(", ")},
rollback ${e3.P2.rollbackRuns.join(", ")} (medians below); 8 hosts upgrade ${e8.P2.upgradeRuns.join(", ")},
rollback ${e8.P2.rollbackRuns.join(", ")}; heavy app upgrade ${heavy.upgradeRuns.join(", ")}, rollback ${heavy.rollbackRuns.join(", ")}.

### 3 hosts, sample app — ratio ${e3.P2.ratio}×

${breakdown(e3.P2)}

### 8 hosts, sample app — ratio ${e8.P2.ratio}× ([upgrade timeline](docs/bench/p2-upgrade-8.svg), [rollback timeline](docs/bench/p2-rollback-8.svg))

${breakdown(e8.P2)}

What a rollback \`up\` changes (engine steps): ${JSON.stringify(e8.P2.rollbackResourceOps)} — each host's
upload bundle and install command are replaced, so the bundle is sent again (upload op
\`${e8.P2.rollbackHostSteps?.[0]?.upload}\`), and the host answers \`reuse\` (release already built).

### 3 hosts, heavy app — ratio ${heavy.ratio}×

Releases ${heavy.versions.join(" and ")}: the sample app's sdist requiring also pandas 2.2.3 and
scipy 1.14.1, wheelhouse ${heavy.wheelhouseMb} MB (${heavy.wheelhouse.map((name: string) => name.split("-").slice(0, 2).join(" ")).join(", ")}), built by
\`scripts/bench/heavy-release.sh\`. pip on a host: ${r2(heavy.upgrade.pipSecondsPerHost)} s.

${breakdown(heavy)}

## P3 — 8 hosts, upgrade \`up\` at batchSize 1, 2, 8 vs the physical limit of a safe rolling deploy (goal ≤ 1.15×; ${plugin})

The limit: the slowest host's stage phase (its probe, upload and stage, engine spans) plus one
median activate phase (probe, activate) per wave, ceil(8/b) waves — all measured in the same
\`up\`. "Wall" is the whole \`up\` process (runner start, program, engine, tail); "rollout" is
the first stage probe's start to the last activation's end. "First switch − last staged" below
0 would mean a host switched before every host had staged (it never does: the barrier). The
timelines show each host's steps (colours; probes thin black) against the seconds since the
\`up\` process started: one wide stage, then the waves. Before: the same upgrades when each batch
uploaded, built and switched before the next (the previous layout's BENCHMARKS.md).

| app | batchSize | version | wall s | slowest stage s | median activation s × waves | limit s | ratio | rollout s (ratio) | first switch − last staged s | install (pip step) s a host | before | |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${p3Table}

## The build step on a host — uv vs pip (goal ≤ 0.4× for the heavy app)

On one fleet host, from the same unpacked sdist and wheelhouse, as the build user, into fresh
venvs, alternating: **uv** as \`stage.sh\` runs it (\`uv venv\`, \`uv pip install --offline --no-index
--find-links … --compile-bytecode\`) and **pip** as the hosts ran it before uv (\`venv --without-pip\`,
Debian's pip wheel shared, the build requirements installed once into a shared directory,
\`pip wheel --no-build-isolation\` + \`pip install\` offline, \`compileall\`); each tool's one-time set-up
done first and not timed (\`scripts/bench/build-tools.sh\`). "Stage" is the real stage of the same
release with uv on that host, first event → \`staged\` (verification, the build, sealing and the
tree check included).

| app (version) | uv s | pip s | median uv / pip s | ratio | stage with uv, first event → staged s |
| --- | --- | --- | --- | --- | --- |
${buildTable}

## P4 — failed requests under constant load (goal: 0 for ours)

4 keep-alive client loops hitting \`/__version__\` on one host for the whole deploy (script level).

| deploy | requests | failed | errors |
| --- | --- | --- | --- |
${load("ours, upgrade", fleet.P4.oursUpgrade)}
${load("ours, rollback", fleet.P4.oursRollback)}
${load("old process, upgrade", fleet.P4.oldProcess)}

## P5 — no-op \`up\` and \`preview\` at scale (${plugin})

No-op \`up\` on 8 hosts (nothing changed, ${JSON.stringify(noop.resourceOps)}): **${noop.sshLogins} SSH logins**
over the 8 hosts (\`grep -c 'Accepted publickey' /var/log/sshd.log\` on each, before and after),
wall **${noop.wallSeconds} s** with ts-node (node + runner ${r2(noop.runnerLoadSeconds)} s, stack open ${r2(noop.stackOpenSeconds)} s,
program to first resource ${r2(noop.programStartSeconds)} s), **${noop.compiled?.wallSeconds ?? "—"} s** compiled; peak RSS ${noop.peakMb} MB.
The local runner's \`up\` skips the preview (Automation API); an interactive \`pulumi up\` previews
first, which on these 8 hosts costs another ${e8.P5noop.preview.wallSeconds} s (\`preview\` wall, peak
${e8.P5noop.preview.peakMb} MB, ${e8.P5noop.preview.sshdLogLinesAdded} sshd log lines added on the hosts).

\`preview\` of a new stack of N servers (every resource a create). The servers are N distinct
names over the 8 fleet hosts' real addresses and host keys; "sshd lines" is how many lines the 8
hosts' sshd logs grew during the preview: 0 means preview connected to nothing.

| servers | how | resources | wall s | to first resource s | registering s | after the last resource s | peak RSS MB (largest processes) | CPU s by process | sshd lines |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${previewRows}

The program alone under Pulumi's mocks (no engine), 1,000 servers:

| how it runs | servers | resources | s | RSS MB |
| --- | --- | --- | --- | --- |
| ts-node | ${scaleTs.servers} | ${scaleTs.resources} | ${scaleTs.seconds} | ${scaleTs.rssMb} |
| compiled JS (\`tsc\`, then node) | ${scaleJs.servers} | ${scaleJs.resources} | ${scaleJs.seconds} | ${scaleJs.rssMb} |

## P1 — upgrade of one host vs the old process, script level (goal ≤ 1.2×)

Ours (sync-1): upload + stage (sha256s, preflight, uv venv + offline install, seal, record) +
activate (switch, draining reload, version/heartbeat check, prune). Old process (sync-2, \`scripts/old-deploy.sh\`): copy, pip
install into the one live venv, \`apachectl restart\`. Medians of ${fleet.runs} upgrades each
(1.1.4 → ${["1.1.5", "1.9", "1.10", "1.11", "2.0"].slice(0, fleet.runs).join(" → ")}).

| | median s | runs (s) |
| --- | --- | --- |
| ours | ${fleet.P1.oursMedianSeconds} | ${fleet.P1.oursRuns.join(", ")} |
| old process | ${fleet.P1.oldMedianSeconds} | ${fleet.P1.oldRuns.join(", ")} |
| **ratio** | **${fleet.P1.ratio}×** | ${meets(fleet.P1.ratio <= 1.2)} |

Where our time goes (median seconds per step, from the host's \`/var/sync/events.log\`):

| step | s |
| --- | --- |
${steps}

Script-level rollback (a swap on one host, no engine): median ${fleet.P2.rollbackMedianSeconds} s (runs:
${fleet.P2.rollbackRuns.join(", ")}) vs upgrade ${fleet.P2.upgradeMedianSeconds} s: **${fleet.P2.ratio}×**, ${meets(fleet.P2.ratio <= 0.2)} (goal ≤ 0.2×).
`);
console.log(fs.readFileSync(path.join(__dirname, "notes.md"), "utf8"));
