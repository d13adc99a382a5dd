// A step on one host, as the deployer runs it: the `command:local:Command` line and stdin that run
// components/local/on-host.sh (the deployer's OpenSSH, bounded; see that script), and the readable
// values a preview shows for it. Pure rendering.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "./shellQuote";

const ON_HOST_SCRIPT = path.join(__dirname, "local", "on-host.sh");
const KEY_END = "SYNC_ON_HOST_KEY";
const STEP_NAME = /^[a-z]+$/;
const SERVER_NAME = /^[a-z0-9-]{1,63}$/;

/** Seconds the provider gives a step beyond the host's own `timeout`: the login (≤ 30 s), the
 * remote kill's grace (10 s) and the report. A backstop: the step bounds itself before it. */
export const STEP_DEADLINE_MARGIN_SECONDS = 60;

let script: string | undefined;

/** Where a step connects. */
export interface HostTarget {
    /** The server's name in sync:servers. */
    server: string;
    /** SSH user. */
    user: string;
    /** Address. */
    host: string;
    /** SSH port. */
    port: number;
    /** The pinned host key, `<type> <base64>`. */
    hostKey: string;
}

/** What the remote command reads on its stdin. */
export type StepInput =
    | { kind: "none" }
    /** The release bundle the program wrote, found by its sha256 in the deployer's bundle folder. */
    | { kind: "bundle"; sha256: string }
    /** Bytes (the settings stream, the observation script), carried base64 inside the step's secret stdin. */
    | { kind: "bytes"; data: string | Buffer };

/** The step's command: `bash -s 'sync-<step>' '<server>'`. Constant for a step of a server. */
export function renderStepCommand(step: string, server: string): string {
    if (!STEP_NAME.test(step) || !SERVER_NAME.test(server)) {
        throw new Error(`bad step ${JSON.stringify(step)} or server ${JSON.stringify(server)}`);
    }
    return ["bash", "-s", shellQuote(`sync-${step}`), shellQuote(server)].join(" ");
}

function inputWord(input: StepInput): string {
    switch (input.kind) {
        case "none":
            return "none";
        case "bundle":
            if (!/^[0-9a-f]{64}$/.test(input.sha256)) {
                throw new Error(`bad bundle sha256 ${JSON.stringify(input.sha256)}`);
            }
            return `bundle:${input.sha256}`;
        case "bytes":
            return `base64:${(typeof input.data === "string" ? Buffer.from(input.data, "utf8") : input.data).toString("base64")}`;
    }
}

/**
 * The step's stdin: on-host.sh, the call with every value a quoted word, then the deploy key as a
 * quoted here-document — the key reaches no command line, environment or named file. Secret.
 */
export function renderStepStdin(
    target: HostTarget,
    input: StepInput,
    remoteCommand: string,
    privateKey: string,
): string {
    const key = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
    if (key.split("\n").includes(KEY_END)) {
        throw new Error(`the deploy key contains the line ${KEY_END}`);
    }
    script ??= fs.readFileSync(ON_HOST_SCRIPT, "utf8");
    const call = [
        "on_host",
        ...[target.user, target.host, String(target.port), target.hostKey, inputWord(input), remoteCommand].map(
            shellQuote,
        ),
    ].join(" ");
    return `${script}${call} <<'${KEY_END}'\n${key}${KEY_END}\n`;
}

/** `SHA256:<base64>` of a `<type> <base64>` key: what `ssh-keygen -l` prints and Ops compare. */
export function keyFingerprint(key: string): string {
    const blob = Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64");
    return `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** How a preview names a host a step connects to: `root@198.18.0.11:22 (ssh-ed25519 SHA256:…)`. */
export function describeHost(target: HostTarget): string {
    return `${target.user}@${target.host}:${target.port} (${target.hostKey.split(" ")[0]} ${keyFingerprint(target.hostKey)})`;
}

/** How a preview names a release: `1.1.5 (sha256 c3d9e0f1)`. */
export function describeRelease(version: string, sdistSha256: string): string {
    return `${version} (sha256 ${sdistSha256.slice(0, 8)})`;
}

/** The provider's deadline for a step whose host command is bounded by `timeoutSeconds`. */
export function stepDeadline(timeoutSeconds: number): string {
    return `${timeoutSeconds + STEP_DEADLINE_MARGIN_SECONDS}s`;
}
