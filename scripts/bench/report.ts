// Render BENCHMARKS.md from the JSON the benchmark scripts printed (scripts/bench/run.sh).
//   usage: npx ts-node --transpile-only scripts/bench/report.ts <dir with fleet.json, scale-*.json>
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
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const debian = fs.existsSync("/etc/debian_version") ? fs.readFileSync("/etc/debian_version", "utf8").trim() : "?";
const kernel = execFileSync("uname", ["-r"]).toString().trim();
const verdict = (value: number, goal: number, lowerIsBetter = true): string =>
    (lowerIsBetter ? value <= goal : value >= goal) ? "meets the goal" : "misses the goal";
const steps = Object.entries(fleet.P1.breakdownMedianSeconds as Record<string, number>)
    .map(([step, seconds]) => `| ${step} | ${seconds.toFixed(2)} |`)
    .join("\n");
const load = (name: string, r: any): string =>
    `| ${name} | ${r.requests} | ${r.failed} | ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : "—"} |`;

console.log(`# Benchmarks

Measured ${new Date().toISOString().slice(0, 10)} on one machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB,
Debian ${debian}, kernel ${kernel}; the local fleet (3 Debian 12 hosts in namespaces on the same
machine, Apache 2.4 + mod_wsgi 4.9.4, Python 3.11). Every ratio compares figures taken in the same
run on the same hosts. Reproduce (root): \`npm run bench\` (scripts/bench/run.sh), which rewrites
this file.

## P1 — upgrade of one host vs the old process (goal ≤ 1.2×)

Ours (sync-1): upload + sha256 + preflight + venv + offline pip install + switch + draining reload
+ version/heartbeat check + prune. Old process (sync-2, \`scripts/old-deploy.sh\`): copy, pip
install into the one live venv, \`apachectl restart\`. Medians of ${fleet.runs} upgrades each
(1.1.4 → ${["1.1.5", "1.9", "1.10", "1.11", "2.0"].slice(0, fleet.runs).join(" → ")}).

| | median s | runs (s) |
| --- | --- | --- |
| ours | ${fleet.P1.oursMedianSeconds} | ${fleet.P1.oursRuns.join(", ")} |
| old process | ${fleet.P1.oldMedianSeconds} | ${fleet.P1.oldRuns.join(", ")} |
| **ratio** | **${fleet.P1.ratio}×** | ${verdict(fleet.P1.ratio, 1.2)} |

Where our time goes (median seconds per step, from each host's \`/var/sync/events.log\`):

| step | s |
| --- | --- |
${steps}

## P2 — rollback to a kept release vs an upgrade (goal ≤ 0.2×)

Rollback = pinning a release that is still built on the host: no upload check, no venv, no pip;
switch + draining reload + check. Median ${fleet.P2.rollbackMedianSeconds} s (runs: ${fleet.P2.rollbackRuns.join(", ")})
vs upgrade ${fleet.P2.upgradeMedianSeconds} s: **${fleet.P2.ratio}×**, ${verdict(fleet.P2.ratio, 0.2)}.

## P4 — failed requests under constant load (goal: 0 for ours)

4 keep-alive client loops hitting \`/__version__\` on one host for the whole deploy (≥ 2,000
requests each phase).

| deploy | requests | failed | errors |
| --- | --- | --- | --- |
${load("ours, upgrade", fleet.P4.oursUpgrade)}
${load("ours, rollback", fleet.P4.oursRollback)}
${load("old process, upgrade", fleet.P4.oldProcess)}

## P5 — the program at scale, under Pulumi's mocks (goal ≤ 3 s for 1,000 servers)

| how it runs | servers | resources | s | ratio to goal | RSS MB |
| --- | --- | --- | --- | --- | --- |
| ts-node (as a TypeScript Pulumi program runs) | ${scaleTs.servers} | ${scaleTs.resources} | ${scaleTs.seconds} | ${scaleTs.ratioToGoal}× | ${scaleTs.rssMb} |
| compiled JS (\`tsc\`, then node) | ${scaleJs.servers} | ${scaleJs.resources} | ${scaleJs.seconds} | ${scaleJs.ratioToGoal}× | ${scaleJs.rssMb} |
`);
console.log(fs.readFileSync(path.join(__dirname, "notes.md"), "utf8"));
