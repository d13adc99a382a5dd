// Zero dropped requests under constant load during upgrade and rollback (case 6: the stage builds
// or reuses while the host serves, then the activate switches), and a draining old daemon importing
// a module after the switch gets the old release's code (case 7). sync-3.
import * as fs from "fs";
import * as path from "path";
import { bootstrap, buildReleases, Host, hosts, httpGet, load, oldDeploy, release, REPO } from "./hostHarness";

let dir: string;
let h: Host;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
    h = hosts()[2];
    dir = await buildReleases();
    await bootstrap(h, dir, "1.1.4");
});

afterAll(() => {
    console.log(`load figures on sync-3: ${JSON.stringify(figures)}`);
});

describe("sync-3 under constant load", () => {
    test.each([
        ["upgrade", "1.1.5"],
        ["rollback", "1.1.4"],
    ])("%s to %s: 0 failed requests", async (phase, v) => {
        const before = await h.servedVersion();
        expect(before).not.toBe(v);
        const t0 = Date.now();
        // start the load first, then the stage and the activate
        let resolveDeploy: (x: unknown) => void = () => undefined;
        const deployDone = new Promise((r) => (resolveDeploy = r));
        const loadP = load(h.server.host, 80, deployDone);
        await new Promise((r) => setTimeout(r, 300));
        const stage = await h.stage(release(dir, v));
        const stageSeconds = (Date.now() - t0) / 1000;
        const inst = await h.activate(release(dir, v));
        const deploySeconds = (Date.now() - t0) / 1000;
        resolveDeploy(null);
        const result = await loadP;
        figures[phase] = { stageSeconds, deploySeconds, ...result };
        expect(stage.code).toBe(0);
        expect(inst.code).toBe(0);
        expect(await h.readlink("/var/sync/current")).toBe(`releases/${v}`);
        expect(result.total).toBeGreaterThanOrEqual(2000);
        // both versions were seen: the load really spanned the switch
        expect(Object.keys(result.versions).sort()).toEqual([before, v].sort());
        expect(result.errors).toEqual({});
        expect(result.failed).toBe(0);
    });

    test("case 7: a draining old daemon imports a late module from the old release", async () => {
        // 1.1.4 serves; its daemons have not imported weave.server.late yet (fresh after the rollback).
        expect(await h.servedVersion()).toBe("1.1.4");
        const slow = Promise.all([0, 1, 2, 3].map(() => httpGet(h.server.host, 80, "/slow?ms=3000", 60_000)));
        await new Promise((r) => setTimeout(r, 500));
        const inst = await h.activate(release(dir, "1.1.5")); // staged: switches well within 3 s
        expect(inst.code).toBe(0);
        const answers = await slow;
        const switchedAt = (await h.events()).filter((l) => l.includes(" switch 1.1.4 -> 1.1.5")).length;
        expect(switchedAt).toBeGreaterThan(0);
        figures.case7 = answers.map((a) => `${a.status} ${a.body} fresh=${a.headers["x-weave-late-fresh"] ?? ""}`);
        for (const a of answers) {
            expect(a.status).toBe(200);
            expect(a.body).toBe("version=1.1.4 late=1.1.4");
        }
        // at least one imported the module for the first time after the switch
        expect(answers.some((a) => a.headers["x-weave-late-fresh"] === "1")).toBe(true);
        expect(await h.servedVersion()).toBe("1.1.5");
        const fresh = await httpGet(h.server.host, 80, "/slow?ms=0", 10_000);
        expect(fresh.body).toBe("version=1.1.5 late=1.1.5");
    });

    test("the old process (scripts/old-deploy.sh) under the same load: failures measured", async () => {
        const script = path.join(REPO, "scripts/old-deploy.sh");
        expect(fs.existsSync(script)).toBe(true);
        const oldDeployTo = (v: string, init: boolean) => oldDeploy(h, dir, v, init ? 8080 : undefined);
        try {
            const init = await oldDeployTo("1.1.4", true);
            expect(init.code).toBe(0);
            let ready = "";
            for (let i = 0; i < 50 && ready !== "1.1.4"; i++) {
                ready = await httpGet(h.server.host, 8080, "/__version__", 5000).then(
                    (a) => a.body,
                    () => "",
                );
                if (ready !== "1.1.4") await new Promise((r) => setTimeout(r, 200));
            }
            expect(ready).toBe("1.1.4");
            const t0 = Date.now();
            let resolveDeploy: (x: unknown) => void = () => undefined;
            const deployDone = new Promise((r) => (resolveDeploy = r));
            const loadP = load(h.server.host, 8080, deployDone);
            await new Promise((r) => setTimeout(r, 300));
            const up = await oldDeployTo("1.1.5", false);
            const seconds = (Date.now() - t0) / 1000;
            resolveDeploy(null);
            const result = await loadP;
            figures.oldDeploy = { seconds, ...result };
            expect(up.code).toBe(0);
            expect(result.total).toBeGreaterThanOrEqual(2000);
            expect(result.ok + result.failed).toBe(result.total);
        } finally {
            // restore: drop the old site, keep ours serving
            await h.ssh("a2dissite -q sync-old; rm -f /etc/apache2/sites-available/sync-old.conf; apache2ctl graceful");
        }
        await new Promise((r) => setTimeout(r, 2000));
        expect(await h.servedVersion()).toBe("1.1.5");
    });
});
