// Parse and validate the `sync:*` stack config into plain typed objects: the servers, versions,
// rollout and limits here; unknown keys (configKeys.ts), host keys (hostKeys.ts), ini settings (iniConfig.ts), EC2 settings
// (ec2Config.ts) and what only the stack file shows (stackFile.ts) beside it, one concern a file.
// Pure: no Pulumi, no file system. Every value that later reaches a remote shell is checked
// before any resource is declared.
import * as pep440 from "@renovatebot/pep440";
import { unknownConfigKeyProblems } from "./configKeys";
import { ConfigError, integerIn, isObject, leafName, showValue, unknownKeys } from "./configValues";
import { Ec2Settings, parseEc2 } from "./ec2Config";
import { hostKeyHint, hostKeyProblem, isHost, normalizeHostKey } from "./hostKeys";
import { hostPattern } from "./hostLayout";
import { IniData, parseIni } from "./iniConfig";
import { StackFile, problemKey, stackFileProblems } from "./stackFile";

export { ConfigError, showValue } from "./configValues";
export type { Ec2Settings } from "./ec2Config";
export type { IniData } from "./iniConfig";
export type { StackFile } from "./stackFile";

/** An existing Debian host reached over SSH. */
export interface ExistingServer {
    kind: "existing";
    /** Resource-safe name, `[a-z0-9-]`. */
    name: string;
    /** DNS name or IP address. */
    host: string;
    /** SSH user; root, or a user with passwordless sudo. */
    user: string;
    /** SSH port. */
    port: number;
    /** Pinned SSH host key, `<type> <base64>`. */
    hostKey: string;
    /** Release this server runs (canary override or the stack's version). */
    version: string;
}

/** A Debian 12 EC2 instance created by the stack. */
export interface Ec2Server {
    kind: "ec2";
    /** Resource-safe name, `[a-z0-9-]`. */
    name: string;
    /** SSH user of the Debian AMI (admin). */
    user: string;
    /** SSH port. */
    port: number;
    /** Instance settings. */
    ec2: Ec2Settings;
    /** Release this server runs (canary override or the stack's version). */
    version: string;
}

export type ServerSpec = ExistingServer | Ec2Server;

/** The validated stack config. */
export interface SyncConfig {
    /** The release every server runs unless overridden. */
    version: string;
    /** Local folder holding WeaveServer-<version>.tar.gz and wheelhouse/. */
    artifactDir: string;
    /** Servers in declaration order (rollout order). */
    servers: ServerSpec[];
    /** How many hosts change at once. */
    batchSize: number;
    /** How many hosts stage (upload and build) at once, at the start of a rollout. */
    stageParallel: number;
    /** Complete releases kept on each host (current and previous always kept). */
    keepReleases: number;
    /** Non-secret ini settings. */
    ini: IniData;
    /** Secret ini settings, merged over `ini` key by key. */
    iniSecrets: IniData;
    /** Whether to archive releases in S3. */
    releaseBucket: boolean;
    /** Seconds any one remote step may take before it is killed. */
    commandTimeout: number;
    /** Whether every host is read before planning (drift shows in the preview; up repairs it). */
    observe: boolean;
}

/** The raw values as read from Pulumi config (JSON-decoded where structured). */
export interface RawSyncConfig {
    version?: unknown;
    artifactDir?: unknown;
    servers?: unknown;
    rollout?: unknown;
    ini?: unknown;
    iniSecrets?: unknown;
    keepReleases?: unknown;
    releaseBucket?: unknown;
    commandTimeout?: unknown;
    observe?: unknown;
}

/**
 * Problem with a release version, or undefined when it is a normalized PEP 440 public version.
 * The charset check (the pattern install.sh checks too, from components/remote/layout.sh) comes
 * first so nothing odd even reaches the parser.
 */
export function versionProblem(key: string, value: unknown): string | undefined {
    const hint = "must be a PEP 440 public version such as 1.1.4 or 1.2rc1";
    if (typeof value === "number") {
        return `${key}: ${showValue(value)} is a YAML number, not a version (YAML reads an unquoted 1.10 as 1.1 and 2.0 as 2); quote the version in the stack file: ${leafName(key)}: "1.10"`;
    }
    if (typeof value !== "string" || !hostPattern("SYNC_VERSION_RE").test(value) || pep440.valid(value) === null) {
        return `${key}: ${showValue(value)} ${hint}`;
    }
    const normalized = pep440.clean(value);
    if (normalized !== value) {
        return `${key}: ${showValue(value)} is not in normalized form; write ${showValue(normalized)}`;
    }
    return undefined;
}

/** PEP 440 ordering (1.10 > 1.9, 1.2rc1 < 1.2). */
export function compareVersions(a: string, b: string): number {
    return pep440.compare(a, b);
}

const SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

function parseServer(
    index: number,
    value: unknown,
    defaultVersion: string,
    problems: string[],
): ServerSpec | undefined {
    const key = `sync:servers[${index}]`;
    if (!isObject(value)) {
        problems.push(
            `${key}: ${showValue(value)} must be an object { name, host, user?, port?, hostKey } or { name, ec2 }`,
        );
        return undefined;
    }
    const before = problems.length;
    const name = value.name;
    if (typeof name !== "string" || !SERVER_NAME.test(name)) {
        problems.push(
            `${key}.name: ${showValue(name)} must be 1-40 characters of [a-z0-9-], not starting or ending with -`,
        );
    }
    let version = defaultVersion;
    if (value.version !== undefined) {
        const problem = versionProblem(`${key}.version`, value.version);
        if (problem) {
            problems.push(problem);
        } else {
            version = value.version as string;
        }
    }
    const isEc2 = value.ec2 !== undefined;
    const user = value.user ?? (isEc2 ? "admin" : "root");
    if (typeof user !== "string" || !USER_NAME.test(user)) {
        problems.push(`${key}.user: ${showValue(user)} must be a Unix user name ([a-z_][a-z0-9_-]*)`);
    }
    const port = integerIn(`${key}.port`, value.port ?? 22, 1, 65535, problems);

    if (isEc2) {
        unknownKeys(key, value, ["name", "ec2", "user", "port", "version"], problems);
        const ec2 = parseEc2(`${key}.ec2`, value.ec2, problems);
        if (problems.length > before || !ec2) {
            return undefined;
        }
        return { kind: "ec2", name: name as string, user: user as string, port: port as number, ec2, version };
    }

    unknownKeys(key, value, ["name", "host", "user", "port", "hostKey", "version"], problems);
    const validHost = typeof value.host === "string" && isHost(value.host) ? value.host : undefined;
    if (validHost === undefined) {
        problems.push(`${key}.host: ${showValue(value.host)} must be a host name or IP address`);
    }
    if (value.hostKey === undefined) {
        problems.push(
            `${key}.hostKey: missing; pin the server's SSH host key: ${hostKeyHint(`${key}.hostKey`, validHost, port)}`,
        );
    } else {
        const problem = hostKeyProblem(`${key}.hostKey`, value.hostKey, validHost, port);
        if (problem) {
            problems.push(problem);
        }
    }
    if (problems.length > before) {
        return undefined;
    }
    return {
        kind: "existing",
        name: name as string,
        host: value.host as string,
        user: user as string,
        port: port as number,
        hostKey: normalizeHostKey(value.hostKey as string),
        version,
    };
}

/**
 * Validate the raw stack config. Throws one ConfigError listing every problem, each naming
 * the config key and the bad value (secret values are never shown). With the stack file the
 * values came from, also refuses what only the file shows (see stackFileProblems); with every
 * config key the program was handed, also any `sync:` key the stack does not know, first (a
 * mistyped key explains the missing value that follows it).
 */
export function parseSyncConfig(
    raw: RawSyncConfig,
    stackFile?: StackFile,
    configKeys: readonly string[] = [],
): SyncConfig {
    const keyProblems = unknownConfigKeyProblems(configKeys);
    const fileProblems = stackFile ? stackFileProblems(stackFile) : [];
    const problems: string[] = [];

    let version = "";
    if (raw.version === undefined) {
        problems.push("sync:version: missing; pin the release to roll out, e.g. pulumi config set sync:version 1.1.4");
    } else {
        const problem = versionProblem("sync:version", raw.version);
        if (problem) {
            problems.push(problem);
        } else {
            version = raw.version as string;
        }
    }

    let artifactDir = "";
    if (
        typeof raw.artifactDir !== "string" ||
        raw.artifactDir.length === 0 ||
        raw.artifactDir.length > 4096 ||
        /[\0\r\n]/.test(raw.artifactDir)
    ) {
        problems.push(
            `sync:artifactDir: ${showValue(raw.artifactDir)} must be the path of the folder holding WeaveServer-<version>.tar.gz`,
        );
    } else {
        artifactDir = raw.artifactDir;
    }

    const servers: ServerSpec[] = [];
    if (!Array.isArray(raw.servers) || raw.servers.length === 0) {
        problems.push(`sync:servers: ${showValue(raw.servers)} must be a non-empty list of servers`);
    } else if (raw.servers.length > 2000) {
        problems.push(`sync:servers: ${raw.servers.length} servers is more than the 2000 one stack may hold`);
    } else {
        const seen = new Set<string>();
        raw.servers.forEach((entry, index) => {
            const server = parseServer(index, entry, version, problems);
            if (!server) {
                return;
            }
            if (seen.has(server.name)) {
                problems.push(`sync:servers[${index}].name: ${showValue(server.name)} is used by another server`);
                return;
            }
            seen.add(server.name);
            servers.push(server);
        });
    }

    let batchSize = 1;
    let stageParallel = DEFAULT_STAGE_PARALLEL;
    if (raw.rollout !== undefined) {
        if (!isObject(raw.rollout)) {
            problems.push(`sync:rollout: ${showValue(raw.rollout)} must be an object { batchSize, stageParallel? }`);
        } else {
            unknownKeys("sync:rollout", raw.rollout, ["batchSize", "stageParallel"], problems);
            batchSize = integerIn("sync:rollout.batchSize", raw.rollout.batchSize ?? 1, 1, 1000, problems) ?? 1;
            stageParallel =
                integerIn(
                    "sync:rollout.stageParallel",
                    raw.rollout.stageParallel ?? DEFAULT_STAGE_PARALLEL,
                    1,
                    256,
                    problems,
                ) ?? DEFAULT_STAGE_PARALLEL;
        }
    }

    const keepReleases = integerIn("sync:keepReleases", raw.keepReleases ?? 5, 2, 100, problems) ?? 5;
    const commandTimeout = integerIn("sync:commandTimeout", raw.commandTimeout ?? 600, 10, 7200, problems) ?? 600;

    const releaseBucket = booleanOf("sync:releaseBucket", raw.releaseBucket, true, problems);
    const observe = booleanOf("sync:observe", raw.observe, true, problems);

    const ini = parseIni("sync:ini", raw.ini, false, problems);
    const iniSecrets = parseIni("sync:iniSecrets", raw.iniSecrets, true, problems);

    // What the file shows about a key says more than what its value looks like after YAML parsing.
    const fromFile = new Set(fileProblems.map(problemKey));
    const all = [...keyProblems, ...fileProblems, ...problems.filter((problem) => !fromFile.has(problemKey(problem)))];
    if (all.length > 0) {
        throw new ConfigError(all);
    }
    return {
        version,
        artifactDir,
        servers,
        batchSize,
        stageParallel,
        keepReleases,
        ini,
        iniSecrets,
        releaseBucket,
        commandTimeout,
        observe,
    };
}

/** A true/false key, `fallback` when unset. */
function booleanOf(key: string, value: unknown, fallback: boolean, problems: string[]): boolean {
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "boolean") {
        problems.push(`${key}: ${showValue(value)} must be true or false`);
        return fallback;
    }
    return value;
}

/**
 * Hosts that stage at once unless sync:rollout.stageParallel says otherwise: a stage is an upload
 * (network-bound on the deployer) and a build (CPU-bound on each host), so 16 keeps the deployer's
 * uplink and SSH sessions busy without one slow host holding up the rest (README "Rollout").
 */
export const DEFAULT_STAGE_PARALLEL = 16;

/** Split servers into rollout batches of `batchSize`, keeping declaration order. */
export function rolloutBatches<T>(servers: T[], batchSize: number): T[][] {
    const batches: T[][] = [];
    for (let i = 0; i < servers.length; i += batchSize) {
        batches.push(servers.slice(i, i + batchSize));
    }
    return batches;
}

/** The distinct versions in use by the fleet, in PEP 440 order. */
export function versionsInUse(config: SyncConfig): string[] {
    return [...new Set(config.servers.map((s) => s.version))].sort(compareVersions);
}
