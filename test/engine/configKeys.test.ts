// Engine tier: a mistyped `sync:` key under the real Pulumi CLI. The CLI hands the program every
// key it holds (the stack file's and Pulumi.yaml's defaults); a key the stack does not know stops
// `preview` and `up` with one message naming it and the key it most likely meant, before any
// resource or host is touched — rather than being ignored while the old version rolls out.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineStack, acceptedLogins, configErrorProblems, onHost, runOk } from "./engineHarness";
import { REPO } from "../../scripts/lib/localStack";

jest.setTimeout(900_000);

const TYPO_MESSAGE = "sync:verison: unknown key; did you mean sync:version?";
let releases: string;
let stack: EngineStack;
let names: string[];

beforeAll(async () => {
    releases = fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-keys-releases-"));
    await runOk(path.join(REPO, "scripts/build-releases.sh"), [releases]);
    stack = new EngineStack(releases);
    names = stack.fleet.servers.map((server) => server.name);
    await stack.pulumi(["config"]); // creates the stack
});

afterAll(() => {
    for (const dir of [stack?.workDir, releases]) {
        if (dir) {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
});

test("pulumi config set sync:verison: preview and up stop with that one message, once, before anything runs; without it the stack previews", async () => {
    const logins = await Promise.all(names.map(acceptedLogins));
    await stack.pulumi(["config", "set", "sync:verison", "1.1.5"]);

    const preview = await stack.run(["preview"]);
    expect(preview.code).not.toBe(0);
    expect(configErrorProblems(preview.output, TYPO_MESSAGE)).toEqual([]);

    const up = await stack.up();
    expect(up.code).not.toBe(0);
    expect(configErrorProblems(up.output, TYPO_MESSAGE)).toEqual([]);
    // nothing was declared, so nothing was created; no host was reached or written
    expect(up.result).toBe("failed");
    const state = JSON.parse(await stack.pulumi(["stack", "export"])) as {
        deployment: { resources?: { type: string }[] };
    };
    const types = (state.deployment.resources ?? []).map((resource) => resource.type);
    expect(types.filter((type) => !type.startsWith("pulumi:"))).toEqual([]);
    expect(await Promise.all(names.map(acceptedLogins))).toEqual(logins);
    for (const name of names) {
        expect([name, await onHost(name, "test -e /root/.sync-release && echo there || echo missing")]).toEqual([
            name,
            "missing\n",
        ]);
    }

    // The typo alone stopped it: the same stack, with Pulumi.yaml's defaults (sync:observe among
    // them) and the local stack file's keys, previews once the key is gone.
    await stack.pulumi(["config", "rm", "sync:verison"]);
    const fixed = await stack.run(["preview"]);
    expect(fixed.output).not.toContain("unknown key");
    expect(fixed.code).toBe(0);
});
