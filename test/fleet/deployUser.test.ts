// The stack connecting as a non-root user (sync-3): every step through `sudo -n`, the bundle
// streamed on the stage's session straight to root (nothing lands in the user's home), the release root's.
import { bootstrap, buildReleases, Host, hosts, INI_1, release } from "./hostHarness";

let dir: string;
let root: Host;
let deploy: Host;

beforeAll(async () => {
    root = hosts()[2];
    deploy = new Host({ ...root.server, user: "deploy" }, root.fleet);
    dir = await buildReleases();
    await bootstrap(root, dir, "1.1.4");
});

afterAll(async () => {
    // back to what the other files expect of sync-3
    await bootstrap(root, dir, "1.1.4");
});

test("stage, ini and activate as `deploy`: sudo -n for the steps, the bundle on the stage's session", async () => {
    const r = release(dir, "1.11");
    // an upload an earlier version of the stack left in deploy's home goes (as deploy), with its folder
    await root.sh(
        "install -d -o deploy -g deploy /home/deploy/.sync-release && " +
            "install -o deploy -g deploy /dev/null /home/deploy/.sync-release/WeaveServer-1.1.4.release.tar",
    );
    const stage = await deploy.stage(r);
    expect(stage.stderr).toContain("[sync sync-3 staged] 1.11");
    expect(stage.code).toBe(0);
    expect(stage.stdout).toBe("staged 1.11\n");
    expect(await root.exists("/home/deploy/.sync-release")).toBe(false);
    expect((await deploy.ini(INI_1)).code).toBe(0);
    const res = await deploy.activate(r);
    expect(res.stderr).toContain("[sync sync-3 finished] 1.11");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("1.11\n");
    expect(await root.servedVersion()).toBe("1.11");
    // the deploy user cannot change the release it uploaded, nor root's record of it
    expect((await root.sh("find /var/sync/releases/1.11 ! -user root | wc -l")).trim()).toBe("0");
    expect(await root.record("1.11")).toBe(r.sha256);
    const write = await deploy.ssh("touch /var/sync/releases/1.11/x");
    expect(write.code).not.toBe(0);
    expect((await deploy.ssh("ls /var/sync/.built")).code).not.toBe(0);
});
