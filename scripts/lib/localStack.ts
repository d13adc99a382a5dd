// The local stack under the real Pulumi engine: the CLI that scripts/build-engine.sh built, this
// project's program run inline through the Automation API (no nodejs language host needed), a
// file backend and a passphrase, and the running local fleet as sync:servers. Used by the README's
// first command (scripts/local-up.sh) and by the engine tier, so both roll out the same way.
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";

export const REPO = path.resolve(__dirname, "../..");
export const STACK_NAME = "local";
/** Local only: it protects the demo stack's secrets in its own state directory, nothing else. */
export const LOCAL_PASSPHRASE = "sync-release-local-fleet";
/** The command provider version @pulumi/command asks the engine for. */
export const COMMAND_PLUGIN_VERSION = (
    JSON.parse(fs.readFileSync(path.join(REPO, "node_modules/@pulumi/command/package.json"), "utf8")) as {
        version: string;
    }
).version;

/** What scripts/fleet.sh writes to <state>/config.json. */
export interface FleetServer {
    name: string;
    host: string;
    port: number;
    user: string;
    hostKey: string;
}
export interface FleetConfig {
    servers: FleetServer[];
    sshPrivateKeyPath: string;
    knownHostsPath: string;
    /** The one set of SSH options for the fleet's hosts (`ssh -F <this>`). */
    sshConfigPath: string;
}

/** Where the engine lives: the cache of scripts/build-engine.sh, per pinned CLI version. */
export function engineDir(): string {
    const versions = fs.readFileSync(path.join(REPO, "tools/engine/versions.env"), "utf8");
    const version = /^PULUMI_ENGINE_VERSION=(\S+)$/m.exec(versions)?.[1];
    if (!version) {
        throw new Error("tools/engine/versions.env does not set PULUMI_ENGINE_VERSION");
    }
    const cache = process.env.SYNC_RELEASE_CACHE ?? path.join(os.homedir(), ".cache/sync-release");
    return path.join(cache, "engine", version);
}

/**
 * The PULUMI_HOME the engine runs with: the engine cache's home (scripts/build-engine.sh, which
 * registers the command stand-in there), or SYNC_RELEASE_PULUMI_HOME: a home of its own with
 * plugins built elsewhere (`SYNC_RELEASE_PLUGINS=<dir> scripts/test-all.sh engine` makes one with
 * scripts/released-plugins.sh).
 */
export function pulumiHome(): string {
    return process.env.SYNC_RELEASE_PULUMI_HOME || path.join(engineDir(), "home");
}

/** The `command` plugin binary the engine loads from a PULUMI_HOME. */
export function commandPluginPath(home: string): string {
    return path.join(home, "plugins", `resource-command-v${COMMAND_PLUGIN_VERSION}`, "pulumi-resource-command");
}

/**
 * Which `command` plugin the engine loads from that home (ambient plugins on $PATH are ignored,
 * see localStackEnv): "stand-in" when it is tools/command-standin (the marker file
 * scripts/build-engine.sh leaves beside it, or the stand-in's own description in the binary,
 * which names it whatever directory it came from), "released" for any other, "missing" when
 * none is installed.
 */
export function commandPluginKind(home: string): "released" | "stand-in" | "missing" {
    const binary = commandPluginPath(home);
    if (!fs.existsSync(binary)) {
        return "missing";
    }
    if (fs.existsSync(path.join(path.dirname(binary), "SYNC_RELEASE_STANDIN"))) {
        return "stand-in";
    }
    return fs.readFileSync(binary).includes("Stand-in for pulumi-command") ? "stand-in" : "released";
}

/** What scripts/released-plugins.sh recorded in a home it made (source dir, sha256s), if it did. */
export function pluginsRecord(home: string): string | undefined {
    const file = path.join(home, "SYNC_RELEASE_PLUGINS");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : undefined;
}

/**
 * The nodejs language host the CLI would run for a `pulumi up` of this project (it is bundled
 * with Pulumi: beside the CLI binary, else in the plugin cache of the home); undefined when there
 * is none. The engine tier's own runs never need it: the Automation API runs the program inline.
 */
export function languageHostPath(home: string): string | undefined {
    const version = path.basename(engineDir()).replace(/^v/, "");
    for (const candidate of [
        path.join(engineDir(), "bin", "pulumi-language-nodejs"),
        path.join(home, "plugins", `language-nodejs-v${version}`, "pulumi-language-nodejs"),
    ]) {
        if (fs.existsSync(candidate)) {
            return candidate;
        }
    }
    return undefined;
}

/** A fleet host address: 198.18.K.n with fleet id K in 0..15 (scripts/fleet.sh); nothing else. */
export const FLEET_ADDRESS = /^198\.18\.([0-9]|1[0-5])\.([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$/;

/** The running fleet's state directory, as scripts/fleet.sh picks it (SYNC_FLEET_STATE, SYNC_FLEET_ID). */
export function fleetStateDir(): string {
    const id = Number(process.env.SYNC_FLEET_ID ?? "0");
    return process.env.SYNC_FLEET_STATE ?? (id > 0 ? `/run/sync-fleet-${id}` : "/run/sync-fleet");
}

export function loadFleet(fleetState: string): FleetConfig {
    const file = path.join(fleetState, "config.json");
    if (!fs.existsSync(file)) {
        throw new Error(`${file} is missing: no local fleet is running (scripts/fleet.sh start 3)`);
    }
    const fleet = JSON.parse(fs.readFileSync(file, "utf8")) as FleetConfig;
    if (!fleet.sshConfigPath) {
        throw new Error(`${file} was written by an older scripts/fleet.sh: stop and start the fleet again`);
    }
    for (const server of fleet.servers) {
        // Only hosts inside the fleet's own namespaces are ever targets.
        if (!FLEET_ADDRESS.test(server.host)) {
            throw new Error(`refusing ${server.name} at ${server.host}: not a local fleet address`);
        }
    }
    return fleet;
}

/** The version a fleet host serves (GET /__version__, 3 s at most); "" when it doesn't answer 200. */
export function servedVersion(address: string): Promise<string> {
    if (!FLEET_ADDRESS.test(address)) {
        return Promise.reject(new Error(`refusing to send traffic to ${address}: not a fleet address`));
    }
    return new Promise((resolve) => {
        const request = http.get({ host: address, port: 80, path: "/__version__", timeout: 3000 }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => resolve(response.statusCode === 200 ? body.trim() : ""));
        });
        request.on("timeout", () => request.destroy());
        request.on("error", () => resolve(""));
    });
}

/** Options of a local stack. */
export interface LocalStackOptions {
    /** State directory of the running fleet (scripts/fleet.sh), default fleetStateDir(). */
    fleetState?: string;
    /** Where the stack's project copy, stack file and file backend live; default <fleetState>/stack. */
    workDir?: string;
    /** The folder with the releases; default <repo>/.artifacts. */
    artifactDir?: string;
}

/** An opened local stack and what it runs on. */
export interface LocalStack {
    stack: Stack;
    workDir: string;
    fleet: FleetConfig;
    commandPlugin: "released" | "stand-in" | "missing";
    /** The command plugin's binary in the engine's PULUMI_HOME. */
    commandPluginPath: string;
    /** scripts/released-plugins.sh's record when the home is one it made. */
    pluginsRecord?: string;
    /** The environment the CLI runs with (for running `pulumi` by hand against the same stack). */
    env: Record<string, string>;
    pulumiBinary: string;
}

/**
 * The local stack file for a fleet: the checkout's Pulumi.local.yaml with the fleet's servers
 * and an absolute artifact folder. Secrets are set through the CLI afterwards (encrypted).
 */
export function renderLocalStackFile(checkoutStackFile: string, fleet: FleetConfig, artifactDir: string): string {
    const stackFile = yaml.load(checkoutStackFile) as { config: Record<string, unknown> };
    const config = {
        ...stackFile.config,
        "sync:artifactDir": artifactDir,
        "sync:servers": fleet.servers.map((s) => ({
            name: s.name,
            host: s.host,
            port: s.port,
            user: s.user,
            hostKey: s.hostKey,
        })),
    };
    return yaml.dump({ config }, { lineWidth: 200, quotingType: '"' });
}

/** The demo's own secret settings (config paths → values) for a new local stack: made once per stack, never printed. */
export function demoIniSecrets(): Record<string, string> {
    const secret = crypto.randomBytes(24).toString("hex");
    return {
        "sync:iniSecrets.sync.secret_key": secret,
        "sync:iniSecrets.sync.database_url": `sqlite:////var/sync/demo-${secret.slice(0, 8)}.db`,
    };
}

/**
 * The environment the engine's CLI runs with against the local stack in <workDir>. Plugins come
 * from PULUMI_HOME only (PULUMI_IGNORE_AMBIENT_PLUGINS: a pulumi-resource-command on $PATH would
 * otherwise win over it), so the plugin the runner names is the one that ran.
 */
export function localStackEnv(workDir: string): Record<string, string> {
    return {
        PULUMI_HOME: pulumiHome(),
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        PULUMI_BACKEND_URL: `file://${path.join(workDir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    };
}

/**
 * Open (creating on first use) the local stack for the running fleet. The checkout is never
 * written: the project file and the stack file are copied into the work directory, and the
 * program runs with that directory as its working directory, as under `pulumi up`.
 */
export async function openLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
    const fleetState = options.fleetState ?? fleetStateDir();
    const fleet = loadFleet(fleetState);
    const workDir = options.workDir ?? path.join(fleetState, "stack");
    const engine = engineDir();
    const pulumiBinary = path.join(engine, "bin", "pulumi");
    if (!fs.existsSync(pulumiBinary)) {
        throw new Error(`${pulumiBinary} is missing: run scripts/build-engine.sh`);
    }
    const fresh = !fs.existsSync(path.join(workDir, "Pulumi.yaml"));
    if (fresh) {
        fs.mkdirSync(path.join(workDir, "state"), { recursive: true, mode: 0o700 });
        fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
        const artifactDir = options.artifactDir ?? path.join(REPO, ".artifacts");
        fs.writeFileSync(
            path.join(workDir, `Pulumi.${STACK_NAME}.yaml`),
            renderLocalStackFile(fs.readFileSync(path.join(REPO, "Pulumi.local.yaml"), "utf8"), fleet, artifactDir),
        );
    }
    const env = localStackEnv(workDir);
    const pulumiHome = env.PULUMI_HOME;
    const pulumiCommand = await PulumiCommand.get({ root: engine, skipVersionCheck: true });
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: STACK_NAME, projectName: "sync", program: runProgram(workDir) },
        { workDir, pulumiHome, pulumiCommand, envVars: env, secretsProvider: "passphrase" },
    );
    if (fresh) {
        // Secrets go to the CLI on stdin, never as arguments (a process list would show those;
        // the Automation API's setConfig passes the value as one).
        const setSecret = (key: string, value: string): void => {
            const result = spawnSync(
                pulumiBinary,
                ["config", "set", "--secret", "--path", key, "--stack", STACK_NAME, "--non-interactive"],
                { cwd: workDir, env: { ...process.env, ...env }, input: value, encoding: "utf8" },
            );
            if (result.status !== 0) {
                throw new Error(`pulumi config set --secret ${key} failed: ${result.stderr}`);
            }
        };
        setSecret("sync:sshPrivateKey", fs.readFileSync(fleet.sshPrivateKeyPath, "utf8"));
        // The demo's own secret settings, made once per stack and never printed.
        for (const [key, value] of Object.entries(demoIniSecrets())) {
            setSecret(key, value);
        }
    }
    return {
        stack,
        workDir,
        fleet,
        commandPlugin: commandPluginKind(pulumiHome),
        commandPluginPath: commandPluginPath(pulumiHome),
        pluginsRecord: pluginsRecord(pulumiHome),
        env,
        pulumiBinary,
    };
}

/** gRPC's status code CANCELLED (@grpc/grpc-js status.CANCELLED). */
const GRPC_CANCELLED = 1;

/**
 * The program, run inline in this process with the work directory as its cwd. A RunError (a config
 * or artifact error, raised before any resource) is logged here, once, and the run ends with a
 * line that points at it. Thrown as it is, the Automation API's inline server prints it twice (its
 * rejection handler logs it, then the run's own error repeats it), where the nodejs language host
 * prints it once. The error thrown instead carries gRPC's CANCELLED code (1), which that server
 * reads as "already reported": it ends the run failed, with "One or more errors occurred: <its
 * message>". A failed run declares nothing more, so the engine deletes nothing.
 */
function runProgram(workDir: string): () => Promise<Record<string, unknown>> {
    return async () => {
        process.chdir(workDir);
        try {
            // Loaded here, not at the top: the program declares resources when its module runs.
            return (await import(path.join(REPO, "index"))) as Record<string, unknown>;
        } catch (error) {
            if (pulumi.RunError.isInstance(error)) {
                await pulumi.log.error(error.message);
                throw Object.assign(new Error("the program stopped on the error above; nothing was changed"), {
                    code: GRPC_CANCELLED,
                });
            }
            throw error;
        }
    };
}
