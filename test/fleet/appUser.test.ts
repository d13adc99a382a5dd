// Issue 25 item 1: release code running as the app user can't pin a host. Release 7.1 carries a
// wheel whose `.pth`, in the app user's processes only (the mod_wsgi daemons), starts a detached
// process that names itself `(wsgi:sync)`, ignores USR1/TERM/HUP/INT and keeps /etc/sync.ini
// open. At f5dba13 the reload waited for every process `pgrep -u sync -f '^\(wsgi:sync\)'` found
// (lib_serve.sh wsgi_daemon_pids), so each of those held every later reload for 70 s and then
// failed it: a roll-forward to a clean release, a rollback and a settings change all failed, and
// the processes of 7.1 lived on with the old settings open.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact } from "../../components/artifacts";
import { bootstrap, brokenRelease, buildReleases, Host, hosts, INI_1, release } from "./hostHarness";
import { hookRelease, pinningHook } from "./hookRelease";
import { error, expectServing, lastLine, staged } from "./steps";

let dir: string;
let h: Host;
let scratch: string;
let pinning: ReleaseArtifact;

const PINNING_VERSION = "7.1";

/** Every process of the app user, as "<pid>:<start time>" (a pid reused later is another process). */
async function appUserProcesses(): Promise<string[]> {
    const out = await h.sh(
        'for p in $(pgrep -u sync); do s=$(cat /proc/$p/stat 2>/dev/null) && echo "$p:$(echo "${s##*) }" | cut -d\' \' -f20)"; done; true',
    );
    return out.split("\n").filter(Boolean).sort();
}

/** The processes 7.1's `.pth` started (their command line ends with the marker). */
async function pinned(): Promise<number[]> {
    const out = (await h.ssh(`pgrep -u sync -f 'sync-pin-${PINNING_VERSION}$'`)).stdout;
    return out.split("\n").filter(Boolean).map(Number).sort();
}

/** Processes of the app user that are not a child of the Apache master ("<pid> <ppid> <cmd>"). */
async function notTheMastersDaemons(): Promise<string[]> {
    const out = await h.sh(
        "m=$(pgrep -o -u root -x apache2); ps -u sync -o pid=,ppid=,args= | awk -v m=\"$m\" '$2 != m'",
    );
    return out.split("\n").filter(Boolean);
}

/** Processes with the settings file that was replaced (deleted since) still open. */
async function oldSettingsHolders(): Promise<string> {
    return h.sh("find /proc/[0-9]*/fd -lname '/etc/sync.ini (deleted)' 2>/dev/null; true");
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
        if (Date.now() > deadline) {
            throw new Error(`${h.name}: ${what} not seen within ${ms / 1000}s`);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}

/** 7.1 current, and its detached processes running (two daemons, one each). */
async function pinnedAndServing(): Promise<void> {
    await staged(h, pinning);
    const res = await h.activate(pinning);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${PINNING_VERSION}\n`);
    await waitFor(async () => (await pinned()).length >= 2, "7.1's detached processes");
    // named like the daemons, holding the settings open, ignoring what a reload or a stop sends
    for (const pid of await pinned()) {
        const [name, files, ignored] = (
            await h.sh(
                `head -c 11 /proc/${pid}/cmdline; echo; readlink /proc/${pid}/fd/* | tr '\n' ' '; echo; awk '$1 == "SigIgn:" { print $2 }' /proc/${pid}/status`,
            )
        ).split("\n");
        expect(name).toBe("(wsgi:sync)");
        expect(files).toContain("/etc/sync.ini");
        // SIGHUP, SIGINT, SIGUSR1, SIGTERM: bits 0, 1, 9, 14
        expect(BigInt(`0x${ignored}`) & 0x4203n).toBe(0x4203n);
    }
}

beforeAll(async () => {
    h = hosts()[2];
    dir = await buildReleases();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sync-app-user-"));
    pinning = await hookRelease(dir, scratch, PINNING_VERSION, "sync_pin_host", pinningHook(PINNING_VERSION));
    await bootstrap(h, dir, "1.1.4");
    await h.sh(`rm -rf /var/sync/releases/${PINNING_VERSION} /var/sync/.built/${PINNING_VERSION}`);
});

afterAll(async () => {
    // what these tests leave: 7.1 gone, 1.1.4 serving with the fleet's settings
    await bootstrap(h, dir, "1.1.4");
    await h.sh(`rm -rf /var/sync/releases/${PINNING_VERSION} /var/sync/.built/${PINNING_VERSION}`);
    expect(await pinned()).toEqual([]);
    fs.rmSync(scratch, { recursive: true, force: true });
});

describe("issue 25 item 1: a release's app-user processes never pin the host", () => {
    test("a roll-forward from it to a clean release succeeds without waiting; nothing of it survives", async () => {
        await pinnedAndServing();
        const before = await appUserProcesses();
        const clean = release(dir, "1.1.5");
        await staged(h, clean);
        const t0 = Date.now();
        const res = await h.activate(clean);
        const seconds = (Date.now() - t0) / 1000;
        expect(lastLine(res)).toBe(`[sync ${h.name} finished] 1.1.5`);
        expect(res.code).toBe(0);
        expect(res.stdout).toBe("1.1.5\n");
        // a reload takes seconds; f5dba13 waited 70 s for each process of 7.1, then failed
        expect(seconds).toBeLessThan(30);
        // no process of the earlier generation is left, whatever it called itself
        expect((await appUserProcesses()).filter((p) => before.includes(p))).toEqual([]);
        expect(await pinned()).toEqual([]);
        expect(await notTheMastersDaemons()).toEqual([]);
        await expectServing(h, "1.1.5");
    });

    test("a rollback to it after a failed release, and on to a clean one: neither waits, no earlier process survives", async () => {
        await pinnedAndServing();
        // a broken release after it: switched back to 7.1 within seconds
        const broken = brokenRelease(dir, "3.2");
        await staged(h, broken);
        const before = await appUserProcesses();
        let t0 = Date.now();
        const res = await h.activate(broken);
        expect((Date.now() - t0) / 1000).toBeLessThan(40);
        expect(res.code).toBe(1);
        expect(lastLine(res)).toBe(
            error(
                h,
                "rollback",
                `3.2 failed its health check (host serves '3.2', heartbeat HTTP 503: deliberately broken release (fault: heartbeat-fail)); switched back to ${PINNING_VERSION}`,
            ),
        );
        expect(res.stdout).toBe(`${PINNING_VERSION}\n`);
        // nothing that ran before the rollback is left: not 7.1's detached processes, not 3.2's daemons
        expect((await appUserProcesses()).filter((p) => before.includes(p))).toEqual([]);
        await expectServing(h, PINNING_VERSION);

        // Ops go back to a clean release: no wait, nothing of 7.1 survives
        await waitFor(async () => (await pinned()).length >= 2, "7.1's detached processes");
        const pinnedBefore = await appUserProcesses();
        const clean = release(dir, "1.1.4");
        await staged(h, clean);
        t0 = Date.now();
        const back = await h.activate(clean);
        expect(back.code).toBe(0);
        expect(back.stdout).toBe("1.1.4\n");
        expect((Date.now() - t0) / 1000).toBeLessThan(30);
        expect((await appUserProcesses()).filter((p) => pinnedBefore.includes(p))).toEqual([]);
        expect(await pinned()).toEqual([]);
        expect(await notTheMastersDaemons()).toEqual([]);
        await expectServing(h, "1.1.4");
    });

    test("a secret rotated while it serves: no process of an earlier generation can still read the old settings", async () => {
        await pinnedAndServing();
        const before = await appUserProcesses();
        const rotated = INI_1.replace("fleet-secret-1", "fleet-secret-rotated");
        const t0 = Date.now();
        const res = await h.ini(rotated);
        expect(lastLine(res)).toBe(`[sync ${h.name} finished] settings applied`);
        expect(res.code).toBe(0);
        expect((Date.now() - t0) / 1000).toBeLessThan(30);
        // the earlier generation is gone, and with it every descriptor of the replaced file
        expect((await appUserProcesses()).filter((p) => before.includes(p))).toEqual([]);
        expect(await oldSettingsHolders()).toBe("");
        expect(await h.sh("cat /etc/sync.ini")).toBe(rotated);
        await expectServing(h, PINNING_VERSION);
        expect((await h.ini(INI_1)).code).toBe(0);
    });
});
