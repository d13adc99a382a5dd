// Issue 25 item 2: the holes a read-only review of the host side found at f5dba13, each a scenario
// those scripts got wrong; every test names the line it catches. The build user (hard links it
// plants, the network, tmp dirs and IPC it reaches, descriptors it hands out, output it floods),
// the app (answers it floods, text it puts in the log), root's records (the reuse check, the
// earlier layout's markers, a switch-back target), prunes (a surviving builder, a waiting deploy)
// and hardening (tunables in $(( )), root's curl and Python, events.log, stray temp files).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact } from "../../components/artifacts";
import { hostLayoutValue } from "../../components/hostLayout";
import { hostScriptsHash } from "../../components/hostScripts";
import { shellQuote } from "../../components/shellQuote";
import { bootstrap, brokenRelease, buildReleases, Host, hosts, release, RunResult } from "./hostHarness";
import { hookRelease } from "./hookRelease";
import { error, expectKilled, expectRefused, expectServing, killedAt, lastLine, staged } from "./steps";

let dir: string;
let h: Host;
let scratch: string;

/** Kill every process of the build user, as it (kill(-1)), until none is left. */
const KILL_BUILDER =
    "for i in $(seq 1 50); do pgrep -u sync-build >/dev/null || exit 0; " +
    "setpriv --reuid=sync-build --regid=sync-build --clear-groups kill -KILL -- -1; sleep 0.1; done; exit 1";

/** Releases these tests build (their code runs at every start): removed when the file is done. */
const HOOK_VERSIONS = ["5.1", "5.2", "5.3", "5.4", "5.5", "5.6"];

/** Who runs the hook: `BUILDER` (sync-build) or `APP_USER` (sync), as a Python expression's value. */
const WHO = String.raw`import os, pwd, sys
def _is(user):
    try:
        return os.getuid() == pwd.getpwnam(user).pw_uid
    except KeyError:
        return False
BUILDER = _is("sync-build")
APP_USER = _is("sync")
`;

beforeAll(async () => {
    h = hosts()[2];
    dir = await buildReleases();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sync-host-review-"));
    await h.sh(KILL_BUILDER);
    await bootstrap(h, dir, "1.1.4");
    await h.sh(`cd /var/sync && rm -rf ${HOOK_VERSIONS.map((v) => `releases/${v} .built/${v}`).join(" ")}`);
});

afterAll(async () => {
    await h.sh(KILL_BUILDER);
    await h.sh(`cd /var/sync && rm -rf ${HOOK_VERSIONS.map((v) => `releases/${v} .built/${v}`).join(" ")}`);
    await bootstrap(h, dir, "1.1.4");
    fs.rmSync(scratch, { recursive: true, force: true });
});

async function sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
        if (Date.now() > deadline) {
            throw new Error(`${h.name}: ${what} not seen within ${ms / 1000}s`);
        }
        await sleep(200);
    }
}

/**
 * Run `step` while the host records the peak resident memory (VmHWM, kB) of root's processes
 * running `script` (a command substitution holds what it reads in the script's own memory).
 */
async function peakMemoryOf(script: string, step: () => Promise<RunResult>): Promise<[RunResult, number]> {
    const stop = `/run/sync-test-watch-${process.pid}`;
    const pattern = `/scripts/[0-9a-f]+/${script}( |$)`;
    const watch = [
        `rm -f ${stop}; max=0; end=$((SECONDS + 900))`,
        `while [[ ! -e ${stop} ]] && ((SECONDS < end)); do`,
        `  for p in $(pgrep -u root -f '${pattern}'); do`,
        `    v=$(awk '$1 == "VmHWM:" { print $2 }' /proc/$p/status 2>/dev/null || true)`,
        // A subshell of the script may exec (python3, curl) between pgrep and the read above:
        // only a process still running the script after the read is counted.
        `    tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -Eq '${pattern}' || continue`,
        "    if [[ -n $v ]] && ((v > max)); then max=$v; fi",
        "  done",
        "  sleep 0.05",
        "done",
        `rm -f ${stop}; echo $max`,
    ].join("\n");
    const watcher = await h.watch(watch);
    const res = await step();
    await h.sh(`touch ${stop}`);
    return [res, Number(await watcher.result)];
}

/** Upload and stage `r`, then activate it; both must succeed. */
async function rollOut(r: ReleaseArtifact): Promise<void> {
    await staged(h, r);
    const res = await h.activate(r);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${r.version}\n`);
}

describe("issue 25: release code as the build user", () => {
    // Hard-links, as the build user, a file of its own outside the tree into it.
    const HARD_LINK = String.raw`${WHO}
VICTIM = "/srv/sync-victim"
link = os.path.join(sys.prefix, "lib", "victim")
if BUILDER and os.path.exists(VICTIM) and not os.path.lexists(link):
    os.link(VICTIM, link)
`;

    test("links and file types are checked before root changes an owner or a mode: a hard link to a file outside leaves that file as it was", async () => {
        // f5dba13 lib_build.sh:107-108 seal_tree ran chown -R and chmod -R before stage.sh:194's
        // `-links +1` check: root re-owned and re-moded the inode outside the tree (where
        // fs.protected_hardlinks is 0, `ln /usr/bin/sudo $release/x` strips sudo's set-uid bit).
        // Here: a set-uid file of the build user's outside the tree, which it may link to anyway.
        await h.sh("rm -f /srv/sync-victim && install -o sync-build -g sync-build -m 4755 /bin/true /srv/sync-victim");
        try {
            const r = await hookRelease(dir, scratch, "5.1", "sync_evil_hardlink", HARD_LINK);
            const before = await h.state();
            const res = await h.stage(r);
            expect(lastLine(res)).toBe(
                error(
                    h,
                    "pip",
                    "the build of 5.1 left something root will not serve: lib/victim has another hard link; host unchanged",
                ),
            );
            expect(res.code).toBe(1);
            // the file outside: the build user's, set-uid, one name again
            expect(await h.stat("/srv/sync-victim", "%a:%U:%G:%h")).toBe("4755:sync-build:sync-build:1");
            expect(await h.record("5.1")).toBe("");
            expect(await h.state()).toBe(before);
            await expectServing(h);
        } finally {
            await h.sh("rm -f /srv/sync-victim");
        }
    });

    // Reaches out, as the build user, while the release builds: the host's web server, and the
    // shared tmp dirs and System V IPC that other users' processes see.
    const REACH = String.raw`${WHO}
import ctypes, socket
if BUILDER:
    reached = []
    try:
        with socket.create_connection(("127.0.0.1", 80), timeout=3) as s:
            s.sendall(b"GET /__version__?sync-build-probe HTTP/1.0\r\nHost: localhost\r\n\r\n")
            s.recv(64)
        reached.append("network")
    except OSError:
        pass
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        try:
            open(os.path.join(d, "sync-build-left"), "w").close()
        except OSError:
            pass
    ctypes.CDLL(None).msgget(0x53594E43, 0o1600)
    print("sync-build-probe reached: " + (" ".join(reached) or "nothing"), file=sys.stderr)
`;
    const LEFT = "/tmp/sync-build-left /var/tmp/sync-build-left /dev/shm/sync-build-left /run/lock/sync-build-left";

    test("the build has a network, tmp dirs and IPC of its own: it reaches no service, and nothing it leaves there outlives it", async () => {
        // f5dba13 lib_build.sh as_builder: setpriv and prlimit only (UV_OFFLINE limits uv, not
        // release code): the host's own web server (and the local network, a cloud's metadata
        // service) answered, and /tmp, /var/tmp, /dev/shm and IPC objects were shared with every user.
        await h.sh(`rm -f ${LEFT}; ipcrm -Q 0x53594e43 2>/dev/null; true`);
        try {
            const r = await hookRelease(dir, scratch, "5.2", "sync_evil_reach", REACH);
            const res = await h.stage(r);
            expect(res.stdout).toBe("staged 5.2\n");
            expect(res.stderr).toContain("sync-build-probe reached: nothing\n");
            expect(await h.sh("grep -c sync-build-probe /var/log/apache2/sync-access.log || true")).toBe("0\n");
            expect(await h.sh(`ls ${LEFT} 2>/dev/null; true`)).toBe("");
            expect(await h.sh("ipcs -q | grep -ci 0x53594e43 || true")).toBe("0\n");
            expect(await h.record("5.2")).toBe(r.sha256);
        } finally {
            await h.sh(`rm -f ${LEFT}; ipcrm -Q 0x53594e43 2>/dev/null; true`);
        }
    });

    // At its first start: opens a file of the tree for writing and hands the descriptor to whoever
    // listens on a socket it can reach (an abstract one, or one in a shared tmp dir).
    const HAND_OVER = String.raw`${WHO}
import socket
marker = os.path.join(os.environ.get("HOME", "/nonexistent"), "sync-fd-handed")
if BUILDER and not os.path.exists(marker):
    open(marker, "w").close()
    fd = os.open(os.path.join(sys.prefix, "pyvenv.cfg"), os.O_WRONLY | os.O_APPEND)
    for address in ("\0sync-fd-drop", "/tmp/sync-fd-drop", "/var/tmp/sync-fd-drop", "/dev/shm/sync-fd-drop", "/run/lock/sync-fd-drop"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect(address)
                socket.send_fds(s, [b"fd"], [fd])
            print("sync-fd-probe: handed over", file=sys.stderr)
            break
        except OSError:
            pass
`;
    // Another user's process (nobody): lists the tree while it builds, takes a descriptor into it,
    // and writes through it once root sealed the tree.
    const RECEIVER = String.raw`
import os, select, socket, time
TREE = "/var/sync/releases/5.3"
log = open("/tmp/sync-fd-drop.log", "w", buffering=1)
listeners = []
for address in ("\0sync-fd-drop", "/tmp/sync-fd-drop", "/var/tmp/sync-fd-drop", "/dev/shm/sync-fd-drop", "/run/lock/sync-fd-drop"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if not address.startswith("\0"):
        try:
            os.unlink(address)
        except FileNotFoundError:
            pass
    s.bind(address)
    if not address.startswith("\0"):
        os.chmod(address, 0o777)
    s.listen(4)
    listeners.append(s)
log.write("listening\n")
fd, listed, deadline = None, False, time.time() + 600
while time.time() < deadline:
    try:
        st = os.stat(TREE)
        if st.st_uid != 0 and not listed:
            try:
                os.listdir(TREE)
                listed = True
                log.write("listed the tree while it was built\n")
            except OSError:
                pass
        elif st.st_uid == 0 and fd is not None and st.st_mode & 0o777 == 0o755:
            break
    except OSError:
        pass
    for s in select.select(listeners, [], [], 0.05)[0]:
        conn, _ = s.accept()
        fds = socket.recv_fds(conn, 16, 4)[1]
        if fds:
            fd = fds[0]
            log.write("got a descriptor into the tree\n")
if fd is not None:
    time.sleep(1)
    os.write(fd, b"# TAMPERED-AFTER-SEAL\n")
    log.write("wrote through it after the seal\n")
log.write("done\n")
`;

    test("while it builds, the tree is 0700 and no other user's process can be handed a descriptor into it", async () => {
        // f5dba13 stage.sh:336 `install -d -m 0755` (readable while it built), and nothing kept
        // the build from other users' sockets: a descriptor handed out before the seal outlived
        // kill(-1) and rewrote the sealed, recorded release.
        await h.sh("rm -f /tmp/sync-fd-drop* /var/tmp/sync-fd-drop /dev/shm/sync-fd-drop /run/lock/sync-fd-drop");
        const receiver = (
            await h.sh(
                `setpriv --reuid=nobody --regid=nogroup --clear-groups python3 -I -S -c ${shellQuote(RECEIVER)} </dev/null >/dev/null 2>&1 & echo $!`,
            )
        ).trim();
        try {
            await waitFor(
                async () => (await h.ssh("grep -q listening /tmp/sync-fd-drop.log")).code === 0,
                "the receiver",
            );
            const r = await hookRelease(dir, scratch, "5.3", "sync_evil_fd", HAND_OVER);
            const res = await h.stage(r);
            expect(res.stdout).toBe("staged 5.3\n");
            // what a receiver that got one would write, it writes a second after the seal
            await sleep(3000);
            expect(res.stderr).not.toContain("sync-fd-probe: handed over");
            expect(await h.sh("cat /tmp/sync-fd-drop.log")).toBe("listening\n");
            expect(await h.sh("grep -c TAMPERED /var/sync/releases/5.3/pyvenv.cfg || true")).toBe("0\n");
            expect(await h.stat("/var/sync/releases/5.3", "%a:%U:%G")).toBe("755:root:root");
        } finally {
            await h.sh(
                `kill ${receiver} 2>/dev/null; rm -f /tmp/sync-fd-drop* /var/tmp/sync-fd-drop /dev/shm/sync-fd-drop /run/lock/sync-fd-drop; true`,
            );
        }
    });

    // Floods what root reads and streams: 16 MB on stdout of the build's version check (which
    // root captures), a terminal escape and 10 MB in 50 KB lines on stderr.
    const FLOOD = String.raw`${WHO}
command = " ".join(getattr(sys, "orig_argv", []))
if BUILDER and "importlib.metadata" in command:
    try:
        sys.stderr.write("\x1b[2J\x1b[31mcleared\n")
        line = "x" * 50000 + "\n"
        for _ in range(200):
            sys.stderr.write(line)
        sys.stderr.flush()
        sys.stdout.write("y" * 16000000)
        sys.stdout.flush()
    except OSError:
        pass
`;

    test("root reads a bounded part of what the build prints, and streams at most a capped, printable part of it", async () => {
        // f5dba13 stage.sh:185 `installed=$(as_builder … -c …)` held all of stdout in root's
        // memory, and every `as_builder … >&2` streamed all of the build's output, at any line
        // length, into the step's stderr (Pulumi keeps it in memory and in its state).
        const r = await hookRelease(dir, scratch, "5.4", "sync_evil_flood", FLOOD);
        const [res, peakKb] = await peakMemoryOf("stage.sh", () => h.stage(r));
        expect(lastLine(res)).toBe(
            error(h, "pip", `the sdist installed as version '${"y".repeat(64)}', expected 5.4; host unchanged`),
        );
        expect(res.code).toBe(1);
        expect(res.stderr.length).toBeLessThan(200_000);
        expect(Math.max(...res.stderr.split("\n").map((l) => l.length))).toBeLessThanOrEqual(1000);
        expect(res.stderr).toMatch(/\n\[sync: \d+ more bytes of output dropped\]\n/);
        expect(res.stderr).not.toContain("\x1b");
        expect(res.stderr).toContain("?[2J?[31mcleared\n");
        // what the script holds: a few MB of its own, not the 16 MB printed
        expect(peakKb).toBeGreaterThan(0);
        expect(peakKb).toBeLessThan(12_000);
        expect(await h.record("5.4")).toBe("");
        await expectServing(h);
    });
});

describe("issue 25: what the app answers", () => {
    // In the app user's daemons: a heartbeat of 8 MB.
    const HUGE_HEARTBEAT = String.raw`${WHO}
if APP_USER:
    import weave.server.wsgi as app
    inner = app.application
    def application(environ, start_response):
        if environ.get("PATH_INFO") == "/__heartbeat__":
            body = b"{" + b" " * 8000000 + b"}"
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return inner(environ, start_response)
    app.application = application
`;

    test("root reads at most a bounded answer of the app: a huge heartbeat is no usable answer", async () => {
        // f5dba13 lib_serve.sh:105 `out=$(curl … -o - …)` read the whole answer into root's memory.
        const r = await hookRelease(dir, scratch, "5.5", "sync_evil_answer", HUGE_HEARTBEAT);
        await staged(h, r);
        const [res, peakKb] = await peakMemoryOf("activate.sh", () => h.activate(r));
        expect(lastLine(res)).toBe(
            error(
                h,
                "rollback",
                "5.5 failed its health check (host serves '5.5', heartbeat answers more than 4096 bytes); switched back to 1.1.4",
            ),
        );
        expect(res.code).toBe(1);
        expect(peakKb).toBeGreaterThan(0);
        expect(peakKb).toBeLessThan(8_000);
        await expectServing(h);
    });

    test("what the app says about its health is in the final error line only (and events.log)", async () => {
        // f5dba13 lib_serve.sh wait_serving logged the heartbeat's reason in a line of its own,
        // before the die line that quotes it again.
        const r = brokenRelease(dir, "3.2");
        await staged(h, r);
        const res = await h.activate(r);
        expect(res.code).toBe(1);
        const quoting = res.stderr.split("\n").filter((l) => l.includes("deliberately broken release"));
        expect(quoting).toEqual([lastLine(res)]);
        expect((await h.events()).some((e) => e.includes("deliberately broken release"))).toBe(true);
        await expectServing(h);
    });
});

describe("issue 25: root's records", () => {
    test("the reuse check refuses a tree with another hard link without deleting root's record; without the link it is used again", async () => {
        // f5dba13 lib.sh:237-241 release_is_staged: a re-check that failed removed the record, so
        // anyone who made a second name for one file of `current` (any local user, where
        // fs.protected_hardlinks is 0) left it without a record for good: no rollback to it.
        const old = release(dir, "1.1.4");
        await h.sh("ln /var/sync/releases/1.1.4/pyvenv.cfg /root/sync-second-name");
        try {
            await expectRefused(
                h,
                () => h.stage(old),
                error(
                    h,
                    "receive",
                    "release 1.1.4 is built but its tree fails the seal check (pyvenv.cfg has another hard link); it is what current or previous points at: not using it, not rebuilding it, root's record kept — remove the cause (another hard link: find / -xdev -samefile /var/sync/releases/1.1.4/<file>) and run again; host unchanged",
                ),
            );
            expect(await h.record("1.1.4")).toBe(old.sha256);
            // a rollback to it (it is previous once 1.1.5 serves) is refused the same way, and keeps it
            await rollOut(release(dir, "1.1.5"));
            const refused = await h.activate(old);
            expect(lastLine(refused)).toBe(
                error(
                    h,
                    "activate",
                    "release 1.1.4 is built but its tree fails the seal check (pyvenv.cfg has another hard link): not switching to it; root's record kept",
                ),
            );
            expect(refused.stdout).toBe("1.1.5\n");
            expect(await h.record("1.1.4")).toBe(old.sha256);
        } finally {
            await h.sh("rm -f /root/sync-second-name");
        }
        // the cause gone, the same release is used again: a swap
        const again = await h.stage(old);
        expect(again.stderr).toContain(`[sync ${h.name} reuse] 1.1.4 is already built\n`);
        expect((await h.activate(old)).code).toBe(0);
        await expectServing(h);
    });

    test("an earlier layout's markers in a tree are not trusted: without root's record the release is rebuilt", async () => {
        // f5dba13 lib.sh:216-224 adopt_legacy_release recorded a sealed tree holding `.complete`
        // and `.sdist-sha256`: files the build user could have written before the seal.
        const r = release(dir, "1.9");
        await staged(h, r);
        await h.sh(
            `cd /var/sync && rm .built/1.9 && printf '%s\\n' ${r.sha256} >releases/1.9/.sdist-sha256 && : >releases/1.9/.complete`,
        );
        const inode = await h.stat("/var/sync/releases/1.9", "%i");
        const n = (await h.events()).length;
        const res = await h.stage(r);
        expect(res.stdout).toBe("staged 1.9\n");
        expect(res.stderr).not.toContain("adopted");
        expect(res.stderr).toContain(`[sync ${h.name} receive] removing an unfinished build of 1.9\n`);
        expect((await h.eventsSince(n)).filter((e) => /^(reuse|venv|pip) /.test(e))).toEqual([
            "venv 1.9",
            `pip 1.9 (uv ${hostLayoutValue("SYNC_UV_VERSION")}, offline)`,
        ]);
        expect(await h.stat("/var/sync/releases/1.9", "%i")).not.toBe(inode);
        expect(await h.exists("/var/sync/releases/1.9/.sdist-sha256")).toBe(false);
        expect(await h.record("1.9")).toBe(r.sha256);
    });

    test("once, on a host without records: the releases current and previous resolve to are adopted from root's links alone", async () => {
        // f5dba13 adopted nothing without the in-tree markers: an earlier layout's host whose
        // markers were gone had its `current` refused by every stage.
        const current = release(dir, "1.1.4");
        const previous = release(dir, "1.1.5");
        await rollOut(previous);
        await rollOut(current);
        await h.sh("cd /var/sync && rm -rf .built.test && mv .built .built.test");
        try {
            const res = await h.stage(current);
            expect(res.stdout).toBe("staged 1.1.4\n");
            expect(res.stderr).toContain(
                `[sync ${h.name} preflight] adopted release 1.1.4 (current), built by an earlier sync-release\n`,
            );
            expect(res.stderr).toContain(
                `[sync ${h.name} preflight] adopted release 1.1.5 (previous), built by an earlier sync-release\n`,
            );
            expect(res.stderr).toContain(`[sync ${h.name} reuse] 1.1.4 is already built\n`);
            // the stack's sdist is recorded once it names the version; the other stays adopted
            expect(await h.record("1.1.4")).toBe(current.sha256);
            expect(await h.record("1.1.5")).toBe("adopted");
            expect(await h.stat("/var/sync/.built", "%a:%U:%G")).toBe("700:root:root");
            // a rollback to the adopted one is a swap
            expect((await h.activate(previous)).code).toBe(0);
            await expectServing(h, "1.1.5");
            expect((await h.stage(previous)).stdout).toBe("staged 1.1.5\n");
            expect(await h.record("1.1.5")).toBe(previous.sha256);
        } finally {
            await h.sh("rm -rf /var/sync/.built.test");
        }
        await rollOut(current);
    });

    test("a switch-back target is protected from the restage clean-up and checked like a switch target", async () => {
        // f5dba13 stage.sh clear_unfinished protected only current and previous, not the release an
        // unconfirmed switch goes back to; lib_serve.sh:374 switched back to it unchecked (a tree
        // a killed rebuild left, the build user's, would have been served).
        const bad = brokenRelease(dir, "3.2");
        await staged(h, bad);
        await killedAt(h, () => h.activate(bad), "health 3.2");
        expect(await h.sh("cat /var/sync/.switching")).toBe("1.1.4 3.2\n");
        const good = release(dir, "1.1.4");
        await h.sh("rm /var/sync/.built/1.1.4");
        try {
            const inode = await h.stat("/var/sync/releases/1.1.4", "%i");
            const res = await h.stage(good);
            expect(lastLine(res)).toBe(
                error(
                    h,
                    "receive",
                    "releases/1.1.4 is what an unfinished switch (1.1.4 -> 3.2) may switch to, but root has no record of a finished build of it; not touching it (switch away from it first); host unchanged",
                ),
            );
            expect(res.code).toBe(1);
            expect(await h.stat("/var/sync/releases/1.1.4", "%i")).toBe(inode);

            // the next run does not switch back to a release without a record: 3.2 stays current
            // until the run moves on (here to 1.1.5)
            const next = release(dir, "1.1.5");
            await staged(h, next);
            const n = (await h.events()).length;
            const moved = await h.activate(next);
            expect(moved.code).toBe(0);
            expect(moved.stdout).toBe("1.1.5\n");
            expect(moved.stderr).toContain(
                "3.2 failed its health check; not switching back to 1.1.4: root has no record of a finished build of it; 3.2 stays current\n",
            );
            expect((await h.eventsSince(n)).filter((e) => e.startsWith("rollback 3.2 -> "))).toEqual([]);
        } finally {
            // the record as the stage writes it (what the test removed), if the tree is still there
            await h.sh(
                `cd /var/sync && if [ -d releases/1.1.4 ] && [ ! -e .built/1.1.4 ]; then umask 077 && printf '%s\\n' ${good.sha256} >.built/1.1.4; fi`,
            );
        }
        await rollOut(good);
        await expectServing(h);
    });
});

describe("issue 25: prunes", () => {
    // At its first start: a process in a session of its own that keeps writing into the tree.
    const WRITER = String.raw`${WHO}
import subprocess, time
WRITE = """
import os, sys, time
d = os.path.join(sys.argv[1], "lib", "sync-writer")
n = 0
while True:
    try:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "f%d" % (n % 500)), "w").close()
        n += 1
    except OSError:
        time.sleep(0.001)
"""
marker = os.path.join(os.environ.get("HOME", "/nonexistent"), "sync-evil-writer")
if BUILDER and not os.path.exists(marker):
    open(marker, "w").close()
    subprocess.Popen([sys.executable, "-S", "-c", WRITE, sys.prefix, "sync-evil-writer"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
`;

    test("a prune kills what a killed build left running before it removes that build's tree", async () => {
        // f5dba13 activate.sh:57-64: `rm -rf` of trees without a record ("we hold the lock: none is
        // running") while a process of the killed build still wrote into them, and left it running.
        const r = await hookRelease(dir, scratch, "5.6", "sync_evil_writer", WRITER);
        try {
            const killer = await h.killDeployWhen("pgrep -u sync-build -f sync-evil-writer");
            const killed = await h.stage(r);
            expect(await killer.result).toBe("killed");
            expectKilled(h, killed);
            await waitFor(
                async () => (await h.ssh("ls /var/sync/releases/5.6/lib/sync-writer/f1")).code === 0,
                "the writer",
            );
            const res = await h.activate(release(dir, "1.1.4"));
            expect(res.code).toBe(0);
            expect(res.stdout).toBe("1.1.4\n");
            expect(await h.builderPids()).toEqual([]);
            expect(await h.sh("ls -A /var/sync/releases | grep -e '^5.6$' -e '^.trash' || true")).toBe("");
            await expectServing(h);
        } finally {
            await h.sh(KILL_BUILDER);
        }
    });

    test("a stage never prunes the scripts a deploy waiting for the lock runs", async () => {
        // f5dba13 lib_build.sh:54-70 prune_scripts removed any hash beyond the newest three, under
        // the lock: a deploy of an older stack waiting for that lock then ran `bash "$0"` on a
        // script that was gone.
        const hash = hostScriptsHash();
        const older = "0123456789abcdef";
        const newer = ["1111111111111111", "2222222222222222", "3333333333333333"];
        const r = release(dir, "1.1.4");
        // an older stack's scripts, then three newer ones (the stage keeps three besides its own)
        await h.sh(
            [
                "cd /var/sync/scripts",
                ...[older, ...newer].map((d) => `rm -rf ${d} && cp -a ${hash} ${d}`),
                `touch -d 2000-01-01 ${older}`,
                // the stage waits here, holding the lock, until told to go on (cloud-init's wait)
                "printf '#!/bin/sh\\nwhile [ ! -e /run/sync-test-go ]; do sleep 0.1; done\\n' >/usr/local/bin/cloud-init",
                "chmod 0755 /usr/local/bin/cloud-init && rm -f /run/sync-test-go",
            ].join(" && "),
        );
        try {
            const stage = h.stage(r);
            await waitFor(async () => (await h.ssh("pgrep -f /usr/local/bin/cloud-init")).code === 0, "the stage");
            // the older stack's activate command: the same step, naming its own scripts
            const command = h.activateCommand(r);
            expect(command).toContain(`/var/sync/scripts/${hash}/activate.sh`);
            const waiting = h.ssh(command.replace(`/scripts/${hash}/`, `/scripts/${older}/`));
            await waitFor(
                async () => (await h.ssh(`pgrep -u root -f '^flock .*/scripts/${older}/activate.sh'`)).code === 0,
                "the older deploy waiting for the lock",
            );
            await h.sh("touch /run/sync-test-go");
            const staged = await stage;
            expect(staged.stdout).toBe("staged 1.1.4\n");
            const res = await waiting;
            expect(res.stderr).not.toContain("No such file");
            expect(res.code).toBe(0);
            expect(res.stdout).toBe("1.1.4\n");
            // unused now: the next stage prunes it
            expect((await h.stage(r)).code).toBe(0);
            expect(await h.exists(`/var/sync/scripts/${older}`)).toBe(false);
            expect(await h.exists(`/var/sync/scripts/${hash}`)).toBe(true);
        } finally {
            await h.sh(
                `rm -f /usr/local/bin/cloud-init /run/sync-test-go; cd /var/sync/scripts && rm -rf ${[older, ...newer].join(" ")}`,
            );
        }
    });
});

describe("issue 25: hardening", () => {
    test.each(["SYNC_HEALTH_WAIT", "SYNC_HEALTH_GIVE_UP", "SYNC_LOCK_WAIT"])(
        "%s from the environment is a number or refused, never evaluated",
        async (name) => {
            // f5dba13 lib_serve.sh: `deadline=$((SECONDS + SYNC_HEALTH_WAIT))` and
            // `((… >= SYNC_HEALTH_GIVE_UP))` evaluated whatever the environment held (a[$(cmd)]
            // runs cmd); SYNC_LOCK_WAIT went to flock unchecked.
            const marker = `/tmp/sync-evaluated-${name}`;
            const value = `a[$(touch ${marker})]`;
            await h.sh(`rm -f ${marker}`);
            const res = await h.activate(release(dir, "1.1.4"), 5, { prefix: `${name}=${shellQuote(value)}` });
            expect(lastLine(res)).toBe(
                error(
                    h,
                    "setup",
                    `${name} must be a whole number from ${name === "SYNC_LOCK_WAIT" ? 0 : 1} up, got '${value}'`,
                ),
            );
            expect(res.code).toBe(1);
            expect(await h.exists(marker)).toBe(false);
            await expectServing(h);
        },
    );

    test("root's health check asks this host whatever curlrc or proxy the environment names", async () => {
        // f5dba13 lib_serve.sh probe: curl without -q (reads $CURL_HOME/.curlrc) and without
        // --noproxy (takes http_proxy): the check went elsewhere, or nowhere.
        await h.sh("mkdir -p /tmp/sync-curlrc && echo 'proxy = \"http://127.0.0.1:9\"' >/tmp/sync-curlrc/.curlrc");
        try {
            const res = await h.activate(release(dir, "1.1.4"), 5, {
                prefix: "CURL_HOME=/tmp/sync-curlrc http_proxy=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 SYNC_HEALTH_WAIT=5",
            });
            expect(res.code).toBe(0);
            expect(res.stdout).toBe("1.1.4\n");
        } finally {
            await h.sh("rm -rf /tmp/sync-curlrc");
        }
    });

    test("root's Python runs no site-packages' .pth (-I -S)", async () => {
        // f5dba13: preflight, ensure_uv and prune ran "$PYTHON" -I, which still imports site and
        // with it every .pth of /usr/local/lib/python3.11/dist-packages, as root.
        const pth = "/usr/local/lib/python3.11/dist-packages/zz_sync_root_probe.pth";
        await h.sh(
            `rm -f /tmp/sync-root-site && mkdir -p ${path.posix.dirname(pth)} && echo 'import os; os.getuid() == 0 and open("/tmp/sync-root-site", "a").close()' >${pth}`,
        );
        try {
            // the probe works: a plain root Python runs it
            await h.sh("python3 -I -c pass && test -e /tmp/sync-root-site && rm /tmp/sync-root-site");
            const r = release(dir, "1.1.4");
            expect((await h.stage(r)).code).toBe(0);
            expect((await h.activate(r)).code).toBe(0);
            expect(await h.exists("/tmp/sync-root-site")).toBe(false);
        } finally {
            await h.sh(`rm -f ${pth} /tmp/sync-root-site`);
        }
    });

    test("events.log is never readable by others, whichever step creates it", async () => {
        // f5dba13 lib.sh event(): `>>"$SYNC_EVENTS"` under umask 022 created it 0644; only the
        // stage's ensure_layout made it 0640, later.
        await h.sh("mv /var/sync/events.log /var/sync/events.log.test");
        try {
            expect((await h.activate(release(dir, "1.1.4"))).code).toBe(0);
            expect(await h.stat("/var/sync/events.log")).toBe("640:root:root");
        } finally {
            await h.sh("cd /var/sync && cat events.log >>events.log.test && mv events.log.test events.log");
        }
    });

    test("temp files a killed run left (settings-derived ones among them) are swept by the next run", async () => {
        // f5dba13: write_file's and point_link's temp names (.<name>.XXXXXX, .<link>.<pid>) in
        // /var/sync and .built, and the loader's, were never removed.
        const strays = [
            "/var/sync/.deployed.AbC123",
            "/var/sync/.ini-applied.Xy34Zw",
            "/var/sync/.switching.Qw12Er",
            "/var/sync/.app.wsgi.Po09Iu",
            "/var/sync/.current.4242",
            "/var/sync/.built/.1.1.4.Zx56Cv",
        ];
        await h.sh(strays.map((f) => `echo stray >${f}`).join(" && "));
        expect((await h.activate(release(dir, "1.1.4"))).code).toBe(0);
        expect(await h.sh(`ls -d ${strays.join(" ")} 2>/dev/null; true`)).toBe("");
        await expectServing(h);
    });
});
