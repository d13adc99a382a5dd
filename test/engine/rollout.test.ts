// The engine tier: the local stack under the real Pulumi CLI (built from its Go module), the
// program inline through the Automation API, a file backend, and the local fleet — operated by
// scripts/local-stack.ts, the runner behind the README's first command. The `command` plugin is
// the released one when installed, else the sync-release stand-in (tools/command-standin).
// The tests run in order: each one starts from the state the previous one left, as Ops would.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, spawnSync } from "child_process";
import {
    EngineStack,
    FLEET_STATE,
    HostEvent,
    acceptedLogins,
    fleetCommand,
    hostEvents,
    onHost,
    runOk,
    serves,
} from "./engineHarness";
import { REPO } from "../../scripts/lib/localStack";

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

    test("bump to V2: the preview replaces only each host's upload and install; batchSize 1 keeps one host out at a time", async () => {
        await stack.setConfig("sync:version", "1.1.5");
        const loginsBefore = await Promise.all(names.map(acceptedLogins));
        const changes = await previewChanges();
        // a preview runs nothing on the hosts
        expect(await Promise.all(names.map(acceptedLogins))).toEqual(loginsBefore);
        expect(Object.keys(changes).sort()).toEqual(
            names.flatMap((name) => [`sync-${name}-release-bundle`, `sync-${name}-release-install`]).sort(),
        );
        for (const ops of Object.values(changes)) {
            expect(ops.every((op) => ["replace", "create-replacement", "delete-replaced"].includes(op))).toBe(true);
            // create-before-delete: the replacement is created, then the old one deleted
            expect(ops).toEqual(expect.arrayContaining(["create-replacement", "delete-replaced"]));
        }
        // `preview --diff` shows each host's install as one short command line (old => new), not
        // the ~15 KB program every step used to send
        const diff = await stack.run(["preview", "--diff"]);
        expect(diff.code).toBe(0);
        const installLines = diff.output.split("\n").filter((line) => line.includes("install.sh"));
        expect(installLines.length).toBeGreaterThanOrEqual(names.length);
        expect(Math.max(...installLines.map((line) => line.length))).toBeLessThan(600);
        expect(diff.output.length).toBeLessThan(20_000);
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.1.5");
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
        expect(changes).toEqual(Object.fromEntries(names.map((name) => [`sync-${name}-ini-write`, ["update"]])));
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        for (const name of names) {
            const seen = steps(await eventsSince(marks, name));
            expect(seen).toContain("ini");
            expect(seen).not.toContain("receive");
            expect(await onHost(name, "cat /etc/sync.ini")).toMatch(/^level = DEBUG$/m);
        }
    });

    test("pinning V2 again rolls back by a swap: reuse on every host, no pip", async () => {
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
        }
    });

    test("a broken release with batchSize 2: batch 1 switched back, up fails, batch 2 untouched; pinning V2 converges", async () => {
        await stack.setConfig("sync:version", "3.1");
        const marks = await eventMarks();
        const loginsOfLast = await acceptedLogins("sync-3");
        const failed = await stack.up();
        expect(failed.code).not.toBe(0);
        for (const name of ["sync-1", "sync-2"]) {
            const seen = steps(await eventsSince(marks, name));
            expect(seen).toEqual(expect.arrayContaining(["switch", "rollback", "failed"]));
        }
        await expectAllServe("1.1.5");
        expect(await eventsSince(marks, "sync-3")).toEqual([]);
        expect(await acceptedLogins("sync-3")).toBe(loginsOfLast);
        // the reason, not the whole remote program, ends the failure
        expect(failed.output).toMatch(/\[sync sync-[12] \w+\] ERROR: .*3\.1/);

        await stack.setConfig("sync:version", "1.1.5");
        const fixed = await stack.up();
        expect(fixed.code).toBe(0);
        await expectAllServe("1.1.5");
    });

    test("a server replaced by a bare host with a new host key converges in one up", async () => {
        // a new machine behind the same name and address: fresh disk, new SSH host key
        const newKey = (await fleetCommand("rebuild", "sync-2")).trim();
        expect(await serves(address["sync-2"])).toBe("");
        await stack.setConfig("sync:servers[1].hostKey", newKey);
        const marks = await eventMarks();
        const result = await stack.up();
        expect(result.code).toBe(0);
        await expectAllServe("1.1.5");
        expect(steps(await eventsSince(marks, "sync-2"))).toContain("pip");
    });

    test("pulumi up killed mid-rollout: the README's recovery converges", async () => {
        await stack.setConfig("sync:rollout.batchSize", "1");
        await stack.setConfig("sync:version", "1.9");
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
        // The recovery the README gives: cancel the lock, clear pending creates, up again.
        await stack.pulumi(["cancel", "--yes"]);
        const refreshed = await stack.run(["refresh", "--clear-pending-creates"]);
        expect(refreshed.code).toBe(0);
        const result = await stack.up();
        expect(result.code).toBe(0);
        expect(result.output).not.toMatch(/pending operations?/i);
        await expectAllServe("1.9");
    });

    test("a host that is down fails the up within a bound; later batches untouched", async () => {
        await stack.setConfig("sync:version", "1.10");
        await fleetCommand("down", "sync-2");
        try {
            const marks = await eventMarks();
            const result = await stack.up();
            expect(result.code).not.toBe(0);
            // 3 dials × 10 s per step, plus the program and batch 1
            expect(result.seconds).toBeLessThan(150);
            expect(result.output).toMatch(/sync-sync-2/);
            expect(await serves(address["sync-1"])).toBe("1.10");
            expect(await eventsSince(marks, "sync-3")).toEqual([]);
        } finally {
            await fleetCommand("up", "sync-2");
        }
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
        await expectAllServe("1.10");
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
            await expectAllServe("1.10", ["sync-1", "sync-2"]);
        } finally {
            await fleetCommand("up", "sync-3");
        }
    });

    test("no console output of any operation shows the secret", () => {
        expect(stack.transcript.length).toBeGreaterThan(10);
        for (const output of stack.transcript) {
            expect(output).not.toContain(SENTINEL);
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

function killGroup(child: ChildProcess): void {
    if (child.pid) {
        process.kill(-child.pid, "SIGKILL");
    }
}
