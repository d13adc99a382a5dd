// The stack connecting as a non-root user (sync-3): every step through `sudo -n`, the bundle
// uploaded over SFTP as that user into the one directory it may write, the release root's.
import { bootstrap, buildReleases, Host, hosts, release } from "./hostHarness";

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

test("runtime, upload and install as `deploy`: sudo -n for the steps, SFTP as deploy for the bundle", async () => {
    const rt = await deploy.runtime();
    expect(rt.code).toBe(0);
    expect(await root.stat("/var/sync/dist/incoming")).toBe("750:deploy:root");
    const r = release(dir, "1.11");
    await deploy.uploadRelease(r);
    expect(await root.stat("/var/sync/dist/incoming/WeaveServer-1.11.release.tar", "%U")).toBe("deploy");
    const res = await deploy.install(r);
    expect(res.stderr).toContain("[sync sync-3 finished] 1.11");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("1.11\n");
    expect(await root.servedVersion()).toBe("1.11");
    // the deploy user cannot change the release it uploaded
    expect((await root.sh("find /var/sync/releases/1.11 ! -user root | wc -l")).trim()).toBe("0");
    const write = await deploy.ssh("touch /var/sync/releases/1.11/x");
    expect(write.code).not.toBe(0);
});
