// Main flow on sync-1: fresh install, no-op reinstall, upgrade, rollback swap, ini change, keep N.
import { buildReleases, Host, hosts, INI_1, iniSha256, release } from "./hostHarness";

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
    console.log(`install timings on sync-1 (s): ${JSON.stringify(timings)}`);
});

describe("sync-1: the main flow", () => {
    test("fresh install on a bare host: runtime -> ini -> install 1.1.4", async () => {
        const rt = await h.runtime();
        expect(rt.code).toBe(0);
        const ini = await h.ini(INI_1);
        expect(ini.code).toBe(0);
        expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
        const r = release(dir, "1.1.4");
        await h.uploadRelease(r);
        const res = await timed("fresh 1.1.4", () => h.install(r));
        expect(res.stderr).toContain("finished");
        expect(res.code).toBe(0);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.exists("/var/sync/releases/1.1.4/.complete")).toBe(true);
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

    test("re-running the same install is a no-op (no venv, same release inode)", async () => {
        const inode = await h.stat("/var/sync/releases/1.1.4", "%i");
        const n = (await h.events()).length;
        const res = await timed("no-op 1.1.4", () => h.install(release(dir, "1.1.4")));
        expect(res.code).toBe(0);
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
        await h.uploadRelease(r);
        const n = (await h.events()).length;
        const res = await timed("upgrade 1.1.5", () => h.install(r));
        expect(res.code).toBe(0);
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
        const res = await timed("rollback 1.1.4", () => h.install(release(dir, "1.1.4")));
        expect(res.code).toBe(0);
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reuse 1.1.4"))).toBe(true);
        expect(ev.some((e) => /^(venv|pip) /.test(e))).toBe(false);
        expect(await h.stat("/var/sync/releases/1.1.4", "%i")).toBe(inode);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.servedVersion()).toBe("1.1.4");
        expect(timings["rollback 1.1.4"]).toBeLessThan(timings["upgrade 1.1.5"]);
    });

    test("ini change reloads the daemons without a reinstall", async () => {
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
        expect((await h.ini(content)).stderr).toContain("unchanged");
        expect(await h.daemonPids()).toEqual(pids2);
    });

    test("keep 2 with 1.9, 1.10, 1.11: current and previous kept, PEP 440 order; rollback to 1.10 is a swap", async () => {
        for (const v of ["1.9", "1.10", "1.11"]) {
            const r = release(dir, v);
            await h.uploadRelease(r);
            const res = await timed(`install ${v} keep 2`, () => h.install(r, 2));
            expect(res.code).toBe(0);
            expect(await h.servedVersion()).toBe(v);
        }
        expect(await h.releases()).toEqual(["1.10", "1.11"]);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.11");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.10");
        const n = (await h.events()).length;
        const res = await timed("rollback 1.10 keep 2", () => h.install(release(dir, "1.10"), 2));
        expect(res.code).toBe(0);
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith("reuse 1.10"))).toBe(true);
        expect(ev.some((e) => /^(venv|pip) /.test(e))).toBe(false);
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.10");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.11");
        expect(await h.releases()).toEqual(["1.10", "1.11"]);
        expect(await h.servedVersion()).toBe("1.10");
    });
});
