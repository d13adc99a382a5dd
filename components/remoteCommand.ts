// Render the command lines that run the remote scripts on a host. Pure functions: the fleet tier
// takes its commands from here too, so tests and the stack run exactly the same thing.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";

/** What every component that runs a remote step on a host needs. */
export interface HostStepArgs {
    /** SSH connection to the host, with its pinned host key. */
    connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
    /** SSH user; anything but root runs the step through `sudo -n`. */
    user: string;
    /** Seconds the remote step may take before it is killed. */
    timeoutSeconds: number;
    /** What must finish first (the runtime directory, the previous rollout batch, …). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** The scripts under components/remote/, each sent together with lib.sh. */
export type RemoteScript = "runtime" | "install" | "ini" | "forget";

const REMOTE_DIR = path.join(__dirname, "remote");

/** Quote one word for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(word: string): string {
    if (word.includes("\0")) {
        throw new Error("a shell word cannot contain a NUL byte");
    }
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The program sent for one script: lib.sh followed by the script itself. */
export function remoteProgram(script: RemoteScript): string {
    const lib = fs.readFileSync(path.join(REMOTE_DIR, "lib.sh"), "utf8");
    const body = fs.readFileSync(path.join(REMOTE_DIR, `${script}.sh`), "utf8");
    return `${lib}\n${body}`;
}

/** How a remote script is run. */
export interface RemoteCommandOptions {
    /** SSH user; anything but root goes through `sudo -n` (fails rather than prompts). */
    user: string;
    /** Seconds before the whole script is killed (remote commands have no timeout of their own). */
    timeoutSeconds: number;
}

/**
 * `timeout … bash -c '<lib+script>' sync-<script> 'arg'…`: the program and every argument are
 * single-quoted words, so no config value is ever parsed by the remote shell.
 */
export function renderRemoteCommand(script: RemoteScript, args: string[], options: RemoteCommandOptions): string {
    if (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds <= 0) {
        throw new Error(`timeoutSeconds must be a positive integer, got ${options.timeoutSeconds}`);
    }
    const words = [
        ...(options.user === "root" ? [] : ["sudo", "-n"]),
        "timeout",
        "--kill-after=10",
        String(options.timeoutSeconds),
        "bash",
        "-c",
        shellQuote(remoteProgram(script)),
        `sync-${script}`,
        ...args.map(shellQuote),
    ];
    return words.join(" ");
}
