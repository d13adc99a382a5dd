// The engine tier: the local stack under the real Pulumi CLI (built from its Go module), the
// program inline through the Automation API, a file backend, and the local fleet — operated by
// scripts/local-stack.ts, the runner behind the README's first command. The `command` plugin is
// the released one when installed, else the sync-release stand-in (tools/command-standin).
// The tests run in order: each one starts from the state the previous one left, as Ops would.
// A rollout has two phases (components/fleet.ts): every host stages (upload, build: events up to
// `staged`), then the hosts activate batch by batch (`switch` … `finished`).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, spawnSync } from "child_process";
import {
    EngineStack,
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

jest.setTimeout(900_000);

const SENTINEL = "S3NT1NEL-engine-9d41c7";
let stack: EngineStack;
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

/** A server's stage-phase steps, as the preview names them. */
const STAGE_PHASE = ["probe-stage", "bundle", "stage"];
const stepsOf = (name: string, steps: string[]): string[] => steps.map((step) => `sync-${name}-${step}`);

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
    test("up from empty: every host serves V1; the servers output lists each host", async () => {
        // bare hosts: no upload folder yet (CopyToRemote creates the missing parent directory),
        // and Debian's usual rsa, ecdsa and ed25519 host keys, of which the stack pins ed25519
        for (const name of names) {
            expect(await onHost(name, "test -e /root/.sync-release && echo there || echo missing")).toBe("missing\n");
            expect((await onHost(name, "ls /etc/ssh/ | grep -c '^ssh_host_.*_key\\.pub$'")).trim()).toBe("3");
        }
        const result = await stack.up();
        expect(result.output).toContain("command plugin:");
        expect(result.code).toBe(0);
        await expectAllServe("1.1.4");
        const servers = JSON.parse(await stack.pulumi(["stack", "output", "servers", "--json"])) as Record<
            string,
            { address: string; version: string; serves: string; hostKey: string; batch: number }
        >;
        expect(servers).toEqual(
            Object.fromEntries(
                stack.fleet.servers.map((server, i) => [
                    server.name,
                    { address: server.host, version: "1.1.4", serves: "1.1.4", hostKey: server.hostKey, batch: i + 1 },
                ]),
            ),
        );
        for (const server of stack.fleet.servers) {
            expect(server.hostKey).toMatch(/^ssh-ed25519 /);
            expect(await onHost(server.name, "ls /root/.sync-release")).toBe("WeaveServer-1.1.4.release.tar\n");
        }
    });

    test("a second up changes nothing and runs no remote command", async () => {
        const marks = await eventMarks();
        const logins = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await acceptedLogins(n)])));
        const result = await stack.up();
        expect(result.code).toBe(0);
        expect(Object.keys(result.changes)).toEqual(["same"]);
        for (const name of names) {
            expect(await eventsSince(marks, name)).toEqual([]);
            expect(await acceptedLogins(name)).toBe(logins[name]);
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

    test("bump to V2: the preview replaces only each host's stage and activate steps; every host builds before the first switch; batchSize 1 keeps one host out at a time", async () => {
        await stack.setConfig("sync:version", "1.1.5");
        const loginsBefore = await Promise.all(names.map(acceptedLogins));
        const changes = await previewChanges();
        // a preview runs nothing on the hosts
        expect(await Promise.all(names.map(acceptedLogins))).toEqual(loginsBefore);
        expect(Object.keys(changes).sort()).toEqual(
            names
                .flatMap((name) => [...stepsOf(name, STAGE_PHASE), ...stepsOf(name, ["probe-activate", "activate"])])
                .sort(),
        );
        for (const ops of Object.values(changes)) {
            expect(ops.every((op) => ["replace", "create-replacement", "delete-replaced"].includes(op))).toBe(true);
            // create-before-delete: the replacement is created, then the old one deleted
            expect(ops).toEqual(expect.arrayContaining(["create-replacement", "delete-replaced"]));
        }
        // `preview --diff` shows each step as one short command line (old => new, two ~330-character
        // lines at most: the stage's carries two sha256s), not a program
        const diff = await stack.run(["preview", "--diff"]);
        expect(diff.code).toBe(0);
        const commandLines = diff.output.split("\n").filter((line) => /stage\.sh|activate\.sh|sync-stage/.test(line));
        expect(commandLines.length).toBeGreaterThanOrEqual(names.length);
        expect(Math.max(...commandLines.map((line) => line.length))).toBeLessThan(800);
        expect(diff.output.length).toBeLessThan(40_000);
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.1.5");
        // (a) two phases: every host's build (pip) and stage ended before the first switch anywhere
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

    test("an ini-only change updates only the ini commands; no install runs", async () => {
        await stack.setConfig("sync:ini.logging.level", "DEBUG");
        const changes = await previewChanges();
        // the settings step, and the probe keyed on it; nothing is staged
        expect(Object.keys(changes).sort()).toEqual(
            names.flatMap((name) => stepsOf(name, ["ini", "probe-activate"])).sort(),
        );
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
        // the reason, not the whole remote program, ends the failure
        expect(failed.output).toMatch(/\[sync sync-[12] \w+\] ERROR: .*3\.1/);

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
            // its probe: ssh's connect bound (21 s) inside the probe's 30 s, plus the program
            expect(result.seconds).toBeLessThan(150);
            expect(result.output).toMatch(
                /\[sync sync-2 probe\] ERROR: ssh to 198\.18\.\d+\.12:22 failed: ssh: connect to host 198\.18\.\d+\.12 port 22: Connection timed out/,
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

    test("a host frozen mid-rollout (TCP accepted, sshd silent): up fails within a bound naming it; later batches untouched", async () => {
        await stack.setConfig("sync:rollout.batchSize", "1");
        await stack.setConfig("sync:version", "1.9");
        const marks = await eventMarks();
        const run = stack.start(["up"]);
        let frozen = false;
        try {
            // every host stages; once sync-1 has switched, sync-2 stops answering before its turn
            expect(await waitForStep(marks, "sync-1", ["switch"])).toBe(true);
            await fleetCommand("freeze", "sync-2");
            frozen = true;
            const frozenAt = Date.now();
            const result = await run.done;
            const afterFreeze = (Date.now() - frozenAt) / 1000;
            expect(result.code).not.toBe(0);
            // the probe's bound (30 s) plus the engine's wind-down of what was running
            expect(afterFreeze).toBeLessThan(120);
            expect(result.output).toMatch(
                /\[sync sync-2 probe\] ERROR: 198\.18\.\d+\.12:22 accepts connections but its sshd does not answer within 30s \(frozen or overloaded\?\)/,
            );
            expect(steps(await eventsSince(marks, "sync-3"))).not.toContain("switch");
            expect(await serves(address["sync-1"])).toBe("1.9");
            expect(await serves(address["sync-3"])).toBe("1.10");
        } finally {
            if (frozen) {
                await fleetCommand("thaw", "sync-2");
            }
            await run.done;
        }
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("1.9");
    });

    test("a host that hangs mid-command, after its probe: up does not return by itself; the README's recovery converges", async () => {
        await stack.setConfig("sync:version", "1.10");
        // Hold sync-3's deploy lock from inside the host, so its stage command is surely running (it
        // waits for the lock) when the host freezes: the probe passed, the command then hangs.
        await onHost(sync3, "(exec flock /var/sync/.deploy.lock sleep 600 </dev/null >/dev/null 2>&1 &)");
        const run = stack.start(["up"], { detached: true });
        let frozen = false;
        try {
            const deadline = Date.now() + 300_000;
            while (
                Date.now() < deadline &&
                !(await onHost(sync3, "pgrep -f 'stage\\.sh' >/dev/null && echo waiting || true")).trim()
            ) {
                await new Promise((resolve) => setTimeout(resolve, 500));
            }
            await fleetCommand("freeze", sync3);
            frozen = true;
            const stillRunning = await Promise.race([
                run.done.then(() => false),
                new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 90_000)),
            ]);
            expect(stillRunning).toBe(true);
            // Ctrl-C twice, as the README says (a terminal's SIGINT to the whole group, twice), then kill
            killGroup(run.child, "SIGINT");
            await new Promise((resolve) => setTimeout(resolve, 2000));
            killGroup(run.child, "SIGINT");
            const stopped = await Promise.race([
                run.done.then(() => true),
                new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000)),
            ]);
            if (!stopped) {
                killGroup(run.child, "SIGKILL");
            }
            await run.done;
        } finally {
            if (frozen) {
                await fleetCommand("thaw", sync3);
            }
            // [0]: the pattern does not match this shell's own command line
            await onHost(sync3, "pkill -f 'sleep 60[0]' || true");
        }
        await recoverAsTheReadmeSays("1.10");
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
        expect(result.output).toMatch(/host key/i);
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
    });

    test("a dead server removed from sync:servers: up succeeds; destroy succeeds and leaves the hosts serving", async () => {
        await fleetCommand("down", "sync-3");
        try {
            await stack.pulumi(["config", "rm", "--path", "sync:servers[2]"]);
            const removed = await stack.up();
            expect(removed.code).toBe(0);
            const destroyed = await stack.run(["destroy"]);
            expect(destroyed.code).toBe(0);
            expect(await stack.pulumi(["stack", "export"])).not.toMatch(/command:remote/);
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
