// Secrets, concurrent readers and bounds on sync-2: a sentinel secret lives only in
// /etc/sync.ini; readers never see a partial file even under umask 000; a hanging deploy is
// killed by the command's own timeout.
import { renderSyncIni } from "../../components/syncIni";
import { INI_1, bootstrap, buildReleases, Host, hosts, release, RunResult } from "./hostHarness";

const SENTINEL = "S3NT1NEL-fleet-c41f";
let dir: string;
let h: Host;

beforeAll(async () => {
    [, h] = hosts();
    dir = await buildReleases();
    await bootstrap(h, dir, "1.1.4");
});

afterAll(async () => {
    await h.ini(INI_1);
});

function settings(marker: number, secret = "fleet-secret-1"): string {
    return renderSyncIni(
        { sync: { database_url: "sqlite:////var/sync/db.sqlite", marker: String(marker) } },
        { sync: { secret_key: secret } },
    );
}

test("case 8: the sentinel secret is in /etc/sync.ini and nowhere else on the host, nor in ps", async () => {
    // Watch every process's command line on the host while the settings are written.
    const watcher = h.spawnSsh("for i in $(seq 1 400); do ps -eo args= ; sleep 0.01; done > /root/ps-watch.txt 2>&1");
    const watched = new Promise((resolve) => watcher.on("exit", resolve));
    const write = await h.ini(settings(1, SENTINEL));
    expect(write.code).toBe(0);
    expect(write.stdout + write.stderr).not.toContain(SENTINEL);
    await watched;
    expect((await h.get("/__heartbeat__")).status).toBe(200);
    expect(await h.sh("grep -c S3NT1NEL-fleet-c41f /etc/sync.ini")).toBe("1\n");
    const psLog = await h.sh("cat /root/ps-watch.txt; rm -f /root/ps-watch.txt");
    expect(psLog).toMatch(/bash \/var\/sync\/scripts\/[0-9a-f]{16}\/ini\.sh/); // the watcher did see the write running
    expect(psLog).not.toContain(SENTINEL);
    // Every file on the host except the ini itself (and the ps capture, already removed).
    const found = await h.ssh(
        `grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -e ${SENTINEL} / | grep -vx /etc/sync.ini || true`,
        { timeoutMs: 300_000 },
    );
    expect(found.code).toBe(0);
    expect(found.stdout.trim()).toBe("");
});

test("case 9: readers during ini writes under umask 000 never see an empty or partial file; mode stays 0640", async () => {
    // A reader on the host checks every read: non-empty, ends with its last key, mode 640 root:sync.
    const reader = h.spawnSsh(
        [
            "bad=0; reads=0; end=$((SECONDS + 25));",
            "while ((SECONDS < end)); do",
            "  content=$(cat /etc/sync.ini); mode=$(stat -c %a:%U:%G /etc/sync.ini);",
            "  reads=$((reads + 1));",
            '  if [[ -z $content || $content != *"secret_key = "* || $mode != 640:root:sync ]]; then bad=$((bad + 1)); fi;',
            "  [[ -f /root/ini-stop ]] && break;",
            'done; rm -f /root/ini-stop; echo "$reads $bad"',
        ].join(" "),
    );
    let output = "";
    reader.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const done = new Promise((resolve) => reader.on("exit", resolve));
    for (let marker = 2; marker < 8; marker++) {
        const write = await h.ini(settings(marker), "umask 000;");
        expect(write.code).toBe(0);
        expect(await h.sh("grep '^marker' /etc/sync.ini")).toBe(`marker = ${marker}\n`);
    }
    await h.sh("touch /root/ini-stop");
    await done;
    const [reads, bad] = output.trim().split(" ").map(Number);
    expect(reads).toBeGreaterThan(100);
    expect(bad).toBe(0);
    expect(await h.stat("/etc/sync.ini")).toBe("640:root:sync");
    expect((await h.sh("ls -a /etc | grep -c '^.sync.ini' || true")).trim()).toBe("0"); // no temp files left
});

test("case 11: a deploy that hangs on the lock is killed whole by its own timeout, and never changes the host", async () => {
    const r = release(dir, "1.1.5");
    expect((await h.stage(r)).code).toBe(0);
    // an activate of 1.1.5 that got the lock would switch the host to it
    expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
    const before = await h.state();
    const n = (await h.events()).length;
    const holder = h.spawnSsh("flock /var/sync/.deploy.lock sleep 40");
    const held = new Promise((resolve) => holder.on("exit", resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let res: RunResult;
    let seconds: number;
    let waiting: RunResult;
    try {
        const started = Date.now();
        res = await h.ssh(`SYNC_LOCK_WAIT=600 ${h.activateCommand(r, 5, { timeoutSeconds: 5 })}`);
        seconds = (Date.now() - started) / 1000;
        waiting = await h.ssh("pgrep -f 'activate[.]sh'");
    } finally {
        // release the lock: a part of the deploy that survived would take it now and switch
        await h.ssh("pkill -f '^sleep 40$'");
        await held;
    }
    // timeout's exit status, killed while waiting: not a word from the deploy
    expect(res).toEqual({ code: 124, signal: null, stdout: "", stderr: "" });
    expect(seconds).toBeGreaterThanOrEqual(5);
    expect(seconds).toBeLessThan(20);
    // no part of it was left waiting for the lock, and none took it once free: nothing changed
    expect(waiting.code).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await h.ssh("flock -n /var/sync/.deploy.lock true")).code).toBe(0);
    expect(await h.eventsSince(n)).toEqual([]);
    expect(await h.state()).toBe(before);
    expect(await h.servedVersion()).toBe("1.1.4");
});

test("case 4: a deploy killed mid-reload converges on the next run; current always points at a staged release", async () => {
    for (const version of ["1.1.5", "1.1.4"]) {
        expect((await h.stage(release(dir, version))).code).toBe(0);
    }
    expect((await h.activate(release(dir, "1.1.5"))).code).toBe(0);
    const before = (await h.events()).length;
    // On the host: kill the whole deploy the moment it starts reloading after the switch.
    const killer = h.spawnSsh(
        "for i in $(seq 1 3000); do tail -n +" +
            String(before + 1) +
            " /var/sync/events.log | grep -q ' reload 1.1.4' && { pkill -KILL -f '[a]ctivate[.]sh'; echo killed; exit 0; }; sleep 0.01; done; echo missed",
    );
    let killerOut = "";
    killer.stdout?.on("data", (chunk: Buffer) => (killerOut += chunk.toString()));
    const killerDone = new Promise((resolve) => killer.on("exit", resolve));
    const killed = await h.activate(release(dir, "1.1.4"));
    await killerDone;
    expect(killerOut.trim()).toBe("killed");
    expect(killed.code).not.toBe(0);
    const target = await h.readlink("/var/sync/current");
    expect(["releases/1.1.4", "releases/1.1.5"]).toContain(target);
    expect(await h.record(target.slice("releases/".length))).toBe(
        release(dir, target.slice("releases/".length)).sha256,
    );
    // The next run of the same deploy converges: finishes the reload, serves 1.1.4, healthy.
    const beforeRerun = (await h.events()).length;
    const again = await h.activate(release(dir, "1.1.4"));
    expect(again.code).toBe(0);
    const steps = await h.eventsSince(beforeRerun);
    expect(steps.some((line) => line.startsWith("reload 1.1.4 (finishing an interrupted deploy)"))).toBe(
        target === "releases/1.1.4",
    );
    expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
    expect(await h.servedVersion()).toBe("1.1.4");
    expect((await h.get("/__heartbeat__")).status).toBe(200);
});
