// The plain-CLI path: `pulumi up` of a copy of this project by the pulumi CLI binary itself (not
// the Automation API), so the program runs under the nodejs language host, as it does for Ops.
// The engine tier's other tests run the program inline and never need a language host; this one
// does, and the released one can't be downloaded here. So it runs when a nodejs language host is
// there (beside the CLI, or in PULUMI_HOME: `SYNC_RELEASE_PLUGINS=<dir> scripts/test-all.sh engine`
// puts one there) and is reported SKIPPED, with the reason, when it isn't — never passed.
//
// It needs a fresh fleet of its own (hosts serving nothing): scripts/test-all.sh starts one after
// the rest of the engine tier (jest project engine-cli). It checks only what doesn't depend on
// the program's resource names: the up succeeds, every host serves the pinned version, a second
// up changes nothing, destroy succeeds and leaves the stack empty.
import { spawn } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import {
    FleetConfig,
    REPO,
    STACK_NAME,
    commandPluginKind,
    commandPluginPath,
    demoIniSecrets,
    engineDir,
    languageHostPath,
    loadFleet,
    localStackEnv,
    pulumiHome,
    renderLocalStackFile,
    servedVersion,
} from "../../scripts/lib/localStack";
import { FLEET_STATE, configErrorProblems, runOk } from "./engineHarness";

jest.setTimeout(900_000);

const HOME = pulumiHome();
const PULUMI = path.join(engineDir(), "bin", "pulumi");
const LANGUAGE_HOST = languageHostPath(HOME);
const SKIP_REASON = LANGUAGE_HOST
    ? undefined
    : `no nodejs language host beside ${PULUMI} or in ${path.join(HOME, "plugins")} ` +
      "(the released one can't be downloaded here; SYNC_RELEASE_PLUGINS=<dir> scripts/test-all.sh engine runs with one)";
if (SKIP_REASON) {
    process.stderr.write(`plainCli.test.ts SKIPPED: ${SKIP_REASON}\n`);
}
const suite = SKIP_REASON ? describe.skip : describe;

/** What the copy of the project leaves out: the checkout's own state and what the program never reads. */
const NOT_COPIED = new Set([".git", "node_modules", ".artifacts", "tools", "docs", "bin"]);

let work: string;
let project: string;
let env: NodeJS.ProcessEnv;
let fleet: FleetConfig;
let version: string;
let keepReleases: string;

interface Run {
    code: number | null;
    output: string;
}

/** The CLI in the project copy, with the stack's environment; stdin as given. */
function pulumi(args: string[], stdin = ""): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn(PULUMI, [...args, "--stack", STACK_NAME, "--non-interactive"], { cwd: project, env });
        let output = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin);
        child.on("close", (code) => resolve({ code, output }));
    });
}

async function pulumiOk(args: string[], stdin = ""): Promise<string> {
    const run = await pulumi(args, stdin);
    if (run.code !== 0) {
        throw new Error(`pulumi ${args.join(" ")} exited ${run.code}:\n${run.output}`);
    }
    return run.output;
}

const TITLE = "plain CLI: pulumi up of a project copy under the nodejs language host";
suite(SKIP_REASON ? `${TITLE} (SKIPPED: ${SKIP_REASON})` : `${TITLE} (${LANGUAGE_HOST})`, () => {
    beforeAll(async () => {
        fleet = loadFleet(FLEET_STATE);
        const serving = await Promise.all(fleet.servers.map(async (s) => `${s.name}: ${await servedVersion(s.host)}`));
        if (serving.some((line) => !line.endsWith(": "))) {
            throw new Error(`needs a fresh fleet of its own (scripts/test-all.sh engine starts one); found ${serving}`);
        }
        process.stderr.write(
            `plain CLI: ${PULUMI}, language host ${LANGUAGE_HOST}, command plugin ` +
                `${commandPluginKind(HOME)} (${commandPluginPath(HOME)})\n`,
        );
        work = fs.mkdtempSync(path.join(os.tmpdir(), "sync-plain-cli-"));
        const releases = path.join(work, "releases");
        await runOk(path.join(REPO, "scripts/build-releases.sh"), [releases]);

        project = path.join(work, "project");
        fs.mkdirSync(project);
        for (const entry of fs.readdirSync(REPO)) {
            if (!NOT_COPIED.has(entry)) {
                fs.cpSync(path.join(REPO, entry), path.join(project, entry), { recursive: true });
            }
        }
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
        const stackFile = renderLocalStackFile(
            fs.readFileSync(path.join(REPO, `Pulumi.${STACK_NAME}.yaml`), "utf8"),
            fleet,
            releases,
        );
        fs.writeFileSync(path.join(project, `Pulumi.${STACK_NAME}.yaml`), stackFile);
        const stackConfig = (yaml.load(stackFile) as { config: Record<string, unknown> }).config;
        version = String(stackConfig["sync:version"]);
        keepReleases = String(stackConfig["sync:keepReleases"]);

        fs.mkdirSync(path.join(work, "state"));
        env = { ...process.env, ...localStackEnv(work) };
        await pulumiOk(["stack", "init", "--secrets-provider", "passphrase"]);
        await pulumiOk(
            ["config", "set", "--secret", "sync:sshPrivateKey"],
            fs.readFileSync(fleet.sshPrivateKeyPath, "utf8"),
        );
        for (const [key, value] of Object.entries(demoIniSecrets())) {
            await pulumiOk(["config", "set", "--secret", "--path", key], value);
        }
    });

    afterAll(() => {
        if (work) {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });

    test("pulumi up succeeds and every host serves the pinned version", async () => {
        const output = await pulumiOk(["up", "--yes", "--skip-preview"]);
        expect(output).toMatch(/Resources:\n[\s\S]* created/);
        for (const server of fleet.servers) {
            expect(`${server.name} serves ${await servedVersion(server.host)}`).toBe(
                `${server.name} serves ${version}`,
            );
        }
    });

    test("a second pulumi up changes nothing", async () => {
        await pulumiOk(["up", "--yes", "--skip-preview"]);
        const history = JSON.parse(await pulumiOk(["stack", "history", "--json"])) as {
            kind: string;
            result: string;
            resourceChanges?: Record<string, number>;
        }[];
        const last = history[0];
        expect([last.kind, last.result]).toEqual(["update", "succeeded"]);
        expect(Object.keys(last.resourceChanges ?? {})).toEqual(["same"]);
        for (const server of fleet.servers) {
            expect(`${server.name} serves ${await servedVersion(server.host)}`).toBe(
                `${server.name} serves ${version}`,
            );
        }
    });

    test("a bad config value: pulumi preview stops with its one message, once, no stack, nothing deleted", async () => {
        await pulumiOk(["config", "set", "sync:keepReleases", "1"]);
        try {
            const run = await pulumi(["preview"]);
            expect(run.code).not.toBe(0);
            const message = "sync:keepReleases: 1 must be an integer from 2 to 100";
            expect(configErrorProblems(run.output, message)).toEqual([]);
        } finally {
            await pulumiOk(["config", "set", "sync:keepReleases", keepReleases]);
        }
    });

    test("pulumi destroy succeeds and leaves the stack empty", async () => {
        await pulumiOk(["destroy", "--yes", "--skip-preview"]);
        const exported = JSON.parse(await pulumiOk(["stack", "export"])) as { deployment: { resources?: unknown[] } };
        expect(exported.deployment.resources ?? []).toEqual([]);
    });
});
