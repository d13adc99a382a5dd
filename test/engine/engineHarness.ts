// Engine tier helpers: the local stack driven exactly as the README drives it (scripts/local-stack.ts,
// one process per operation, the real Pulumi CLI, the program inline), and reads of what the
// hosts themselves hold (through scripts/fleet.sh exec: the host's own namespaces, no SSH, so the
// reads never show up in the hosts' SSH logs or event logs).
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FleetConfig, REPO, fleetStateDir, loadFleet, servedVersion } from "../../scripts/lib/localStack";
import { HostEvent, parseEvents } from "../../scripts/lib/timeline";

export const FLEET_STATE = fleetStateDir();

export interface RunResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    /** stdout and stderr, interleaved as they came. */
    output: string;
    stdout: string;
    seconds: number;
}

/** Start a program; collect its output; resolve when it exits. */
export function start(
    file: string,
    args: string[],
    options: { stdin?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {},
): { child: ChildProcess; done: Promise<RunResult> } {
    const began = Date.now();
    const child = spawn(file, args, {
        cwd: REPO,
        env: options.env ?? process.env,
        stdio: ["pipe", "pipe", "pipe"],
        detached: options.detached ?? false,
    });
    let output = "";
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk;
        stdout += chunk;
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.stdin ?? "");
    const done = new Promise<RunResult>((resolve) => {
        child.on("close", (code, signal) =>
            resolve({ code, signal, output, stdout, seconds: (Date.now() - began) / 1000 }),
        );
    });
    return { child, done };
}

export async function runOk(file: string, args: string[], stdin?: string): Promise<string> {
    const result = await start(file, args, { stdin }).done;
    if (result.code !== 0) {
        throw new Error(`${file} ${args.join(" ")} exited ${result.code}: ${result.output}`);
    }
    return result.stdout;
}

/** Run a bash snippet inside a fleet host (its namespaces and root filesystem). */
export function onHost(host: string, script: string): Promise<string> {
    return fleetCommand("exec", host, "bash", "-c", script);
}

/** scripts/fleet.sh against the fleet this tier runs on. */
export async function fleetCommand(...args: string[]): Promise<string> {
    const result = await start(path.join(REPO, "scripts/fleet.sh"), args, {
        env: { ...process.env, SYNC_FLEET_STATE: FLEET_STATE },
    }).done;
    if (result.code !== 0) {
        throw new Error(`fleet.sh ${args.join(" ")} exited ${result.code}: ${result.output}`);
    }
    return result.stdout;
}

export type { HostEvent } from "../../scripts/lib/timeline";

export async function hostEvents(host: string): Promise<HostEvent[]> {
    return parseEvents(await onHost(host, "cat /var/sync/events.log 2>/dev/null || true"));
}

/** SSH logins the host's sshd accepted so far (every remote command needs one). */
export async function acceptedLogins(host: string): Promise<number> {
    const text = await onHost(host, "grep -c 'Accepted publickey' /var/log/sshd.log || true");
    return Number(text.trim() || "0");
}

/**
 * End the logins the deployer keeps open to these addresses (on-host.sh's ControlMaster processes,
 * kept SYNC_SSH_PERSIST seconds after their last step), so that what a test counts next starts from
 * none. Only ssh masters with a connection to one of `addresses` are touched.
 */
export async function closeLogins(addresses: string[]): Promise<void> {
    const listing = await start("ss", ["-Htnp", "state", "established", "( dport = :22 )"]).done;
    for (const line of listing.stdout.split("\n")) {
        const peer = line.trim().split(/\s+/)[3] ?? "";
        const address = peer.replace(/:22$/, "");
        if (!addresses.includes(address)) {
            continue;
        }
        for (const match of line.matchAll(/"ssh",pid=(\d+)/g)) {
            const pid = Number(match[1]);
            const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
            // on-host.sh's login: `ssh … -o ControlMaster=yes … -N -f -- user@host`
            if (cmdline.includes("-o ControlMaster=yes") && cmdline.includes(" -N -f ")) {
                process.kill(pid, "SIGTERM");
            }
        }
    }
    // each is gone before the caller counts
    await new Promise((resolve) => setTimeout(resolve, 500));
}

/** The version a fleet host serves ("" when nothing answers 200). */
export const serves = servedVersion;

/** The environment scripts/local-stack.ts runs with for a stack in `workDir` on this tier's fleet. */
export function runnerEnv(workDir: string, artifactDir: string): NodeJS.ProcessEnv {
    return {
        ...process.env,
        SYNC_FLEET_STATE: FLEET_STATE,
        SYNC_LOCAL_STACK_DIR: workDir,
        SYNC_LOCAL_ARTIFACT_DIR: artifactDir,
        TS_NODE_TRANSPILE_ONLY: "true",
    };
}

/**
 * The local stack in a work directory of its own, operated through scripts/local-stack.ts — the
 * same runner as the README's first command. Every operation's output is kept, for the secret
 * checks at the end.
 */
export class EngineStack {
    readonly workDir: string;
    readonly fleet: FleetConfig;
    /** Everything every operation printed. */
    readonly transcript: string[] = [];

    constructor(readonly artifactDir: string) {
        this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-engine-stack-"));
        // openLocalStack creates the stack on first use; it must find no project file yet.
        fs.rmSync(this.workDir, { recursive: true });
        this.fleet = loadFleet(FLEET_STATE);
    }

    env(): NodeJS.ProcessEnv {
        return runnerEnv(this.workDir, this.artifactDir);
    }

    /** Start one runner operation (in its own process group when `detached`). */
    start(
        args: string[],
        options: { stdin?: string; detached?: boolean } = {},
    ): {
        child: ChildProcess;
        done: Promise<RunResult>;
    } {
        const started = start(
            process.execPath,
            ["-r", "ts-node/register", path.join(REPO, "scripts/local-stack.ts"), ...args],
            { env: this.env(), stdin: options.stdin, detached: options.detached },
        );
        return {
            child: started.child,
            done: started.done.then((result) => {
                this.transcript.push(result.output);
                return result;
            }),
        };
    }

    run(args: string[], stdin?: string): Promise<RunResult> {
        return this.start(args, { stdin }).done;
    }

    /** `pulumi up`; the update's summary (result, resource changes) from the stack's history. */
    async up(): Promise<RunResult & { changes: Record<string, number>; result: string }> {
        const summaryFile = path.join(this.workDir, "last-summary.json");
        fs.rmSync(summaryFile, { force: true });
        const result = await this.run(["up", "--summary", summaryFile]);
        const summary = fs.existsSync(summaryFile)
            ? (JSON.parse(fs.readFileSync(summaryFile, "utf8")) as {
                  result: string;
                  resourceChanges?: Record<string, number>;
              })
            : { result: "none" };
        return { ...result, changes: summary.resourceChanges ?? {}, result: summary.result };
    }

    async preview(): Promise<{ op: string; type: string; name: string }[]> {
        const result = await this.run(["preview", "--json"]);
        if (result.code !== 0) {
            throw new Error(`preview failed: ${result.output}`);
        }
        return JSON.parse(result.stdout) as { op: string; type: string; name: string }[];
    }

    /** The engine's CLI against this stack (config, stack output/export, cancel). */
    async pulumi(args: string[], stdin?: string): Promise<string> {
        const result = await this.run(["pulumi", ...args], stdin);
        if (result.code !== 0) {
            throw new Error(`pulumi ${args.join(" ")} exited ${result.code}: ${result.output}`);
        }
        return result.stdout;
    }

    /** `pulumi config set --path KEY VALUE` (a secret value goes on stdin, never on a command line). */
    async setConfig(key: string, value: string, options: { secret?: boolean } = {}): Promise<void> {
        if (options.secret) {
            await this.pulumi(["config", "set", "--secret", "--path", key], value);
        } else {
            await this.pulumi(["config", "set", "--path", key, value]);
        }
    }
}

/**
 * What is wrong with the output of a preview stopped by a config error: `message` must show
 * exactly once, with no stack and no "Unhandled exception", and no step may read as a delete
 * (the program stopped; it never completed with fewer resources). Empty when all is right.
 */
export function configErrorProblems(output: string, message: string): string[] {
    const problems: string[] = [];
    const count = output.split(message).length - 1;
    if (count !== 1) {
        problems.push(`${JSON.stringify(message)} shows ${count} times`);
    }
    for (const [what, pattern] of [
        ["a stack or an unhandled exception", /Unhandled exception|ConfigError|\n\s+at /],
        ["a delete", / delete|to delete/],
    ] as const) {
        const found = pattern.exec(output);
        if (found) {
            problems.push(`shows ${what}: ${JSON.stringify(found[0])}`);
        }
    }
    return problems;
}
