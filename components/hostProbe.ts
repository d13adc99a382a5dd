// The reachability probe that runs on the deployer before a host's remote steps
// (components/local/reach.sh, run by a `command:local:Command`). Pure rendering.
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "./remoteCommand";

/** Seconds a probe may take: an SSH login and `true`, with ssh's own connect bound inside it. */
export const PROBE_SECONDS = 30;

const PROBE_SCRIPT = path.join(__dirname, "local", "reach.sh");
const KEY_END = "SYNC_REACH_KEY";

let script: string | undefined;

/** Where a probe connects, as the host's remote steps do. */
export interface ProbeTarget {
    /** The server's name in sync:servers (messages only). */
    server: string;
    /** Address. */
    host: string;
    /** SSH port. */
    port: number;
    /** SSH user. */
    user: string;
    /** The pinned host key, `<type> <base64>`. */
    hostKey: string;
}

/**
 * The probe's command: `bash -s sync-reach '<server>' '<host>' '<port>' '<user>' '<host key>'
 * '<seconds>'`. Nothing in it is secret.
 */
export function renderProbeCommand(target: ProbeTarget, seconds: number = PROBE_SECONDS): string {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 9999) {
        throw new Error(`probe seconds must be a whole number from 1 to 9999, got ${seconds}`);
    }
    return [
        "bash",
        "-s",
        "sync-reach",
        ...[target.server, target.host, String(target.port), target.user, target.hostKey, String(seconds)].map(
            shellQuote,
        ),
    ].join(" ");
}

/**
 * The probe's stdin: reach.sh, then the deploy key as a quoted here-document — the key never
 * reaches a command line, an environment or a file outside a private directory.
 */
export function renderProbeStdin(privateKey: string): string {
    const key = privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`;
    if (key.split("\n").includes(KEY_END)) {
        throw new Error(`the deploy key contains the line ${KEY_END}`);
    }
    script ??= fs.readFileSync(PROBE_SCRIPT, "utf8");
    return `${script}sync_reach <<'${KEY_END}'\n${key}${KEY_END}\n`;
}
