// The read before planning (components/observe.ts, components/local/observe-host.sh) against a
// real host, exactly as the program runs it: what it reports for a host in sync and for one changed
// by hand, that it writes nothing and takes no lock, and that it answers while a deploy holds the
// host's lock.
import * as fs from "fs";
import { hostScriptsHash } from "../../components/hostScripts";
import { HostObservation, ObservationTarget, driftOf, observeHost } from "../../components/observe";
import { bootstrap, buildReleases, Host, hosts, release } from "./hostHarness";

let dir: string;
let h: Host;

beforeAll(async () => {
    // sync-1 stays bare for main.test.ts
    h = hosts()[2];
    dir = await buildReleases();
    await bootstrap(h, dir, "1.1.4");
});

function target(version = "1.1.4"): ObservationTarget {
    return {
        ...h.target(),
        version,
        sdistSha256: version === "0.0.1" ? "0".repeat(64) : release(dir, version).sha256,
        scriptsHash: hostScriptsHash(),
    };
}

async function observe(version = "1.1.4"): Promise<HostObservation> {
    const result = await observeHost(target(version), fs.readFileSync(h.fleet.sshPrivateKeyPath, "utf8"));
    expect(result.error).toBeUndefined();
    return result.observed as HostObservation;
}

/** Everything the observation could have written: the host's state, its events, /etc/sync.ini, /tmp. */
async function untouched(): Promise<string> {
    return [
        await h.state(),
        (await h.events()).length,
        await h.sh("sha256sum /etc/sync.ini; ls -A /tmp /var/tmp; stat -c %Y /var/sync/.deploy.lock"),
    ].join("\n");
}

test("a host in sync: what it serves, sealed and recorded, its scripts, its settings as last applied; nothing written", async () => {
    const before = await untouched();
    expect(await observe()).toEqual({
        current: "1.1.4",
        sealed: "yes",
        deployed: "1.1.4",
        switching: "no",
        serves: "1.1.4",
        staged: "yes",
        scripts: "yes",
        ini: "applied",
    });
    expect(await untouched()).toBe(before);
    // the same version from another sdist (a re-cut) is not what the host holds
    const recut = await observeHost(
        { ...target("1.1.4"), sdistSha256: release(dir, "1.1.5").sha256 },
        fs.readFileSync(h.fleet.sshPrivateKeyPath, "utf8"),
    );
    expect(recut.observed?.staged).toBe("no");
    // nor a release it never built
    expect((await observe("0.0.1")).staged).toBe("no");
});

test("a host changed by hand is seen as such, and the drift names the steps that repair it", async () => {
    await h.sh("cp -p /etc/sync.ini /root/sync.ini.kept");
    try {
        await h.sh("echo '# by hand' >> /etc/sync.ini");
        const edited = await observe();
        expect(edited.ini).toBe("changed");
        expect(driftOf(edited, { version: "1.1.4", scriptsHash: hostScriptsHash() }).ini).toEqual([
            "/etc/sync.ini changed on the host",
        ]);
        await h.sh("mv /var/sync/releases/1.1.4 /root/release.kept");
        const gone = await observe();
        expect([gone.sealed, gone.staged]).toEqual(["gone", "no"]);
    } finally {
        await h.sh(
            "mv /root/release.kept /var/sync/releases/1.1.4 2>/dev/null || true; cp -p /root/sync.ini.kept /etc/sync.ini",
        );
    }
    expect(await observe()).toMatchObject({ sealed: "yes", staged: "yes", ini: "applied" });
});

test("it takes no lock: a deploy holding the host's lock does not make it wait", async () => {
    const holder = h.spawnSsh("flock /var/sync/.deploy.lock sleep 20");
    try {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const started = Date.now();
        expect((await observe()).current).toBe("1.1.4");
        expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
        holder.kill();
        await h.ssh("pkill -f 'sleep 2[0]' || true");
    }
});

test("the release current points at, removed by hand: the stage builds it again (root's record notwithstanding), the activation serves it", async () => {
    const r = release(dir, "1.1.4");
    await h.sh("rm -rf /var/sync/releases/1.1.4");
    expect((await observe()).sealed).toBe("gone");
    const stage = await h.stage(r);
    expect(stage.stderr).toContain("release 1.1.4 is gone from the host although root recorded it");
    expect([stage.code, stage.stdout]).toEqual([0, "staged 1.1.4\n"]);
    const activate = await h.activate(r);
    expect([activate.code, activate.stdout]).toEqual([0, "1.1.4\n"]);
    expect(await observe()).toMatchObject({ current: "1.1.4", sealed: "yes", serves: "1.1.4", staged: "yes" });
});
