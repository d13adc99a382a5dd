// Faults on sync-2 (and sync-3 for python3-venv): every failure leaves the host as it was, or
// switches it back, and says so.
import { renderInstallCommand } from "../../components/releaseInstall";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderRemoteCommand } from "../../components/remoteCommand";
import { bootstrap, brokenRelease, buildReleases, Host, hosts, release, run } from "./hostHarness";

let dir: string;
let h: Host;
let h3: Host;

beforeAll(async () => {
    [, h, h3] = hosts();
    dir = await buildReleases();
    await bootstrap(h, dir, "1.1.4");
    await bootstrap(h3, dir, "1.1.4");
});

async function expectUnchanged(host: Host, version = "1.1.4"): Promise<void> {
    expect(await host.readlink("/var/sync/current")).toBe(`releases/${version}`);
    expect(await host.servedVersion()).toBe(version);
    expect((await host.get("/__heartbeat__")).status).toBe(200);
}

describe("sync-2: refused before the switch, host unchanged", () => {
    test("corrupt tarball: sha256 mismatch", async () => {
        const r = brokenRelease(dir, "3.3");
        await h.uploadRelease(r);
        const wrong = { ...r, sha256: release(dir, "1.1.4").sha256 };
        const res = await h.install(wrong);
        expect(res.code).not.toBe(0);
        expect(res.stderr).toMatch(/sha256 of .*WeaveServer-3\.3\.tar\.gz is [0-9a-f]{64}, expected/);
        expect(await h.exists("/var/sync/releases/3.3")).toBe(false);
        await expectUnchanged(h);
    });

    test("truncated tarball whose sha256 matches: the gzip/tar check refuses it", async () => {
        const r = brokenRelease(dir, "3.3");
        const res = await h.install(r);
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain("is not a readable tar.gz; host unchanged");
        expect(await h.exists("/var/sync/releases/3.3")).toBe(false);
        await expectUnchanged(h);
    });

    test("dependency missing from the wheelhouse (3.4): pip fails offline", async () => {
        const r = brokenRelease(dir, "3.4");
        await h.uploadRelease(r);
        const res = await h.install(r);
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain("pip could not install 3.4 offline");
        expect(await h.exists("/var/sync/releases/3.4")).toBe(false);
        await expectUnchanged(h);
    });

    test("import error (3.0): refused before the switch", async () => {
        const r = brokenRelease(dir, "3.0");
        await h.uploadRelease(r);
        const n = (await h.events()).length;
        const res = await h.install(r);
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain("3.0 fails to import weave.server.wsgi; host unchanged");
        expect((await h.eventsSince(n)).some((e) => e.startsWith("switch"))).toBe(false);
        expect(await h.exists("/var/sync/releases/3.0")).toBe(false);
        await expectUnchanged(h);
    });

    test.each([
        ["`1.0;touch /tmp/p`", "1.0;touch /tmp/p"],
        ["$(id)", "$(id)"],
        ["../x", "../x"],
        ["empty", ""],
    ])("hostile version %s passed straight to install.sh is rejected", async (_label, version) => {
        await h.sh("rm -f /tmp/p");
        const cmd = renderRemoteCommand("install", [version, release(dir, "1.1.4").sha256, "5"], {
            user: "root",
            timeoutSeconds: 60,
        });
        const res = await h.ssh(cmd);
        expect(res.code).not.toBe(0);
        expect(res.stderr).toMatch(/bad version|version/);
        expect(await h.exists("/tmp/p")).toBe(false);
        expect(await h.exists("/var/x")).toBe(false);
        await expectUnchanged(h);
    });

    test("wrong host key: ssh refuses before authentication", async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sync-wrongkey-"));
        try {
            await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(tmp, "k")]);
            const pub = fs.readFileSync(path.join(tmp, "k.pub"), "utf8").split(" ").slice(0, 2).join(" ");
            const kh = path.join(tmp, "known_hosts");
            fs.writeFileSync(kh, `${h.server.host} ${pub}\n`);
            const before = (await h.sh("grep -c Accepted /var/log/sshd.log || true")).trim();
            const bad = new Host(h.server, h.fleet, kh);
            const res = await bad.ssh("touch /tmp/wrongkey-ran");
            expect(res.code).toBe(255);
            expect(res.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
            // a missing host key (empty known_hosts) is refused the same way
            const empty = path.join(tmp, "empty_known_hosts");
            fs.writeFileSync(empty, "");
            const res2 = await new Host(h.server, h.fleet, empty).ssh("touch /tmp/wrongkey-ran");
            expect(res2.code).toBe(255);
            expect(res2.stderr).toMatch(/Host key verification failed/);
            expect(await h.exists("/tmp/wrongkey-ran")).toBe(false);
            // only our own two later connections (exists, grep) were accepted; the bad one never authenticated
            const after = (await h.sh("grep -c Accepted /var/log/sshd.log || true")).trim();
            expect(Number(after)).toBe(Number(before) + 2);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    test("invalid Apache config: no switch, no reload, old release keeps serving", async () => {
        const r = release(dir, "1.1.5");
        await h.uploadRelease(r);
        const pids = await h.daemonPids();
        await h.sh("echo 'ThisIsNotADirective on' > /etc/apache2/conf-enabled/zz-broken.conf");
        try {
            const res = await h.install(r);
            expect(res.code).not.toBe(0);
            expect(res.stderr).toContain("Apache config test failed");
            expect(await h.daemonPids()).toEqual(pids);
            await expectUnchanged(h);
            // a settings change is refused too, and the file stays as it was
            const ini = await h.sh("cat /etc/sync.ini");
            const w = await h.ini(`${ini}# changed\n`);
            expect(w.code).not.toBe(0);
            expect(w.stderr).toContain("Apache config test failed; /etc/sync.ini left unchanged");
            expect(await h.sh("cat /etc/sync.ini")).toBe(ini);
            expect(await h.daemonPids()).toEqual(pids);
        } finally {
            await h.sh("rm -f /etc/apache2/conf-enabled/zz-broken.conf");
        }
    });

    test("concurrent deploy: the second one fails on the lock", async () => {
        const holder = (await h.sh("nohup flock -o /var/sync/.deploy.lock sleep 30 >/dev/null 2>&1 & echo $!")).trim();
        expect(holder).toMatch(/^\d+$/);
        try {
            await new Promise((r) => setTimeout(r, 500));
            const t0 = Date.now();
            const res = await h.install(release(dir, "1.1.5"), 5, "SYNC_LOCK_WAIT=2");
            expect(res.code).not.toBe(0);
            expect(res.stderr).toContain("another deploy holds /var/sync/.deploy.lock (waited 2s)");
            expect(Date.now() - t0).toBeLessThan(15_000);
            await expectUnchanged(h);
        } finally {
            await h.sh(`kill ${holder} || true`);
        }
    });
});

describe("switched back after a failed health check", () => {
    test.each([
        ["3.1", "wrong version served"],
        ["3.2", "heartbeat fails"],
    ])("%s (%s): rolls back to 1.1.4, non-zero exit, says so", async (v) => {
        const r = brokenRelease(dir, v);
        await h.uploadRelease(r);
        const n = (await h.events()).length;
        const res = await h.ssh(`SYNC_HEALTH_WAIT=10 ${renderInstallCommandFor(r)}`, { stdin: r.wheelhouseManifest });
        expect(res.code).not.toBe(0);
        expect(res.stderr).toContain(`${v} failed its health check; switched back to 1.1.4`);
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith(`switch 1.1.4 -> ${v}`))).toBe(true);
        expect(ev.some((e) => e.startsWith(`rollback ${v} -> 1.1.4`))).toBe(true);
        await expectUnchanged(h);
    });
});

function renderInstallCommandFor(r: ReturnType<typeof release>): string {
    return renderInstallCommand(r, 5, "root", 600);
}

describe("kill mid-install", () => {
    test("killed during pip: current unchanged, no .complete; the next install converges", async () => {
        const r = release(dir, "1.9");
        await h.uploadRelease(r);
        const child = h.spawnSsh(renderInstallCommandFor(r), r.wheelhouseManifest);
        const exited = new Promise((res) => child.on("exit", res));
        // wait for the pip step
        const deadline = Date.now() + 60_000;
        let sawPip = false;
        while (Date.now() < deadline) {
            if ((await h.events()).some((l) => l.includes(" pip 1.9"))) {
                sawPip = true;
                break;
            }
            await new Promise((x) => setTimeout(x, 200));
        }
        expect(sawPip).toBe(true);
        // timeout(1) runs the script in its own process group: kill that whole group, by pid.
        const killed = await h.sh('p=$(pgrep -x timeout); [ -n "$p" ] && kill -KILL -- -$p && echo $p');
        expect(killed.trim()).toMatch(/^\d+$/);
        await exited;
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.exists("/var/sync/releases/1.9/.complete")).toBe(false);
        expect(await h.servedVersion()).toBe("1.1.4");
        const res = await h.install(r);
        expect(res.code).toBe(0);
        expect(await h.exists("/var/sync/releases/1.9/.complete")).toBe(true);
        expect(await h.servedVersion()).toBe("1.9");
        // back to 1.1.4 (a swap) for whoever comes next
        expect((await h.install(release(dir, "1.1.4"))).code).toBe(0);
        await expectUnchanged(h);
    });
});

describe("sync-3: missing python3-venv", () => {
    test("preflight fails before the switch", async () => {
        const r = release(dir, "2.0");
        await h3.uploadRelease(r);
        const mv = await h3.exec(["mv", "/usr/lib/python3.11/ensurepip", "/root/"]);
        expect(mv.code).toBe(0);
        try {
            const n = (await h3.events()).length;
            const res = await h3.install(r);
            expect(res.code).not.toBe(0);
            expect(res.stderr).toContain("cannot create virtualenvs (apt-get install python3-venv)");
            const ev = await h3.eventsSince(n);
            expect(ev.some((e) => /^(venv|switch) /.test(e))).toBe(false);
            expect(await h3.exists("/var/sync/releases/2.0")).toBe(false);
            await expectUnchanged(h3);
        } finally {
            const back = await h3.exec(["mv", "/root/ensurepip", "/usr/lib/python3.11/ensurepip"]);
            expect(back.code).toBe(0);
        }
    });
});
