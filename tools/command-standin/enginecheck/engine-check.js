// By hand, not in CI: the engine (the CLI scripts/build-engine.sh built) with a given `command`
// plugin binary, on the things the stack relies on, fleet-free. Run it with the stand-in and
// with a released binary and compare (tools/command-standin/README.md, "Through the engine").
//
//   NODE_PATH=<repo>/node_modules node tools/command-standin/enginecheck/engine-check.js \
//       <pulumi-resource-command> <scratch dir, emptied>
//
// The plugin goes into a PULUMI_HOME of the scratch dir's own; the state is a file backend there.
"use strict";
const { LocalWorkspace, PulumiCommand } = require("@pulumi/pulumi/automation");
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const [plugin, work] = process.argv.slice(2);
if (!plugin || !work) {
    console.error("usage: engine-check.js <pulumi-resource-command> <scratch dir>");
    process.exit(2);
}
const versions = fs.readFileSync(path.join(__dirname, "..", "..", "engine", "versions.env"), "utf8");
const engineVersion = /^PULUMI_ENGINE_VERSION=(\S+)$/m.exec(versions)[1];
const cache = process.env.SYNC_RELEASE_CACHE || path.join(process.env.HOME, ".cache", "sync-release");
const engine = path.join(cache, "engine", engineVersion);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(path.join(work, "state"), { recursive: true });
const env = {
    PULUMI_HOME: path.join(work, "home"),
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_BACKEND_URL: `file://${work}/state`,
    PULUMI_CONFIG_PASSPHRASE: "engine-check",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
};
execFileSync(path.join(engine, "bin", "pulumi"), ["plugin", "install", "resource", "command", "1.2.1", "--file", plugin], {
    env: { ...process.env, ...env },
    stdio: "inherit",
});

// What the stack's host steps use: its own provider, a secret stdin hidden from diffs, the
// environment a preview shows with a nested ignoreChanges, no previous output, customTimeouts.
let spec = {};
function program() {
    const provider = new command.Provider("sync", {});
    const step = new command.local.Command(
        "step",
        {
            create: "cat; echo; echo created",
            update: spec.update,
            stdin: pulumi.secret(`input-${spec.input}`),
            environment: { host: "h1", observed: spec.observed },
            logging: "none",
            addPreviousOutputInEnv: false,
        },
        {
            provider,
            additionalSecretOutputs: ["stdin", "stdout"],
            hideDiffs: ["stdin"],
            ignoreChanges: ["environment.observed"],
            customTimeouts: { create: "60s", update: "60s", delete: "60s" },
        },
    );
    if (spec.slow) {
        new command.local.Command(
            "slow",
            { create: spec.slow, logging: "none", addPreviousOutputInEnv: false },
            { provider, customTimeouts: { create: "5s" } },
        );
    }
    return { stdout: step.stdout };
}

async function main() {
    const pulumiCommand = await PulumiCommand.get({ root: engine, skipVersionCheck: true });
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: "check", projectName: "engine-check", program },
        { workDir: work, pulumiHome: env.PULUMI_HOME, pulumiCommand, envVars: env, secretsProvider: "passphrase" },
    );
    const up = async (label) => {
        const start = Date.now();
        try {
            const result = await stack.up({ onOutput: () => {} });
            console.log(`${label}: ok in ${(Date.now() - start) / 1000} s, ${JSON.stringify(result.summary.resourceChanges)}`);
        } catch (e) {
            const error = String(e.message || e)
                .split("\n")
                .find((line) => /\berror: /.test(line));
            console.log(`${label}: failed in ${(Date.now() - start) / 1000} s:${error}`);
        }
    };
    const stepUpdate = async () => {
        const deployment = (await stack.exportStack()).deployment;
        const step = deployment.resources.find((r) => r.urn.endsWith("command:local:Command::step"));
        return JSON.stringify(step.inputs.update);
    };
    spec = { input: 1, observed: "a" };
    await up("1 create");
    spec = { input: 1, observed: "b" };
    const preview = await stack.preview({ onOutput: () => {} });
    console.log(`2 preview, environment.observed a -> b under ignoreChanges: ${JSON.stringify(preview.changeSummary)}`);
    spec = { input: 2, observed: "b", update: "echo partial; exit 3" };
    await up("3 an update that fails");
    console.log(`  the state's update input after it: ${await stepUpdate()}`);
    spec = { input: 2, observed: "b", update: "cat; echo updated" };
    await up("4 the next up retries it");
    console.log(`  the state's update input after it: ${await stepUpdate()}`);
    spec = { ...spec, slow: "exec sleep 40" };
    await up("5 `exec sleep 40`, customTimeouts create 5s");
    spec = { ...spec, slow: "sleep 60 & wait" };
    await up("6 `sleep 60 & wait`, customTimeouts create 5s");
    spec = { ...spec, slow: undefined };
    await up("7 without it");
    await stack.destroy({ onOutput: () => {} });
    console.log("8 destroyed");
}
main().catch((e) => {
    console.error(e);
    process.exit(1);
});
