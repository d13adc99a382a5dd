// Parse and validate the `sync:*` stack config into plain typed objects.
// Pure: no Pulumi, no file system. Every value that later reaches a remote shell
// is checked here, before any resource is declared.
import * as pep440 from "@renovatebot/pep440";
import * as yaml from "js-yaml";
import { hostPattern } from "./hostLayout";

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

/** Settings of an EC2 instance the stack creates. */
export interface Ec2Settings {
    /** Instance type, e.g. t3.small. */
    instanceType: string;
    /** Subnet to launch into; the default VPC's default subnet when unset. */
    subnetId?: string;
    /** CIDR blocks allowed to reach SSH (22). */
    sshCidrs: string[];
    /** CIDR blocks allowed to reach HTTP (80). */
    httpCidrs: string[];
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

/** sections → keys → values, exactly as the app's configparser must read them. */
export type IniData = Record<string, Record<string, string>>;

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
}

/** Every problem found in the stack config, one message each. */
export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid stack config:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

const MAX_SHOWN = 40;

/** A bounded, unambiguous rendering of a bad value for an error message. */
export function showValue(value: unknown): string {
    if (value === undefined) {
        return "undefined";
    }
    const json = JSON.stringify(value) ?? String(value);
    if (json.length <= MAX_SHOWN) {
        return json;
    }
    return `${json.slice(0, MAX_SHOWN)}… (${json.length} chars)`;
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

/** The last part of a config key path, as it is written in the stack file (`sync:version`, `version`). */
function leafName(key: string): string {
    return key.slice(key.lastIndexOf(".") + 1);
}

/** PEP 440 ordering (1.10 > 1.9, 1.2rc1 < 1.2). */
export function compareVersions(a: string, b: string): number {
    return pep440.compare(a, b);
}

const SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const HOST_NAME =
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^(?=.*:)[0-9A-Fa-f:.]{2,45}$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
/** Host key types the provider verifies with a modern signature; ssh-rsa is refused (see hostKeyProblem). */
const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const CIDR4 = /^((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))\/(\d|[12]\d|3[0-2])$/;
const SECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const INI_KEY = /^[a-z0-9_][a-z0-9_.-]{0,63}$/;
const MAX_INI_VALUE = 64 * 1024;

/** True when the text is a host name, IPv4 or IPv6 address. */
export function isHost(value: string): boolean {
    return IPV4.test(value) || IPV6.test(value) || (HOST_NAME.test(value) && !/^[0-9.]+$/.test(value));
}

/** The command that pins a host's ed25519 key: what ssh-keyscan prints is stored, and accepted, as is. */
export function hostKeyHint(key: string, host = "<host>", port = 22): string {
    const scan = port === 22 ? `ssh-keyscan -t ed25519 ${host}` : `ssh-keyscan -p ${port} -t ed25519 ${host}`;
    return `pulumi config set --path '${key}' "$(${scan})"`;
}

/** A host key line split into its parts: an optional known_hosts host field, the type, the base64 key. */
interface HostKeyLine {
    type: string;
    base64: string;
}

const KEY_TYPE_LIKE = /^(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)$/;
const KNOWN_HOSTS_HOST = /^[A-Za-z0-9.:[\],_*?!|=+/-]{1,1024}$/;

/**
 * `<type> <base64> [comment]`, or the `<host> <type> <base64>` line ssh-keyscan prints (its host
 * field, which may be `[host]:port` or a hashed known_hosts entry, is dropped). undefined when the
 * text is neither.
 */
export function splitHostKeyLine(value: string): HostKeyLine | undefined {
    const fields = value.trim().split(/[ \t]+/);
    if (fields.length >= 3 && !KEY_TYPE_LIKE.test(fields[0]) && KEY_TYPE_LIKE.test(fields[1])) {
        if (!KNOWN_HOSTS_HOST.test(fields[0])) {
            return undefined;
        }
        fields.shift();
    }
    const [type, base64, ...comment] = fields;
    if (
        type === undefined ||
        base64 === undefined ||
        !/^[a-z0-9@.-]{1,64}$/.test(type) ||
        !/^[A-Za-z0-9+/]{16,8192}={0,3}$/.test(base64) ||
        comment.join(" ").length > 200 ||
        comment.some((word) => !/^[\x21-\x7e]+$/.test(word))
    ) {
        return undefined;
    }
    return { type, base64 };
}

/**
 * Problem with a pinned SSH host key, or undefined. The base64 blob must decode to a key of
 * the declared type, which catches truncated or pasted-wrong keys before a connection is tried.
 * ssh-rsa is refused: pinned, it makes the provider offer only SHA-1 `ssh-rsa` signatures, which
 * Debian 12's sshd no longer accepts, so every connection would fail.
 */
export function hostKeyProblem(key: string, value: unknown, host?: string, port?: number): string | undefined {
    const hint = `must be an SSH public host key line such as "ssh-ed25519 AAAA…"; pin it with: ${hostKeyHint(key, host, port)}`;
    if (typeof value !== "string") {
        return `${key}: ${showValue(value)} ${hint}`;
    }
    const line = splitHostKeyLine(value);
    if (line?.type === "ssh-rsa") {
        return `${key}: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): ${hostKeyHint(key, host, port)}`;
    }
    if (!line || !HOST_KEY_TYPES.includes(line.type)) {
        return `${key}: ${showValue(value)} ${hint}`;
    }
    if (!isPublicKeyBlob(line.type, Buffer.from(line.base64, "base64"))) {
        return `${key}: ${showValue(value)} is not a valid ${line.type} key (the base64 does not decode to one)`;
    }
    return undefined;
}

/** The SSH strings a public key blob is made of, or undefined when it doesn't split into them exactly. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
    const fields: Buffer[] = [];
    for (let offset = 0; offset < blob.length; ) {
        if (offset + 4 > blob.length) {
            return undefined;
        }
        const length = blob.readUInt32BE(offset);
        if (offset + 4 + length > blob.length) {
            return undefined;
        }
        fields.push(blob.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
    }
    return fields;
}

const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** True when the blob is a whole public key of the type (a truncated or mispasted one is not). */
function isPublicKeyBlob(type: string, blob: Buffer): boolean {
    const fields = sshStrings(blob);
    if (!fields || fields.length === 0 || fields[0].toString("latin1") !== type) {
        return false;
    }
    if (type === "ssh-ed25519") {
        return fields.length === 2 && fields[1].length === 32;
    }
    const curve = type.replace(/^ecdsa-sha2-/, "");
    return (
        fields.length === 3 &&
        fields[1].toString("latin1") === curve &&
        fields[2].length === ECDSA_POINT_BYTES[curve] &&
        fields[2][0] === 4
    );
}

/** The pinned form of a valid host key line: `<type> <base64>`, without host field or comment. */
export function normalizeHostKey(value: string): string {
    const line = splitHostKeyLine(value);
    if (!line) {
        throw new Error("normalizeHostKey: not a host key line (validate it with hostKeyProblem first)");
    }
    return `${line.type} ${line.base64}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unknownKeys(key: string, value: Record<string, unknown>, allowed: string[], problems: string[]): void {
    for (const field of Object.keys(value)) {
        if (!allowed.includes(field)) {
            problems.push(`${key}.${field}: unknown setting (allowed: ${allowed.join(", ")})`);
        }
    }
}

function integerIn(key: string, value: unknown, min: number, max: number, problems: string[]): number | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        problems.push(`${key}: ${showValue(value)} must be an integer from ${min} to ${max}`);
        return undefined;
    }
    return value;
}

/** Problem with one ini value as configparser(interpolation=None) would read it, or undefined. */
export function iniValueProblem(key: string, value: unknown, secret: boolean): string | undefined {
    const shown = secret ? "(value not shown: secret)" : showValue(value);
    if (typeof value === "number" || typeof value === "boolean") {
        return undefined;
    }
    if (typeof value !== "string") {
        return `${key}: ${shown} must be a string, number or boolean`;
    }
    if (value.length > MAX_INI_VALUE) {
        return `${key}: ${shown} is longer than ${MAX_INI_VALUE} characters`;
    }
    if (/[\r\n]/.test(value)) {
        return `${key}: ${shown} contains a line break, which configparser would read as a continuation line`;
    }
    if (value !== value.trim()) {
        return `${key}: ${shown} has leading or trailing whitespace, which configparser strips`;
    }
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(value)) {
        return `${key}: ${shown} contains a control character`;
    }
    return undefined;
}

function parseIni(configKey: string, value: unknown, secret: boolean, problems: string[]): IniData {
    const result: IniData = {};
    if (value === undefined || value === null) {
        return result;
    }
    if (!isObject(value)) {
        problems.push(
            `${configKey}: ${secret ? "(value not shown: secret)" : showValue(value)} must be an object of sections, each an object of key: value`,
        );
        return result;
    }
    for (const [section, entries] of Object.entries(value)) {
        const sectionKey = `${configKey}.${section}`;
        if (section === "__proto__") {
            problems.push(`${configKey}: section name "__proto__" is not allowed (JavaScript would drop it)`);
            continue;
        }
        if (!SECTION_NAME.test(section) || section === "DEFAULT") {
            problems.push(
                `${configKey}: section name ${showValue(section)} must match [A-Za-z0-9_][A-Za-z0-9_.-]* and not be DEFAULT`,
            );
            continue;
        }
        if (!isObject(entries)) {
            problems.push(`${sectionKey}: must be an object of key: value`);
            continue;
        }
        result[section] = {};
        for (const [name, raw] of Object.entries(entries)) {
            if (name === "__proto__") {
                problems.push(`${sectionKey}: key "__proto__" is not allowed (JavaScript would drop it)`);
                continue;
            }
            if (!INI_KEY.test(name)) {
                // configparser lower-cases keys and splits on = and :, so only plain lower-case keys survive a round trip.
                problems.push(
                    `${sectionKey}: key ${showValue(name)} must match [a-z0-9_][a-z0-9_.-]* (configparser lower-cases keys)`,
                );
                continue;
            }
            const problem = iniValueProblem(`${sectionKey}.${name}`, raw, secret);
            if (problem) {
                problems.push(problem);
                continue;
            }
            result[section][name] = String(raw);
        }
    }
    return result;
}

function parseEc2(key: string, value: unknown, problems: string[]): Ec2Settings | undefined {
    if (!isObject(value)) {
        problems.push(
            `${key}: ${showValue(value)} must be an object { instanceType, subnetId?, sshCidrs, httpCidrs? }`,
        );
        return undefined;
    }
    unknownKeys(key, value, ["instanceType", "subnetId", "sshCidrs", "httpCidrs"], problems);
    const instanceType = value.instanceType ?? "t3.small";
    if (typeof instanceType !== "string" || !INSTANCE_TYPE.test(instanceType)) {
        problems.push(`${key}.instanceType: ${showValue(instanceType)} must be an EC2 instance type such as t3.small`);
    }
    if (value.subnetId !== undefined && (typeof value.subnetId !== "string" || !SUBNET_ID.test(value.subnetId))) {
        problems.push(
            `${key}.subnetId: ${showValue(value.subnetId)} must be a subnet id such as subnet-0123456789abcdef0`,
        );
    }
    const cidrs = (field: string, fallback: unknown): string[] => {
        const list = value[field] ?? fallback;
        if (!Array.isArray(list) || list.length === 0 || list.some((c) => typeof c !== "string" || !CIDR4.test(c))) {
            problems.push(
                `${key}.${field}: ${showValue(list)} must be a non-empty list of IPv4 CIDR blocks such as 203.0.113.0/24`,
            );
            return [];
        }
        return list as string[];
    };
    const sshCidrs = cidrs("sshCidrs", undefined);
    const httpCidrs = cidrs("httpCidrs", ["0.0.0.0/0"]);
    return {
        instanceType: String(instanceType),
        subnetId: value.subnetId as string | undefined,
        sshCidrs,
        httpCidrs,
    };
}

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

/** The stack file the CLI read the config from (Pulumi.<stack>.yaml): its name, for messages, and its text. */
export interface StackFile {
    name: string;
    text: string;
}

/** A secure config value as the stack file holds it: `{ secure: <ciphertext> }`. */
function isSecureValue(value: unknown): boolean {
    return isObject(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

/**
 * Problems the program cannot see in the values the CLI hands it, read from the stack file itself:
 * - a version the file holds as a YAML number: `sync:version: 1.10` reaches the program as "1.1",
 *   a valid but different release; refused, with the text to write instead;
 * - a value under `sync:iniSecrets` stored in plaintext (the CLI can only insist on encryption
 *   for a required key, and sync:iniSecrets is optional). No value is ever shown.
 * Parses with js-yaml twice: the core schema says what type a scalar has, the failsafe schema
 * gives its source text (1.10, not 1.1). A file YAML can't parse is left to the CLI, which read it first.
 */
export function stackFileProblems(file: StackFile): string[] {
    let typed: unknown;
    let source: unknown;
    try {
        typed = yaml.load(file.text);
        source = yaml.load(file.text, { schema: yaml.FAILSAFE_SCHEMA });
    } catch {
        return [];
    }
    if (!isObject(typed) || !isObject(typed.config) || !isObject(source) || !isObject(source.config)) {
        return [];
    }
    const config = typed.config;
    const sourceConfig = source.config;
    const problems: string[] = [];

    const notAString = (key: string, value: unknown, text: unknown): void => {
        if (typeof value === "string" || value === undefined || value === null || isSecureValue(value)) {
            return;
        }
        const written = typeof text === "string" ? text : showValue(value);
        if (typeof value === "number") {
            problems.push(
                `${key}: ${written} in ${file.name} is a YAML number, which reaches the program as ${showValue(String(value))}; quote it: ${leafName(key)}: "${written}"`,
            );
        } else {
            problems.push(
                `${key}: ${written} in ${file.name} is not a string; quote it: ${leafName(key)}: "${written}"`,
            );
        }
    };

    notAString("sync:version", config["sync:version"], sourceConfig["sync:version"]);
    const servers = config["sync:servers"];
    const sourceServers = sourceConfig["sync:servers"];
    if (Array.isArray(servers) && Array.isArray(sourceServers)) {
        servers.forEach((server, index) => {
            const sourceServer: unknown = sourceServers[index];
            if (isObject(server) && isObject(sourceServer)) {
                notAString(`sync:servers[${index}].version`, server.version, sourceServer.version);
            }
        });
    }

    const plaintext = (key: string, value: unknown): void => {
        if (value === undefined || value === null || isSecureValue(value)) {
            return;
        }
        if (isObject(value)) {
            for (const [name, entry] of Object.entries(value)) {
                plaintext(`${key}.${name}`, entry);
            }
            return;
        }
        problems.push(
            `${key}: stored in plaintext in ${file.name} (value not shown); remove it from the file and set it encrypted: pulumi config set --secret --path '${key}' <value>`,
        );
    };
    plaintext("sync:iniSecrets", config["sync:iniSecrets"]);
    return problems;
}

/** The config key a problem message starts with (`sync:servers[0].version` of `sync:servers[0].version: …`). */
function problemKey(problem: string): string {
    return problem.slice(0, problem.indexOf(": "));
}

/**
 * Validate the raw stack config. Throws one ConfigError listing every problem, each naming
 * the config key and the bad value (secret values are never shown). With the stack file the
 * values came from, also refuses what only the file shows (see stackFileProblems).
 */
export function parseSyncConfig(raw: RawSyncConfig, stackFile?: StackFile): SyncConfig {
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

    let releaseBucket = true;
    if (raw.releaseBucket !== undefined) {
        if (typeof raw.releaseBucket !== "boolean") {
            problems.push(`sync:releaseBucket: ${showValue(raw.releaseBucket)} must be true or false`);
        } else {
            releaseBucket = raw.releaseBucket;
        }
    }

    const ini = parseIni("sync:ini", raw.ini, false, problems);
    const iniSecrets = parseIni("sync:iniSecrets", raw.iniSecrets, true, problems);

    // What the file shows about a key says more than what its value looks like after YAML parsing.
    const fromFile = new Set(fileProblems.map(problemKey));
    const all = [...fileProblems, ...problems.filter((problem) => !fromFile.has(problemKey(problem)))];
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
    };
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
