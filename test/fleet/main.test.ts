// Main flow on sync-1: fresh install (stage, ini, activate), no-op re-run, upgrade, rollback swap,
// ini change, keep N, then what needs a serving host: a change of keepReleases, a deploy that has
// to start Apache (issue 9 item 9), interrupted ini and site writes (item 12), unhealthy settings
// (item 5).
import { ReleaseArtifact } from "../../components/artifacts";
import { hostLayoutValue } from "../../components/hostLayout";
import { hostScriptsHash } from "../../components/hostScripts";
import { buildReleases, Host, hosts, INI_1, iniSha256, release, RunResult } from "./hostHarness";

let dir: string;
let h: Host;
const timings: Record<string, number> = {};

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
        return await f();
    } finally {
        timings[label] = (Date.now() - t0) / 1000;
    }
}

beforeAll(async () => {
    h = hosts()[0];
    dir = await buildReleases();
    // The main flow needs a bare host (fresh fleet): fail loudly otherwise.
    if (await h.exists("/var/sync/current")) {
        throw new Error(`${h.name} is not bare (/var/sync/current exists): restart the fleet`);
    }
});

afterAll(() => {
    // Reported figures (visible with --verbose); not asserted.
    console.log(`stage + activate timings on sync-1 (s): ${JSON.stringify(timings)}`);
});

/** Upload, stage and activate `r`, as a rollout does; both steps must succeed. */
async function rollOut(r: ReleaseArtifact, keep = 5): Promise<{ stage: RunResult; activate: RunResult }> {
    const stage = await h.stage(r);
    expect(stage.stderr).not.toContain("ERROR");
    expect(stage.code).toBe(0);
    expect(stage.stdout).toBe(`staged ${r.version}\n`);
    const activate = await h.activate(r, keep);
    expect(activate.code).toBe(0);
    return { stage, activate };
}

describe("sync-1: the main flow", () => {
    test("fresh install on a bare host: stage -> ini -> activate 1.1.4", async () => {
        const r = release(dir, "1.1.4");
        const stage = await timed("fresh stage 1.1.4", () => h.stage(r));
        expect(lastLine(stage.stderr)).toBe("[sync sync-1 staged] 1.1.4");
        expect(stage.code).toBe(0);
        // stdout: one line; nothing is served yet
        expect(stage.stdout).toBe("staged 1.1.4\n");
        expect(await h.exists("/var/sync/current")).toBe(false);
        const ini = await h.ini(INI_1);
        expect(ini.code).toBe(0);
        expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
        const res = await timed("fresh activate 1.1.4", () => h.activate(r));
        expect(lastLine(res.stderr)).toBe("[sync sync-1 finished] 1.1.4");
        expect(res.code).toBe(0);
        // stdout: one line, the version the host serves (the stack's output)
        expect(res.stdout).toBe("1.1.4\n");
        // the scripts the steps run: from the bundle, content-addressed, root's, .complete last
        const scripts = `/var/sync/scripts/${hostScriptsHash()}`;
        expect(await h.stat(scripts)).toBe("755:root:root");
        for (const script of ["bootstrap.sh", "stage.sh", "activate.sh", "ini.sh"]) {
            expect(await h.stat(`${scripts}/${script}`)).toBe("644:root:root");
        }
        expect(await h.exists(`${scripts}/.complete`)).toBe(true);
        // the release is root's, built and checked by the build user, never by root or the app user
        expect(await h.stat("/var/sync/releases/1.1.4")).toBe("755:root:root");
        expect((await h.sh("find /var/sync/releases/1.1.4 ! -user root | wc -l")).trim()).toBe("0");
        expect(await h.sh("id -un sync-build")).toBe("sync-build\n");
        expect(await h.builderPids()).toEqual([]);
        // root's record of the build, in a root-only folder; nothing of it inside the tree
        expect(await h.stat("/var/sync/.built")).toBe("700:root:root");
        expect(await h.stat("/var/sync/.built/1.1.4")).toBe("600:root:root");
        expect(await h.record("1.1.4")).toBe(r.sha256);
        expect(await h.exists("/var/sync/releases/1.1.4/.complete")).toBe(false);
        expect(await h.exists("/var/sync/releases/1.1.4/.sdist-sha256")).toBe(false);
        // the venv is uv's, made from the bundle's pinned wheel, with bytecode compiled
        const uv = hostLayoutValue("SYNC_UV_VERSION");
        expect((await h.sh(`/var/sync/tools/uv-${uv}/uv --version`)).split(/\s/).slice(0, 2)).toEqual(["uv", uv]);
        expect(
            await h.sh("find /var/sync/releases/1.1.4/lib -path '*weave/server/__pycache__/wsgi.*.pyc' | wc -l"),
        ).toBe("1\n");
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.servedVersion()).toBe("1.1.4");
        const hb = await h.get("/__heartbeat__");
        expect(hb.status).toBe(200);
        const sha = await h.get("/__ini_sha256__");
        expect(sha.status).toBe(200);
        expect(sha.body.trim()).toBe(
            iniSha256({ sync: { database_url: "sqlite:////var/sync/db.sqlite", secret_key: "fleet-secret-1" } }),
        );
        expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
        expect((await h.daemonPids()).length).toBe(2);
    });

    test("re-running the same stage and activate is a no-op (no venv, same release inode)", async () => {
        const inode = await h.stat("/var/sync/releases/1.1.4", "%i");
        const n = (await h.events()).length;
        const { activate: res } = await timed("no-op 1.1.4", () => rollOut(release(dir, "1.1.4")));
        expect(res.stdout).toBe("1.1.4\n");
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reuse "))).toBe(true);
        expect(ev.some((e) => e.startsWith("venv ") || e.startsWith("pip "))).toBe(false);
        expect(ev.some((e) => e.startsWith("finished 1.1.4 (no change)"))).toBe(true);
        expect(await h.stat("/var/sync/releases/1.1.4", "%i")).toBe(inode);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.servedVersion()).toBe("1.1.4");
    });

    test("upgrade to 1.1.5 builds a new release and switches", async () => {
        const r = release(dir, "1.1.5");
        const n = (await h.events()).length;
        await timed("upgrade 1.1.5", () => rollOut(r));
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("venv 1.1.5"))).toBe(true);
        expect(ev.some((e) => e.startsWith("switch 1.1.4 -> 1.1.5"))).toBe(true);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.5");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.1.4");
        expect(await h.servedVersion()).toBe("1.1.5");
    });

    test("rollback to 1.1.4 is a swap: reuse, no venv/pip", async () => {
        const inode = await h.stat("/var/sync/releases/1.1.4", "%i");
        const n = (await h.events()).length;
        await timed("rollback 1.1.4", () => rollOut(release(dir, "1.1.4")));
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reuse 1.1.4"))).toBe(true);
        expect(ev.some((e) => /^(venv|pip) /.test(e))).toBe(false);
        expect(await h.stat("/var/sync/releases/1.1.4", "%i")).toBe(inode);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.servedVersion()).toBe("1.1.4");
        expect(timings["rollback 1.1.4"]).toBeLessThan(timings["upgrade 1.1.5"]);
    });

    test("ini change reloads the daemons without a stage or activate", async () => {
        const pids = await h.daemonPids();
        const rel = await h.releases();
        const inode = await h.stat("/var/sync/releases/1.1.4", "%i");
        const n = (await h.events()).length;
        const content =
            "[sync]\ndatabase_url = postgres://db/sync\nsecret_key = rotated;#=%'\"\n\n[extra]\nflag = yes\n";
        const res = await h.ini(content);
        expect(res.code).toBe(0);
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reload settings changed"))).toBe(true);
        expect(ev.some((e) => /^(venv|pip|switch) /.test(e))).toBe(false);
        const after = await h.daemonPids();
        expect(after.length).toBe(2);
        expect(after.filter((p) => pids.includes(p))).toEqual([]);
        expect(await h.releases()).toEqual(rel);
        expect(await h.stat("/var/sync/releases/1.1.4", "%i")).toBe(inode);
        expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
        expect(await h.sh("cat /etc/sync.ini")).toBe(content);
        const sha = await h.get("/__ini_sha256__");
        expect(sha.body.trim()).toBe(
            iniSha256({
                extra: { flag: "yes" },
                sync: { database_url: "postgres://db/sync", secret_key: "rotated;#=%'\"" },
            }),
        );
        expect(await h.servedVersion()).toBe("1.1.4");
        // the same content again: nothing happens
        const pids2 = await h.daemonPids();
        expect(lastLine((await h.ini(content)).stderr)).toBe("[sync sync-1 ini] /etc/sync.ini unchanged");
        expect(await h.daemonPids()).toEqual(pids2);
    });

    test("keep 2 with 1.9, 1.10, 1.11: current and previous kept, PEP 440 order; rollback to 1.10 is a swap", async () => {
        // the upload folder of an earlier version of this stack (sdists, wheelhouse dirs): removed
        await h.sh(
            "mkdir -p /var/sync/dist/incoming/wheelhouse-1.0 && touch /var/sync/dist/incoming/WeaveServer-1.0.tar.gz",
        );
        for (const v of ["1.9", "1.10", "1.11"]) {
            await timed(`stage + activate ${v} keep 2`, () => rollOut(release(dir, v), 2));
            expect(await h.servedVersion()).toBe(v);
        }
        expect(await h.releases()).toEqual(["1.10", "1.11"]);
        // a pruned release's record goes with it
        expect(await built()).toEqual(["1.10", "1.11"]);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.11");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.10");
        expect(await h.exists("/var/sync/dist/incoming")).toBe(false);
        // the bundles came on the stages' own sessions: nothing of them is kept on the host
        expect(await leftovers()).toEqual([]);
        const n = (await h.events()).length;
        await timed("rollback 1.10 keep 2", () => rollOut(release(dir, "1.10"), 2));
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reuse 1.10"))).toBe(true);
        expect(ev.some((e) => /^(venv|pip) /.test(e))).toBe(false);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.10");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.11");
        expect(await h.releases()).toEqual(["1.10", "1.11"]);
        expect(await leftovers()).toEqual([]);
        expect(await h.servedVersion()).toBe("1.10");
    });

    test("issue 12 item 5: a smaller keepReleases prunes even when the release is already current", async () => {
        for (const v of ["1.9", "2.0"]) {
            await rollOut(release(dir, v), 5);
        }
        expect(await h.releases()).toEqual(["1.10", "1.11", "1.9", "2.0"]);
        const n = (await h.events()).length;
        // the activate step alone runs again: its command names the new keepReleases
        const res = await h.activate(release(dir, "2.0"), 2);
        expect(res.code).toBe(0);
        expect(res.stdout).toBe("2.0\n");
        const ev = await h.eventsSince(n);
        expect(ev).toContain("finished 2.0 (no change)");
        expect(ev).toContain("prune keep 2");
        expect(await h.releases()).toEqual(["1.9", "2.0"]);
        expect(await built()).toEqual(["1.9", "2.0"]);
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.9");
        expect(await leftovers()).toEqual([]);
    });

    test("item 9: a deploy that had to start Apache leaves no lock behind in it; the next one does not wait", async () => {
        const r = release(dir, "2.0");
        await stopApache();
        // the activate finds Apache down and starts it (apache2ctl start)
        const res = await h.activate(r, 2);
        expect(res.code).toBe(0);
        expect(await h.servedVersion()).toBe("2.0");
        expect(await apacheLockHolders()).toEqual([]);
        // the site's graceful (a changed daemon count) starts Apache too when it is down
        await stopApache();
        expect((await h.activate(r, 2, { processes: 3 })).code).toBe(0);
        expect(await apacheLockHolders()).toEqual([]);
        expect((await h.activate(r, 2)).code).toBe(0);
        // every later step gets the lock at once
        const t0 = Date.now();
        for (const step of [
            () => h.stage(r, "SYNC_LOCK_WAIT=2"),
            () => h.activate(r, 2, { prefix: "SYNC_LOCK_WAIT=2" }),
        ]) {
            const next = await step();
            expect(next.stderr).not.toContain("another deploy holds");
            expect(next.code).toBe(0);
        }
        const ini = await h.ini(INI_1, "SYNC_LOCK_WAIT=2");
        expect(ini.code).toBe(0);
        expect(Date.now() - t0).toBeLessThan(30_000);
        await waitFor(async () => (await h.daemonPids()).length === 2);
    });

    test("item 12: a site written but never applied (run cut off after the rename) is applied by the next run", async () => {
        const site = "/etc/apache2/sites-available/sync.conf";
        const r = release(dir, "2.0");
        expect((await h.daemonPids()).length).toBe(2);
        // what an interrupted activate with 3 daemons leaves: the new site in place, Apache never reloaded
        await h.sh(`sed -i 's/ processes=2 / processes=3 /' ${site} && grep -q ' processes=3 ' ${site}`);
        const res = await h.activate(r, 2, { processes: 3 });
        expect(res.code).toBe(0);
        expect(res.stderr).toContain(
            "[sync sync-1 activate] Apache site is written but was never confirmed applied (an interrupted run?): applying it\n",
        );
        await waitFor(async () => (await h.daemonPids()).length === 3);
        // applied now: the same settings again are a no-op
        expect((await h.activate(r, 2, { processes: 3 })).stderr).toContain(
            "[sync sync-1 activate] Apache site unchanged\n",
        );
        expect((await h.activate(r, 2)).code).toBe(0);
        await waitFor(async () => (await h.daemonPids()).length === 2);
        expect(await h.servedVersion()).toBe("2.0");
    });

    test("item 12: settings written but never applied are reloaded and checked by the next run, not skipped", async () => {
        const content = "[sync]\ndatabase_url = sqlite:////var/sync/other.sqlite\nsecret_key = fleet-secret-2\n";
        // what an interrupted ini write leaves: the new file in place, the daemons never reloaded
        await h.ssh(
            "install -m 0640 -o root -g sync /dev/stdin /etc/sync.ini.new && mv /etc/sync.ini.new /etc/sync.ini",
            {
                stdin: content,
            },
        );
        const pids = await h.daemonPids();
        const n = (await h.events()).length;
        const res = await h.ini(content);
        expect(res.code).toBe(0);
        expect(res.stderr).toContain(
            "[sync sync-1 ini] /etc/sync.ini is written but was never confirmed applied (an interrupted run?): applying it\n",
        );
        expect(await h.eventsSince(n)).toContain("reload settings changed");
        expect((await h.daemonPids()).filter((p) => pids.includes(p))).toEqual([]);
        // applied and checked now: the same content again is a no-op
        expect(lastLine((await h.ini(content)).stderr)).toBe("[sync sync-1 ini] /etc/sync.ini unchanged");
        // and bad settings left behind by an interrupted write are reported, not skipped
        const bad = "[sync]\nsecret_key = fleet-secret-2\n";
        await h.ssh(
            "install -m 0640 -o root -g sync /dev/stdin /etc/sync.ini.new && mv /etc/sync.ini.new /etc/sync.ini",
            {
                stdin: bad,
            },
        );
        const t0 = Date.now();
        const again = await h.ini(bad);
        expect(again.code).not.toBe(0);
        expect(lastLine(again.stderr)).toMatch(
            /^\[sync sync-1 \w+\] ERROR: 2\.0 is unhealthy with these settings \(host serves '2\.0', heartbeat HTTP 503: missing required key sync\.database_url\)/,
        );
        expect(Date.now() - t0).toBeLessThan(30_000);
        expect((await h.ini(INI_1)).code).toBe(0);
        expect((await h.get("/__heartbeat__")).status).toBe(200);
    });

    test("item 5: unhealthy new settings: the reason is reported within seconds, the previous file restored", async () => {
        const before = await h.sh("cat /etc/sync.ini");
        // a stale backup of an older version's interrupted run: removed, it holds old secrets
        await h.sh("umask 077 && echo 'secret_key = rotated-out' > /etc/.sync.ini.prev.AbC123");
        const t0 = Date.now();
        const res = await h.ini("[sync]\nsecret_key = no-database\n");
        const seconds = (Date.now() - t0) / 1000;
        expect(res.code).not.toBe(0);
        expect(lastLine(res.stderr)).toBe(
            "[sync sync-1 health] ERROR: 2.0 is unhealthy with the new settings (host serves '2.0', heartbeat HTTP 503: missing required key sync.database_url); restored the previous /etc/sync.ini",
        );
        expect(seconds).toBeLessThan(30);
        expect(await h.sh("cat /etc/sync.ini")).toBe(before);
        expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
        expect((await h.sh("ls -a /etc | grep -c '^.sync.ini' || true")).trim()).toBe("0");
        expect((await h.get("/__heartbeat__")).status).toBe(200);
    });
});

function lastLine(text: string): string {
    const lines = text.trim().split("\n");
    return lines[lines.length - 1];
}

/** What received bundles left: root's scratch under /var/sync/dist, an upload folder in the connection user's home. */
async function leftovers(): Promise<string[]> {
    return (await h.sh("find /var/sync/dist ~/.sync-release -mindepth 1 2>/dev/null || true"))
        .split("\n")
        .filter(Boolean)
        .sort();
}

/** The releases root has a record of. */
async function built(): Promise<string[]> {
    return (await h.sh("ls -1A /var/sync/.built")).split("\n").filter(Boolean).sort();
}

async function waitFor(check: () => Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
        if (Date.now() > deadline) {
            throw new Error("condition not met in time");
        }
        await new Promise((r) => setTimeout(r, 200));
    }
}

async function stopApache(): Promise<void> {
    await h.sh("apache2ctl stop >/dev/null 2>&1 || true");
    await waitFor(async () => (await h.ssh("pgrep -x apache2")).code !== 0);
}

/** Apache processes with the deploy lock open, as "<pid> <fd>". */
async function apacheLockHolders(): Promise<string[]> {
    const out = await h.sh(
        'for p in $(pgrep -x apache2); do for f in /proc/$p/fd/*; do [ "$(readlink $f)" = /var/sync/.deploy.lock ] && echo "$p $f"; done; done; true',
    );
    return out.split("\n").filter(Boolean);
}
