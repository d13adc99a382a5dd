// The Pulumi CLI built from its pinned Go module, with a file backend and a passphrase secrets
// provider, reading this project and the local stack: version and secret config, no plugin needed.
// `pulumi up` of the stack is in rollout.test.ts (the program inline, Automation API) and
// plainCli.test.ts (the CLI binary under the nodejs language host, skipped without one).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const ENGINE_VERSION = /PULUMI_ENGINE_VERSION=(v[0-9.]+)/.exec(
    fs.readFileSync(path.join(REPO, "tools/engine/versions.env"), "utf8"),
)?.[1];
const CACHE = process.env.SYNC_RELEASE_CACHE ?? path.join(os.homedir(), ".cache/sync-release");
const PULUMI = path.join(CACHE, "engine", ENGINE_VERSION ?? "missing", "bin", "pulumi");
const SENTINEL = "S3NT1NEL-engine-5b7e";

let work: string;
/** A copy of the project's files, so the CLI never writes into the checkout. */
let project: string;
let env: NodeJS.ProcessEnv;

function pulumi(args: string[], input?: string): string {
    return execFileSync(PULUMI, args, { cwd: project, env, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

beforeAll(() => {
    if (!fs.existsSync(PULUMI)) {
        throw new Error(`${PULUMI} is missing: run scripts/build-engine.sh`);
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-"));
    env = {
        ...process.env,
        PULUMI_HOME: path.join(work, "home"),
        PULUMI_BACKEND_URL: `file://${work}/state`,
        PULUMI_CONFIG_PASSPHRASE: "local-fleet-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    fs.mkdirSync(path.join(work, "state"));
    project = path.join(work, "project");
    fs.mkdirSync(project);
    for (const file of ["Pulumi.yaml", "Pulumi.local.yaml"]) {
        fs.copyFileSync(path.join(REPO, file), path.join(project, file));
    }
});

afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
});

test("the CLI is the version of the npm @pulumi/pulumi SDK", () => {
    const sdk = JSON.parse(
        fs.readFileSync(path.join(REPO, "node_modules/@pulumi/pulumi/package.json"), "utf8"),
    ).version;
    expect(pulumi(["version"]).trim()).toBe(`v${sdk}`);
    expect(ENGINE_VERSION).toBe(`v${sdk}`);
});

test("the local stack keeps secrets as secure: values, and reads them back", () => {
    const configFile = path.join(project, "Pulumi.local.yaml");
    pulumi(["stack", "init", "local", "--secrets-provider", "passphrase"]);
    pulumi([
        "config",
        "set",
        "--config-file",
        configFile,
        "--secret",
        "--path",
        "sync:iniSecrets.sync.secret_key",
        SENTINEL,
    ]);
    pulumi(
        ["config", "set", "--config-file", configFile, "--secret", "sync:sshPrivateKey"],
        "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
    );
    const file = fs.readFileSync(configFile, "utf8");
    expect(file).not.toContain(SENTINEL);
    expect(file).not.toContain("PRIVATE KEY");
    expect(file).toMatch(/secret_key:\n\s+secure: v1:/);
    expect(
        pulumi(["config", "get", "--config-file", configFile, "--path", "sync:iniSecrets.sync.secret_key"]).trim(),
    ).toBe(SENTINEL);
    const listing = pulumi(["config", "--config-file", configFile, "--json"]);
    expect(listing).not.toContain(SENTINEL);
    expect(JSON.parse(listing)["sync:iniSecrets"]).toMatchObject({ secret: true });
    expect(JSON.parse(listing)["sync:version"]).toMatchObject({ value: "1.1.4", secret: false });
    const exported = pulumi(["stack", "export"]);
    expect(exported).not.toContain(SENTINEL);
});
