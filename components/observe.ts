// Look before planning: every host read, read-only, before the program declares its steps, so a
// host that drifted from what the stack last put there (a release switched or deleted by hand, the
// settings edited) changes that host's plan, and `up` repairs it. The host side is
// components/local/observe-host.sh, sent over the deployer's own ssh (on-host.sh: the host key
// pinned, login and silence bounded); the whole read of a host is bounded here too, and a bounded
// number of hosts are read at once. Parsing and the drift rules are pure functions.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { HostTarget, renderStepCommand, renderStepStdin } from "./hostStep";
import { shellQuote } from "./shellQuote";

const OBSERVE_SCRIPT = path.join(__dirname, "local", "observe-host.sh");

/** Seconds the host's side of an observation may take (it reads a few files and asks the app once). */
export const OBSERVE_HOST_SECONDS = 20;
/** Seconds one host's observation may take in all: the login (ssh's own bound is 10 s to the banner) and the read. */
export const OBSERVE_SECONDS = 30;
/** Hosts read at once. */
export const OBSERVE_PARALLEL = 16;

/** What the stack wants a host to run, which the observation checks it against. */
export interface ObservationTarget extends HostTarget {
    /** The release the server should serve. */
    version: string;
    /** Its sdist's sha256. */
    sdistSha256: string;
    /** The host scripts' hash this stack installs. */
    scriptsHash: string;
}

/** What a host holds and serves (components/local/observe-host.sh). */
export interface HostObservation {
    current: string;
    sealed: "yes" | "no" | "gone";
    deployed: string;
    switching: "yes" | "no";
    serves: string;
    staged: "yes" | "no";
    scripts: "yes" | "no";
    ini: "applied" | "changed" | "missing" | "none";
}

/** One host's observation: what it held, or why it could not be read. */
export interface ObservationResult {
    server: string;
    /** When it was read (ISO 8601, UTC, seconds). */
    at: string;
    observed?: HostObservation;
    /** Why the host could not be observed (one line). */
    error?: string;
}

/** Why each of a host's steps must run although the stack's inputs did not change ([] each: in sync). */
export interface Drift {
    stage: string[];
    ini: string[];
    activate: string[];
}

const VERSION_WORD = /^[0-9][0-9a-z.]{0,63}$/;
const FIELDS: { [K in keyof HostObservation]: RegExp } = {
    current: /^(none|bad|[0-9][0-9a-z.]{0,63})$/,
    sealed: /^(yes|no|gone)$/,
    deployed: /^(none|[0-9][0-9a-z.]{0,63})$/,
    switching: /^(yes|no)$/,
    serves: /^(none|other|[0-9][0-9a-z.]{0,63})$/,
    staged: /^(yes|no)$/,
    scripts: /^(yes|no)$/,
    ini: /^(applied|changed|missing|none)$/,
};

/** The observation a host printed; throws on anything else (a host's answer is never trusted as text). */
export function parseObservation(stdout: string): HostObservation {
    const values: Record<string, string> = {};
    for (const line of stdout.split("\n").filter((l) => l !== "")) {
        const match = /^([a-z]+)=(.*)$/.exec(line);
        const key = match?.[1] as keyof HostObservation | undefined;
        if (!match || !key || !(key in FIELDS) || !FIELDS[key].test(match[2]) || key in values) {
            throw new Error(`unexpected observation line ${JSON.stringify(line.slice(0, 80))}`);
        }
        values[key] = match[2];
    }
    const missing = Object.keys(FIELDS).filter((key) => !(key in values));
    if (missing.length > 0) {
        throw new Error(`the observation lacks ${missing.join(", ")}`);
    }
    return values as unknown as HostObservation;
}

/**
 * Which steps of a host must run because the host is not what the stack last put there. The host
 * keeps the stack's own record of its last finished deploy (`deployed`) and of the settings last
 * applied: a host whose release matches that record and whose settings match theirs is in sync
 * whatever the config says now (a config change plans as usual, from the state). Drift is:
 * `current` moved away from the last deploy, or the app serving something else; a cut-off switch;
 * the current release not sealed or gone; the release the stack wants while it is the one
 * deployed no longer built; the stack's host scripts missing; the settings edited or removed.
 */
export function driftOf(observed: HostObservation, target: { version: string; scriptsHash: string }): Drift {
    const drift: Drift = { stage: [], ini: [], activate: [] };
    const { current, deployed, serves } = observed;
    if (current === "none") {
        if (deployed !== "none") {
            drift.activate.push(`nothing is current, the last deploy finished ${deployed}`);
        }
    } else if (current === "bad") {
        drift.activate.push("current points outside the releases");
    } else {
        if (current !== deployed) {
            drift.activate.push(`current ${current}, serves ${serves}, expected ${deployed} (the last deploy)`);
        }
        if (observed.sealed === "gone") {
            drift.activate.push(`release ${current} is gone from the host`);
        } else if (observed.sealed === "no") {
            drift.activate.push(`release ${current} is not sealed and recorded by root`);
        }
        if (serves !== current && current === deployed) {
            drift.activate.push(
                serves === "none" ? "the app does not answer" : `serves ${serves}, expected ${current}`,
            );
        }
    }
    if (observed.switching === "yes") {
        drift.activate.push("a switch was cut off before its health check");
    }
    if (observed.staged === "no" && deployed === target.version) {
        drift.stage.push(`release ${target.version} is no longer built on the host`);
    }
    if (observed.scripts === "no" && deployed !== "none") {
        drift.stage.push(`host scripts ${target.scriptsHash} are missing or damaged`);
    }
    if (observed.ini === "changed") {
        drift.ini.push("/etc/sync.ini changed on the host");
    } else if (observed.ini === "missing") {
        drift.ini.push("/etc/sync.ini is missing");
    }
    // A release rebuilt must be switched to again, and scripts put back must be the ones run.
    if (drift.stage.length > 0 && drift.activate.length === 0 && observed.staged === "no") {
        drift.activate.push(`release ${target.version} must be activated again once rebuilt`);
    }
    return drift;
}

/** What a preview shows for a step that must run because of drift: the reasons and when they were seen. */
export function driftNote(reasons: string[], at: string): string {
    return `${reasons.join("; ")} (observed ${at})`;
}

/** The version a host was seen serving, for the stack output ("" when it answered nothing usable). */
export function observedServes(observed: HostObservation): string {
    return VERSION_WORD.test(observed.serves) ? observed.serves : "";
}

/** The host's side: observe-host.sh, then its call, on the remote bash's stdin. */
export function renderObserveScript(target: ObservationTarget): string {
    const script = fs.readFileSync(OBSERVE_SCRIPT, "utf8");
    const call = ["observe", target.version, target.sdistSha256, target.scriptsHash].map((word, i) =>
        i === 0 ? word : shellQuote(word),
    );
    return `${script}${call.join(" ")}\n`;
}

/** The remote command that runs it as root, bounded on the host. */
export function renderObserveCommand(user: string): string {
    return [...(user === "root" ? [] : ["sudo", "-n"]), "timeout", String(OBSERVE_HOST_SECONDS), "bash", "-s"].join(
        " ",
    );
}

/** How one host is read: a command and its stdin (the key inside), as the steps run theirs. */
export type HostReader = (
    command: string,
    stdin: string,
    seconds: number,
) => Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>;

/** The deployer's bash, in a process group of its own, killed whole at the bound. */
export const bashReader: HostReader = (command, stdin, seconds) =>
    new Promise((resolve) => {
        const child = spawn("bash", ["-c", command], { stdio: ["pipe", "pipe", "pipe"], detached: true });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            try {
                process.kill(-(child.pid as number), "SIGKILL");
            } catch {
                // gone already
            }
        }, seconds * 1000);
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk.slice(0, 4096)));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk.slice(0, 4096)));
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr, timedOut });
        });
    });

/** The one line a failed observation is reported by: the step's own error line, else ssh's, else the bound. */
export function observationError(result: { code: number | null; stderr: string; timedOut: boolean }): string {
    if (result.timedOut) {
        return `no answer within ${OBSERVE_SECONDS}s (frozen, overloaded or cut off?)`;
    }
    const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
    const last = (lines[lines.length - 1] ?? `exit status ${result.code}`).replace(/^\[sync [^\]]*\] ERROR: /, "");
    return last.replace(/[^\x20-\x7e]/g, "?").slice(0, 300);
}

/** Read one host. Never throws: a host that can't be read says why. */
export async function observeHost(
    target: ObservationTarget,
    privateKey: string,
    read: HostReader = bashReader,
    now: () => Date = () => new Date(),
): Promise<ObservationResult> {
    const at = now()
        .toISOString()
        .replace(/\.\d+Z$/, "Z");
    const stdin = renderStepStdin(
        target,
        { kind: "bytes", data: renderObserveScript(target) },
        renderObserveCommand(target.user),
        privateKey,
    );
    const result = await read(renderStepCommand("observe", target.server), stdin, OBSERVE_SECONDS);
    if (result.code !== 0 || result.timedOut) {
        return { server: target.server, at, error: observationError(result) };
    }
    try {
        return { server: target.server, at, observed: parseObservation(result.stdout) };
    } catch (error) {
        return { server: target.server, at, error: (error as Error).message };
    }
}

/** Read every host, at most `parallel` at once; results in the order of `targets`. */
export async function observeFleet(
    targets: ObservationTarget[],
    privateKey: string,
    parallel: number = OBSERVE_PARALLEL,
    read: HostReader = bashReader,
): Promise<ObservationResult[]> {
    const results: ObservationResult[] = new Array(targets.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < targets.length) {
            const i = next++;
            results[i] = await observeHost(targets[i], privateKey, read);
        }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, targets.length) }, worker));
    return results;
}
