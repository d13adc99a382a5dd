// The engine tier: the local stack under the real Pulumi CLI (built from its Go module), the
// program inline through the Automation API, a file backend, and the local fleet — operated by
// scripts/local-stack.ts, the runner behind the README's first command. The `command` plugin is
// the released one when installed, else the sync-release stand-in (tools/command-standin).
// The tests run in order: each one starts from the state the previous one left, as Ops would.
// A rollout has two phases (components/fleet.ts): every host stages (the bundle on the stage's own
// session, the build: events up to `staged`), then the hosts activate batch by batch (`switch` …
// `finished`). Every step runs the deployer's OpenSSH (components/local/on-host.sh); every host is
// read before planning (components/observe.ts).
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, spawnSync } from "child_process";
import {
    EngineStack,
    closeLogins,
    FLEET_STATE,
    HostEvent,
    acceptedLogins,
    configErrorProblems,
    fleetCommand,
    hostEvents,
    onHost,
    runOk,
    serves,
    start,
} from "./engineHarness";
import { REPO } from "../../scripts/lib/localStack";
import { stageSampleApp } from "../../release/sampleApp";
import { hookRelease, pinningHook } from "../fleet/hookRelease";

jest.setTimeout(900_000);

const SENTINEL = "S3NT1NEL-engine-9d41c7";
let stack: EngineStack;
/** The sample releases build-releases.sh made (the base of hostile ones). */
let releasesDir: string;
let names: string[];
let address: Record<string, string>;

/** Events each host logged after `marks` (taken with eventMarks). */
type Marks = Record<string, number>;
async function eventMarks(): Promise<Marks> {
    const marks: Marks = {};
    for (const name of names) {
        marks[name] = (await hostEvents(name)).length;
    }
    return marks;
}
async function eventsSince(marks: Marks, name: string): Promise<HostEvent[]> {
    return (await hostEvents(name)).slice(marks[name]);
}
function steps(events: HostEvent[]): string[] {
    return events.map((event) => event.step);
}

/**
 * The most hosts that were between `switch` and the end of their deploy at one time, from the
 * hosts' own event timestamps.
 */
function mostHostsOutAtOnce(windows: [number, number][]): number {
    const edges = windows.flatMap(([from, to]) => [
        { at: from, delta: 1 },
        { at: to, delta: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let out = 0;
    let most = 0;
    for (const edge of edges) {
        out += edge.delta;
        most = Math.max(most, out);
    }
    return most;
}
async function switchWindows(marks: Marks): Promise<[number, number][]> {
    const windows: [number, number][] = [];
    for (const name of names) {
        const events = await eventsSince(marks, name);
        const from = events.find((event) => event.step === "switch");
        if (!from) {
            continue;
        }
        const to = events.find(
            (event) => event.at >= from.at && (event.step === "finished" || event.step === "failed"),
        );
        windows.push([from.at, to?.at ?? Number.POSITIVE_INFINITY]);
    }
    return windows;
}

/** When each host logged `step` first after `marks` (undefined when it did not). */
async function firstAt(marks: Marks, step: string): Promise<Record<string, number | undefined>> {
    const at: Record<string, number | undefined> = {};
    for (const name of names) {
        at[name] = (await eventsSince(marks, name)).find((event) => event.step === step)?.at;
    }
    return at;
}

/** Poll until `host` logs `step` after `marks` (or give up after `seconds`). */
async function waitForStep(marks: Marks, host: string, steps: string[], seconds = 300): Promise<boolean> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        if ((await eventsSince(marks, host)).some((event) => steps.includes(event.step))) {
            return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
}

const sync3 = "sync-3";

const stepsOf = (name: string, steps: string[]): string[] => steps.map((step) => `sync-${name}-${step}`);

/** SSH logins each host accepted so far. */
async function loginCounts(): Promise<Record<string, number>> {
    return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await acceptedLogins(n)])));
}

/** Logins each host accepted since `before`. */
async function loginsSince(before: Record<string, number>): Promise<Record<string, number>> {
    const now = await loginCounts();
    return Object.fromEntries(names.map((n) => [n, now[n] - before[n]]));
}

/** Poll a bash condition inside a host until it holds (or give up after `seconds`). */
async function waitOnHost(host: string, condition: string, seconds = 300): Promise<boolean> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        if ((await onHost(host, `if ${condition}; then echo yes; fi`)).trim() === "yes") {
            return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
}

/**
 * After a killed `up`, the README's recovery: cancel the backend's lock (if the killed CLI left
 * it), clear the pending creates, `up` again — which must converge with no pending-operation warning.
 */
async function recoverAsTheReadmeSays(version: string): Promise<void> {
    await stack.pulumi(["cancel", "--yes"]).catch(() => "not locked");
    const refreshed = await stack.run(["refresh", "--clear-pending-creates"]);
    expect(refreshed.code).toBe(0);
    const result = await stack.up();
    expect(result.code).toBe(0);
    expect(result.output).not.toMatch(/pending operations?/i);
    await expectAllServe(version);
}

async function expectAllServe(version: string, only: string[] = names): Promise<void> {
    for (const name of only) {
        expect(`${name} serves ${await serves(address[name])}`).toBe(`${name} serves ${version}`);
    }
}

/** The resources a preview would change, by name, with their steps. */
async function previewChanges(): Promise<Record<string, string[]>> {
    const changes: Record<string, string[]> = {};
    for (const step of await stack.preview()) {
        if (step.op !== "same") {
            (changes[step.name] ??= []).push(step.op);
        }
    }
    return changes;
}

beforeAll(async () => {
    const releases = path.join(os.tmpdir(), `sync-engine-releases-${process.pid}`);
    await runOk(path.join(REPO, "scripts/build-releases.sh"), [releases]);
    releasesDir = releases;
    // The stack's artifact folder: the good releases, the wheelhouse, and one broken release
    // (3.1 serves the wrong version) as if Ops had pinned it by mistake.
    const artifacts = path.join(os.tmpdir(), `sync-engine-artifacts-${process.pid}`);
    fs.mkdirSync(artifacts, { recursive: true });
    for (const file of fs.readdirSync(releases)) {
        if (file.endsWith(".tar.gz")) {
            fs.copyFileSync(path.join(releases, file), path.join(artifacts, file));
        }
    }
    fs.cpSync(path.join(releases, "wheelhouse"), path.join(artifacts, "wheelhouse"), { recursive: true });
    fs.copyFileSync(
        path.join(releases, "broken/WeaveServer-3.1.tar.gz"),
        path.join(artifacts, "WeaveServer-3.1.tar.gz"),
    );

    stack = new EngineStack(artifacts);
    names = stack.fleet.servers.map((server) => server.name);
    address = Object.fromEntries(stack.fleet.servers.map((server) => [server.name, server.host]));
    expect(names).toEqual(["sync-1", "sync-2", "sync-3"]);
    await stack.pulumi(["config"]); // creates the stack
    await stack.setConfig("sync:version", "1.1.4");
    await stack.setConfig("sync:rollout.batchSize", "1");
    await stack.setConfig("sync:iniSecrets.sync.secret_key", SENTINEL, { secret: true });
});

describe("the local stack under the Pulumi engine", () => {
    test("up from empty: every host serves V1, one login a host; the outputs list each host", async () => {
        // bare hosts, with Debian's usual rsa, ecdsa and ed25519 host keys, of which the stack pins ed25519
        for (const name of names) {
            expect((await onHost(name, "ls /etc/ssh/ | grep -c '^ssh_host_.*_key\\.pub$'")).trim()).toBe("3");
        }
        const logins = await loginCounts();
        const result = await stack.up();
        expect(result.output).toContain("command plugin:");
        expect(result.code).toBe(0);
        await expectAllServe("1.1.4");
        // the read before planning, the stage, the settings and the activation: one login
        expect(await loginsSince(logins)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
        const output = async (name: string): Promise<unknown> =>
            JSON.parse(await stack.pulumi(["stack", "output", name, "--json"]));
        expect(await output("servers")).toEqual(
            Object.fromEntries(
                stack.fleet.servers.map((server, i) => [server.name, { address: server.host, batch: i + 1 }]),
            ),
        );
        expect(await output("serves")).toEqual(Object.fromEntries(names.map((n) => [n, "1.1.4"])));
        expect(await output("hostKeys")).toEqual(
            Object.fromEntries(stack.fleet.servers.map((server) => [server.name, server.hostKey])),
        );
        // read before this up planned: nothing served yet
        const observed = (await output("observed")) as Record<string, string>;
        for (const name of names) {
            expect([name, observed[name]]).toEqual([
                name,
                expect.stringMatching(/^nothing at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
            ]);
        }
        for (const server of stack.fleet.servers) {
            expect(server.hostKey).toMatch(/^ssh-ed25519 /);
            // the bundle came on the stage's own session: no upload folder, nothing left in root's scratch
            expect(await onHost(server.name, "ls -A /root/.sync-release /var/sync/dist 2>&1 || true")).not.toMatch(
                /WeaveServer|incoming/,
            );
        }
    });

    test("a second up changes nothing and runs nothing on any host (it only reads them)", async () => {
        const marks = await eventMarks();
        const logins = await loginCounts();
        const result = await stack.up();
        expect(result.code).toBe(0);
        expect(Object.keys(result.changes)).toEqual(["same"]);
        for (const name of names) {
            expect(await eventsSince(marks, name)).toEqual([]);
        }
        // the read before planning: at most one login a host (none when the last up's login is still up)
        for (const [name, count] of Object.entries(await loginsSince(logins))) {
            expect([name, count <= 1]).toEqual([name, true]);
        }
    });

    test("a bad config value: the preview stops with its one message, once, no stack, before anything runs", async () => {
        const logins = await Promise.all(names.map(acceptedLogins));
        await stack.setConfig("sync:keepReleases", "1");
        try {
            const result = await stack.run(["preview"]);
            expect(result.code).not.toBe(0);
            const message = "sync:keepReleases: 1 must be an integer from 2 to 100";
            expect(configErrorProblems(result.output, message)).toEqual([]);
            expect(await Promise.all(names.map(acceptedLogins))).toEqual(logins);
        } finally {
            await stack.setConfig("sync:keepReleases", "3");
        }
    });

    test("(d, e) bump to V2: a preview of 3 KB at most names each host's old and new release; every host builds before the first switch; one host out at a time; one login a host", async () => {
        await stack.setConfig("sync:version", "1.1.5");
        // (e) from no open login: the previews and the up below log in once a host in all
        await closeLogins(Object.values(address));
        const logins = await loginCounts();
        const changes = await previewChanges();
        expect(Object.keys(changes).sort()).toEqual(
            names.flatMap((name) => stepsOf(name, ["stage", "activate"])).sort(),
        );
        for (const ops of Object.values(changes)) {
            expect(ops).toEqual(["update"]);
        }
        // (d) what Ops read: one release line a step, the host in its resource name, no command text, no secret
        const diff = await stack.run(["preview", "--diff"]);
        expect(diff.code).toBe(0);
        const text = diff.stdout;
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(3072);
        const v1 = `1.1.4 (sha256 ${releaseSha("1.1.4").slice(0, 8)})`;
        const v2 = `1.1.5 (sha256 ${releaseSha("1.1.5").slice(0, 8)})`;
        for (const name of names) {
            for (const step of ["stage", "activate"]) {
                const block = text.split(/\n(?= {4}[~+-])/).find((b) => b.includes(`::sync-${name}-${step}]`));
                expect([name, step, block]).toEqual([
                    name,
                    step,
                    expect.stringContaining(`release: "${v1}" => "${v2}"`),
                ]);
            }
        }
        for (const noise of [
            "bash",
            "sudo",
            "timeout",
            ".sh",
            "on_host",
            "SYNC_ON_HOST_KEY",
            "PRIVATE KEY",
            SENTINEL,
        ]) {
            expect([noise, text.includes(noise)]).toEqual([noise, false]);
        }
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.1.5");
        // (e) the reads before planning (two previews, the up), the stage with its bundle, the
        // settings and the activation of each host: one login (sshd's own log)
        expect(await loginsSince(logins)).toEqual(Object.fromEntries(names.map((n) => [n, 1])));
        // two phases: every host's build (pip) and stage ended before the first switch anywhere
        const pips = await firstAt(marks, "pip");
        const staged = await firstAt(marks, "staged");
        const switches = await firstAt(marks, "switch");
        const firstSwitch = Math.min(...names.map((name) => switches[name] ?? Number.POSITIVE_INFINITY));
        for (const name of names) {
            expect([name, typeof pips[name], typeof staged[name], typeof switches[name]]).toEqual([
                name,
                "number",
                "number",
                "number",
            ]);
            expect([name, (staged[name] as number) < firstSwitch]).toEqual([name, true]);
        }
        const windows = await switchWindows(marks);
        expect(windows).toHaveLength(3);
        expect(mostHostsOutAtOnce(windows)).toBe(1);
    });

    test("bump to V3 with batchSize 2: at most two hosts out at once, the third after both", async () => {
        await stack.setConfig("sync:rollout.batchSize", "2");
        await stack.setConfig("sync:version", "1.9");
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.9");
        const windows = await switchWindows(marks);
        expect(windows).toHaveLength(3);
        expect(mostHostsOutAtOnce(windows)).toBeLessThanOrEqual(2);
        // batch 2 (sync-3) starts only after batch 1 (sync-1, sync-2) has finished
        expect(windows[2][0]).toBeGreaterThan(Math.max(windows[0][1], windows[1][1]));
    });

    test("an ini-only change updates only the ini steps; no install runs", async () => {
        await stack.setConfig("sync:ini.logging.level", "DEBUG");
        const changes = await previewChanges();
        expect(Object.keys(changes).sort()).toEqual(names.flatMap((name) => stepsOf(name, ["ini"])).sort());
        for (const name of names) {
            expect(changes[`sync-${name}-ini`]).toEqual(["update"]);
        }
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        for (const name of names) {
            const seen = steps(await eventsSince(marks, name));
            expect(seen).toContain("ini");
            expect(seen).not.toContain("receive");
            expect(seen).not.toContain("switch");
            expect(await onHost(name, "cat /etc/sync.ini")).toMatch(/^level = DEBUG$/m);
        }
    });

    test("(c) pinning V2 again rolls back by a swap at batchSize 1: reuse on every host, no pip, one host out at a time", async () => {
        await stack.setConfig("sync:rollout.batchSize", "1");
        await stack.setConfig("sync:version", "1.1.5");
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.1.5");
        for (const name of names) {
            const seen = steps(await eventsSince(marks, name));
            expect(seen).toContain("reuse");
            expect(seen).not.toContain("pip");
            expect(seen).not.toContain("venv");
            expect(seen).toContain("switch");
        }
        const windows = await switchWindows(marks);
        expect(windows).toHaveLength(3);
        expect(mostHostsOutAtOnce(windows)).toBe(1);
    });

    test("a broken release with batchSize 2: staged everywhere, batch 1 switched back, up fails, batch 2 never switches; pinning V2 converges", async () => {
        await stack.setConfig("sync:rollout.batchSize", "2");
        await stack.setConfig("sync:version", "3.1");
        const marks = await eventMarks();
        const failed = await stack.up();
        expect(failed.code).not.toBe(0);
        for (const name of ["sync-1", "sync-2"]) {
            const seen = steps(await eventsSince(marks, name));
            expect(seen).toEqual(expect.arrayContaining(["staged", "switch", "rollback", "failed"]));
        }
        await expectAllServe("1.1.5");
        // the third host built 3.1 with the others (it builds fine: it serves the wrong version)
        // but its batch never started: no switch, nothing served changed
        const third = steps(await eventsSince(marks, "sync-3"));
        expect(third).toContain("staged");
        expect(third).not.toContain("switch");
        // the reason ends the failure; the step's command is one short line
        expect(failed.output).toMatch(/\[sync sync-[12] \w+\] ERROR: .*3\.1/);
        expect(failed.output).toMatch(/running "bash -s 'sync-activate' 'sync-[12]'"/);

        await stack.setConfig("sync:version", "1.1.5");
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("1.1.5");
    });

    test("(b) a build that fails on the last host only: up fails, no host switched, every host serves V2; fixed, one up converges", async () => {
        await stack.setConfig("sync:rollout.batchSize", "1");
        await stack.setConfig("sync:version", "2.0");
        // sync-3 cannot build: the interpreter mod_wsgi was built for is gone (what serves keeps
        // running: mod_wsgi has libpython loaded)
        await onHost("sync-3", "mv /usr/bin/python3.11 /usr/bin/python3.11.away");
        try {
            const marks = await eventMarks();
            const failed = await stack.up();
            expect(failed.code).not.toBe(0);
            expect(failed.output).toMatch(
                /\[sync sync-3 preflight\] ERROR: preflight: mod_wsgi is built for \/usr\/bin\/python3\.11, which is not installed/,
            );
            for (const name of names) {
                expect([name, steps(await eventsSince(marks, name)).includes("switch")]).toEqual([name, false]);
            }
            await expectAllServe("1.1.5");
        } finally {
            await onHost("sync-3", "mv /usr/bin/python3.11.away /usr/bin/python3.11");
        }
        const marks = await eventMarks();
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("2.0");
        // the hosts that had staged keep what they built (Pulumi recorded their stage: it does not
        // run again); sync-3 builds now, then every host switches
        for (const name of ["sync-1", "sync-2"]) {
            expect([name, steps(await eventsSince(marks, name))]).toEqual([
                name,
                ["switch", "reload", "health", "prune", "finished"],
            ]);
        }
        expect(steps(await eventsSince(marks, "sync-3"))).toEqual(
            expect.arrayContaining(["pip", "staged", "switch", "finished"]),
        );
    });

    test("(24 a) current switched by hand: the preview changes only that host's activation and says why; up repairs it; then no change", async () => {
        // 3 a.m.: an engineer points sync-2 back at 1.1.5 (kept) and reloads Apache
        await onHost(
            "sync-2",
            "ln -sfn releases/1.1.5 /var/sync/.cur && mv -T /var/sync/.cur /var/sync/current && apache2ctl graceful 2>/dev/null",
        );
        expect(await waitForServing("sync-2", "1.1.5")).toBe(true);
        const changes = await previewChanges();
        expect(changes).toEqual({ "sync-sync-2-activate": ["update"] });
        const diff = await stack.run(["preview", "--diff"]);
        expect(diff.stdout).toMatch(
            /observed: "current 1\.1\.5, serves 1\.1\.5, expected 2\.0 \(the last deploy\) \(observed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)"/,
        );
        const marks = await eventMarks();
        const repaired = await stack.up();
        expect(repaired.code).toBe(0);
        await expectAllServe("2.0");
        expect(steps(await eventsSince(marks, "sync-2"))).toEqual(expect.arrayContaining(["switch", "finished"]));
        for (const name of ["sync-1", "sync-3"]) {
            expect(await eventsSince(marks, name)).toEqual([]);
        }
        // no flip-flop: the next preview has nothing to change
        const quiet = await stack.run(["preview", "--expect-no-changes"]);
        expect([quiet.code, quiet.output.slice(-300)]).toEqual([0, expect.any(String)]);
    });

    test("(24 b) /etc/sync.ini edited by hand: only that host's settings step runs; the file is the stack's again, the app reloaded", async () => {
        const stackFile = await onHost("sync-3", "cat /etc/sync.ini");
        await onHost("sync-3", "printf '[sync]\\nsecret_key = by-hand\\n' > /etc/sync.ini");
        expect(await previewChanges()).toEqual({ "sync-sync-3-ini": ["update"] });
        const marks = await eventMarks();
        const repaired = await stack.up();
        expect(repaired.code).toBe(0);
        expect(await onHost("sync-3", "cat /etc/sync.ini")).toBe(stackFile);
        expect(await onHost("sync-3", "stat -c %a:%U:%G /etc/sync.ini")).toBe("640:root:sync\n");
        expect(steps(await eventsSince(marks, "sync-3"))).toEqual(
            expect.arrayContaining(["ini", "reload", "finished"]),
        );
        for (const name of ["sync-1", "sync-2"]) {
            expect(await eventsSince(marks, name)).toEqual([]);
        }
        expect((await stack.run(["preview", "--expect-no-changes"])).code).toBe(0);
    });

    test("(24 c) the release current points at deleted by hand: re-staged and activated on that host only", async () => {
        await onHost("sync-1", "rm -rf /var/sync/releases/2.0");
        const changes = await previewChanges();
        expect(changes).toEqual({ "sync-sync-1-stage": ["update"], "sync-sync-1-activate": ["update"] });
        const marks = await eventMarks();
        const repaired = await stack.up();
        expect(repaired.code).toBe(0);
        await expectAllServe("2.0");
        expect(steps(await eventsSince(marks, "sync-1"))).toEqual(
            expect.arrayContaining(["pip", "staged", "finished"]),
        );
        for (const name of ["sync-2", "sync-3"]) {
            expect(await eventsSince(marks, name)).toEqual([]);
        }
        expect((await stack.run(["preview", "--expect-no-changes"])).code).toBe(0);
    });

    test("(24 e) sync:observe false plans from the state alone: no host is read, a hand switch goes unseen", async () => {
        await stack.setConfig("sync:observe", "false");
        try {
            await onHost(
                "sync-2",
                "ln -sfn releases/1.1.5 /var/sync/.cur && mv -T /var/sync/.cur /var/sync/current && apache2ctl graceful 2>/dev/null",
            );
            expect(await waitForServing("sync-2", "1.1.5")).toBe(true);
            const logins = await loginCounts();
            expect(await previewChanges()).toEqual({});
            expect(await loginsSince(logins)).toEqual(Object.fromEntries(names.map((n) => [n, 0])));
        } finally {
            await stack.pulumi(["config", "rm", "sync:observe"]);
        }
        // observed again: repaired
        const repaired = await stack.up();
        expect(repaired.code).toBe(0);
        await expectAllServe("2.0");
    });

    test("(24 d) a host frozen during a preview: the preview ends within the bound, one warning names it; a no-op up still succeeds", async () => {
        await fleetCommand("freeze", "sync-2");
        try {
            const preview = await stack.run(["preview"]);
            expect(preview.code).toBe(0);
            // the observation's whole bound (30 s) and the program's own time
            expect(preview.seconds).toBeLessThan(60);
            // one warning: in Pulumi's progress and in its diagnostics summary, nowhere else
            const diagnostics = preview.output.slice(preview.output.indexOf("Diagnostics:"));
            expect(diagnostics.split("\n").filter((line) => line.includes("not observed"))).toEqual([
                expect.stringMatching(
                    /^ +warning: sync-2: not observed \(no answer within 30s \(frozen, overloaded or cut off\?\)\); planned from the state alone$/,
                ),
            ]);
            expect(preview.output.split("\n").filter((line) => line.includes("not observed"))).toHaveLength(2);
            const up = await stack.up();
            expect(up.code).toBe(0);
            expect(Object.keys(up.changes)).toEqual(["same"]);
        } finally {
            await fleetCommand("thaw", "sync-2");
        }
    });

    test("a server replaced by a bare host with a new host key converges in one up", async () => {
        // a new machine behind the same name and address: fresh disk, new SSH host key
        const newKey = (await fleetCommand("rebuild", "sync-2")).trim();
        expect(await serves(address["sync-2"])).toBe("");
        await stack.setConfig("sync:servers[1].hostKey", newKey);
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("2.0");
        expect(steps(await eventsSince(marks, "sync-2"))).toContain("pip");
    });

    test("pulumi up killed mid-rollout: the README's recovery converges", async () => {
        await stack.setConfig("sync:rollout.batchSize", "1");
        await stack.setConfig("sync:version", "1.10");
        const marks = await eventMarks();
        const run = stack.start(["up"], { detached: true });
        // Kill the runner, the CLI and the plugin (one process group) once sync-2 is mid-install.
        const deadline = Date.now() + 300_000;
        while (Date.now() < deadline) {
            const seen = steps(await eventsSince(marks, "sync-2"));
            if (seen.includes("pip") || seen.includes("switch")) {
                break;
            }
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        killGroup(run.child);
        const killed = await run.done;
        expect(killed.signal).toBe("SIGKILL");
        await recoverAsTheReadmeSays("1.10");
    });

    test("a host that is down fails the up within a bound, before any host switches", async () => {
        await stack.setConfig("sync:version", "1.11");
        await fleetCommand("down", "sync-2");
        try {
            const marks = await eventMarks();
            const result = await stack.up();
            expect(result.code).not.toBe(0);
            // the read before planning gives up (30 s), then the stage's ssh connect bound (10 s)
            expect(result.seconds).toBeLessThan(120);
            expect(result.output).toMatch(/sync-2: not observed \(.*\); planned from the state alone/);
            expect(result.output).toMatch(
                /\[sync sync-2 stage\] ERROR: ssh to 198\.18\.\d+\.12:22 failed: ssh: connect to host 198\.18\.\d+\.12 port 22: (Connection timed out|No route to host) \(after \d+s\); no host switches in this up/,
            );
            // the others staged 1.11, but nobody switched: the rollout never reached its waves
            for (const name of ["sync-1", "sync-3"]) {
                expect(steps(await eventsSince(marks, name))).not.toContain("switch");
            }
            await expectAllServe("1.10", ["sync-1", "sync-3"]);
        } finally {
            await fleetCommand("up", "sync-2");
        }
    });

    test("(23 a) a host frozen in the middle of its stage: up fails within the bound naming it, no host switched; thawed, one up converges", async () => {
        await stack.setConfig("sync:version", "1.9");
        // Hold sync-3's deploy lock from inside the host, so its stage is surely running (it waits
        // for the lock) when the host freezes.
        await onHost(sync3, "(exec flock /var/sync/.deploy.lock sleep 600 </dev/null >/dev/null 2>&1 &)");
        const marks = await eventMarks();
        const run = stack.start(["up"]);
        let frozen = false;
        try {
            expect(await waitOnHost(sync3, "pgrep -f 'stage\\.sh' >/dev/null")).toBe(true);
            await fleetCommand("freeze", sync3);
            frozen = true;
            const frozenAt = Date.now();
            const result = await run.done;
            const afterFreeze = (Date.now() - frozenAt) / 1000;
            expect(result.code).not.toBe(0);
            // keepalives every 10 s, 3 unanswered: about 40 s, plus the engine's wind-down
            expect(afterFreeze).toBeLessThan(90);
            expect(result.output).toMatch(
                /\[sync sync-3 stage\] ERROR: the connection to 198\.18\.\d+\.13:22 was lost after \d+s \(no answer to keepalives for 30s: frozen, overloaded or cut off\?\); no host switches in this up/,
            );
            for (const name of names) {
                expect([name, steps(await eventsSince(marks, name)).includes("switch")]).toEqual([name, false]);
            }
        } finally {
            if (frozen) {
                await fleetCommand("thaw", sync3);
            }
            await run.done;
            // [0]: the pattern does not match this shell's own command line
            await onHost(sync3, "pkill -f 'sleep 60[0]' || true");
        }
        await expectAllServe("1.10");
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        expect(fixed.output).not.toMatch(/pending operations?/i);
        await expectAllServe("1.9");
    });

    test("(23 b) a host frozen in the middle of its activation: up fails within the bound, later batches untouched; thawed, the next run finishes or undoes its switch", async () => {
        await stack.setConfig("sync:version", "1.11");
        const marks = await eventMarks();
        const run = stack.start(["up"]);
        let frozen = false;
        try {
            expect(await waitForStep(marks, "sync-2", ["switch"])).toBe(true);
            await fleetCommand("freeze", "sync-2");
            frozen = true;
            const frozenAt = Date.now();
            const result = await run.done;
            expect(result.code).not.toBe(0);
            expect((Date.now() - frozenAt) / 1000).toBeLessThan(90);
            expect(result.output).toMatch(
                /\[sync sync-2 activate\] ERROR: the connection to 198\.18\.\d+\.12:22 was lost after \d+s \(no answer to keepalives for 30s: frozen, overloaded or cut off\?\); later batches are not started/,
            );
            expect(steps(await eventsSince(marks, "sync-3"))).not.toContain("switch");
            expect(await serves(address["sync-1"])).toBe("1.11");
            expect(await serves(address["sync-3"])).toBe("1.9");
        } finally {
            if (frozen) {
                await fleetCommand("thaw", "sync-2");
            }
            await run.done;
        }
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("1.11");
        expect(await onHost("sync-2", "test -e /var/sync/.switching && echo left || echo none")).toBe("none\n");
    });

    test("(23 c) a host whose network drops in the middle of its upload: bounded; back on the network, one up converges", async () => {
        await stack.setConfig("sync:version", "2.0");
        await onHost("sync-1", "rm -rf /var/sync/releases/2.0 /var/sync/.built/2.0"); // 2.0 must travel again
        // The stage reads the bundle once it holds the deploy lock: held here, the bundle stops in
        // flight (the channel's window full) and stays there until the network goes.
        await onHost("sync-1", "(exec flock /var/sync/.deploy.lock sleep 600 </dev/null >/dev/null 2>&1 &)");
        const run = stack.start(["up"]);
        let down = false;
        try {
            expect(await waitOnHost("sync-1", "pgrep -f 'stage\\.sh' >/dev/null")).toBe(true);
            await fleetCommand("down", "sync-1");
            down = true;
            const downAt = Date.now();
            const result = await run.done;
            expect(result.code).not.toBe(0);
            expect((Date.now() - downAt) / 1000).toBeLessThan(90);
            expect(result.output).toMatch(
                /\[sync sync-1 stage\] ERROR: the connection to 198\.18\.\d+\.11:22 was lost/,
            );
        } finally {
            if (down) {
                await fleetCommand("up", "sync-1");
            }
            await run.done;
            await onHost("sync-1", "pkill -f 'sleep 60[0]' || true");
        }
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("2.0");
        // what the cut upload left on the host is gone by the end of the next stage
        expect(await onHost("sync-1", "ls -A /var/sync/dist")).toBe("");
    });

    test("(25) a release that leaves app-user processes behind, then a clean one: the roll-forward does not wait, nothing of the earlier release survives", async () => {
        // 7.1's wheel has a .pth that, in the app user's processes only, leaves a detached process
        // named `(wsgi:sync)` that ignores USR1/TERM/HUP/INT and keeps /etc/sync.ini open
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-pin-"));
        const pinning = await hookRelease(releasesDir, scratch, "7.1", "sync_pin_host", pinningHook("7.1"));
        fs.copyFileSync(pinning.sdistPath, path.join(stack.artifactDir, path.basename(pinning.sdistPath)));
        for (const wheel of fs.readdirSync(pinning.wheelhousePath as string)) {
            const into = path.join(stack.artifactDir, "wheelhouse", wheel);
            if (!fs.existsSync(into)) {
                fs.copyFileSync(path.join(pinning.wheelhousePath as string, wheel), into);
            }
        }
        const pinned = async (name: string): Promise<string> =>
            (await onHost(name, "pgrep -u sync -f 'sync-pin-7\\.1$' || true")).trim();
        await stack.setConfig("sync:version", "7.1");
        const rolledIn = await stack.up();
        expect(rolledIn.code).toBe(0);
        await expectAllServe("7.1");
        for (const name of names) {
            expect(await waitOnHost(name, "[ $(pgrep -u sync -f 'sync-pin-7\\.1$' | wc -l) -ge 2 ]", 30)).toBe(true);
        }
        await stack.setConfig("sync:version", "1.11");
        const forward = await stack.up();
        expect(forward.code).toBe(0);
        await expectAllServe("1.11");
        // three waves of a switch and a reload each; at f5dba13 a reload waited 70 s for each of
        // these processes, then failed the roll-forward
        expect(forward.seconds).toBeLessThan(120);
        for (const name of names) {
            expect([name, await pinned(name)]).toEqual([name, ""]);
            // no process of the app user but the Apache master's daemons and their children
            const strays = await onHost(
                name,
                "m=$(pgrep -o -u root -x apache2); ps -u sync -o pid=,ppid=,args= | awk -v m=\"$m\" '$2 != m' || true",
            );
            expect([name, strays.trim()]).toEqual([name, ""]);
        }
    });

    test("the sample app from source to every host in two commands: npm run release into an empty folder, then up", async () => {
        const source = stageSampleApp(fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-app-")), "2.5");
        const folder = fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-released-"));
        const released = await start("npm", ["run", "--silent", "release", "--", source, folder]).done;
        expect([released.code, released.output.slice(-2000)]).toEqual([0, expect.any(String)]);
        expect(released.output).toContain("pulumi config set sync:version 2.5");
        expect(fs.readdirSync(folder).sort()).toEqual(
            expect.arrayContaining(["SHA256SUMS", "WeaveServer-2.5.tar.gz", "wheelhouse"]),
        );
        await stack.setConfig("sync:artifactDir", folder);
        await stack.setConfig("sync:version", "2.5");
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("2.5");
    });

    test("a wrong host key is refused before login", async () => {
        const logins = await acceptedLogins("sync-1");
        const otherKey = (await onHost("sync-3", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).trim();
        const rightKey = (await onHost("sync-1", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).trim();
        await stack.setConfig("sync:servers[0].hostKey", otherKey);
        const result = await stack.up();
        expect(result.code).not.toBe(0);
        expect(result.output).toMatch(
            /sync-1: not observed \(ssh to 198\.18\.\d+\.11:22 failed: Host key verification failed\./,
        );
        expect(result.output).toMatch(
            /\[sync sync-1 \w+\] ERROR: ssh to 198\.18\.\d+\.11:22 failed: Host key verification failed\./,
        );
        expect(await acceptedLogins("sync-1")).toBe(logins);
        await stack.setConfig("sync:servers[0].hostKey", rightKey);
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("2.5");
    });

    test("the sentinel secret is only in /etc/sync.ini", async () => {
        for (const name of names) {
            expect(await onHost(name, "cat /etc/sync.ini")).toContain(SENTINEL);
            // every file the host changed on top of its base image (the overlay's upper layer) and /run
            const upper = path.join(FLEET_STATE, "hosts", name, "upper");
            expect(filesHolding(SENTINEL, upper)).toEqual([path.join(upper, "etc/sync.ini")]);
            expect(await onHost(name, `grep -rlF ${SENTINEL} /run /var/log || true`)).toBe("");
        }
        expect(await stack.pulumi(["stack", "export"])).not.toContain(SENTINEL);
        expect(await stack.pulumi(["stack", "output", "--json"])).not.toContain(SENTINEL);
        // the stack's state, its stack file and the engine's logs hold it encrypted only
        expect(filesHolding(SENTINEL, stack.workDir)).toEqual([]);
        // and nothing of it (nor of the deploy key) is left on the deployer's RAM disk
        expect(filesHolding(SENTINEL, "/dev/shm")).toEqual([]);
        expect(filesHolding("PRIVATE KEY", "/dev/shm")).toEqual([]);
    });

    test("a dead server removed from sync:servers: up succeeds; destroy succeeds and leaves the hosts serving", async () => {
        await fleetCommand("down", "sync-3");
        try {
            await stack.pulumi(["config", "rm", "--path", "sync:servers[2]"]);
            const removed = await stack.up();
            expect(removed.code).toBe(0);
            const destroyed = await stack.run(["destroy"]);
            expect(destroyed.code).toBe(0);
            expect(await stack.pulumi(["stack", "export"])).not.toMatch(/command:/);
            await expectAllServe("2.5", ["sync-1", "sync-2"]);
        } finally {
            await fleetCommand("up", "sync-3");
        }
    });

    test("no console output of any operation shows the secret or the deploy key", () => {
        expect(stack.transcript.length).toBeGreaterThan(10);
        for (const output of stack.transcript) {
            expect(output).not.toContain(SENTINEL);
            expect(output).not.toContain("PRIVATE KEY");
        }
    });
});

/** The sha256 of a release's sdist in the stack's artifact folder. */
function releaseSha(version: string): string {
    return crypto
        .createHash("sha256")
        .update(fs.readFileSync(path.join(stack.artifactDir, `WeaveServer-${version}.tar.gz`)))
        .digest("hex");
}

/** Wait until a host serves `version` (Apache reloading by hand). */
async function waitForServing(name: string, version: string, seconds = 30): Promise<boolean> {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        if ((await serves(address[name])) === version) {
            return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return false;
}

/** Files under `dir` that contain `text` (grep -rlF). */
function filesHolding(text: string, dir: string): string[] {
    const result = spawnSync("grep", ["-rlF", text, dir], { encoding: "utf8" });
    if (result.status !== 0 && result.status !== 1) {
        throw new Error(`grep ${dir} failed: ${result.stderr}`);
    }
    return result.stdout.split("\n").filter((line) => line !== "");
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
    if (child.pid) {
        try {
            process.kill(-child.pid, signal);
        } catch {
            // the group is gone already
        }
    }
}
