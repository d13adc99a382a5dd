// Render the command lines that run the remote scripts on a host. Pure functions: the fleet tier
// takes its commands from here too, so tests and the stack run exactly the same thing.
//
// The runtime step installs the scripts of components/remote/ on the host, content-addressed at
// /var/sync/scripts/<hash>/: its command is one short line and its stdin carries bootstrap.sh and
// every script. Every other step is one short line naming its script by that hash, so a changed
// script changes the command of every step that uses it (and Pulumi runs it again), and a failure
// prints a short command followed by the script's own last line.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ReleaseArtifact } from "./artifacts";
import { byBytes, sha256, sha256sums } from "./digest";
import { hostPath, hostPattern } from "./hostLayout";

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

/** How a remote script is run. */
export interface RemoteCommandOptions {
    /** SSH user; anything but root goes through `sudo -n` (fails rather than prompts). */
    user: string;
    /** Seconds before the whole script is killed (remote commands have no timeout of their own). */
    timeoutSeconds: number;
}

/** One file installed on the hosts. */
export interface HostScript {
    /** File name, e.g. `install.sh`. */
    name: string;
    /** Its exact content. */
    content: string;
}

const REMOTE_DIR = path.join(__dirname, "remote");
/** Sent first on the runtime step's stdin; not installed itself. */
const BOOTSTRAP = "bootstrap.sh";
/** The host layout, owned by the scripts; carried before the bootstrap so it knows the paths too. */
const LAYOUT = "layout.sh";
const SCRIPT_NAME = /^[a-z0-9_-]+\.(sh|py)$/;

/** Quote one word for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(word: string): string {
    if (word.includes("\0")) {
        throw new Error("a shell word cannot contain a NUL byte");
    }
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The scripts installed on the hosts (every file of `dir` but bootstrap.sh), by name. */
export function hostScripts(dir: string = REMOTE_DIR): HostScript[] {
    if (dir === REMOTE_DIR && remote) {
        return remote.scripts;
    }
    return fs
        .readdirSync(dir)
        .filter((name) => name !== BOOTSTRAP && SCRIPT_NAME.test(name))
        .sort(byBytes)
        .map((name) => ({ name, content: fs.readFileSync(path.join(dir, name), "utf8") }));
}

/** components/remote/ as this run sends it. */
interface RemoteFiles {
    /** The installed scripts. */
    scripts: HostScript[];
    /** Their hash (scriptsHash). */
    hash: string;
    /** The runtime step's stdin: layout.sh and bootstrap.sh, then every script. */
    program: string;
}

/** Read and rendered once per process: every server's steps send the same scripts under one hash. */
let remote: RemoteFiles | undefined;
function remoteFiles(): RemoteFiles {
    if (!remote) {
        const scripts = hostScripts();
        const layout = scripts.find((s) => s.name === LAYOUT);
        if (!layout) {
            throw new Error(`${REMOTE_DIR} has no ${LAYOUT}`);
        }
        const bootstrap = fs.readFileSync(path.join(REMOTE_DIR, BOOTSTRAP), "utf8");
        remote = {
            scripts,
            hash: scriptsHash(scripts),
            program: renderBootstrapProgram(scripts, layout.content + bootstrap),
        };
    }
    return remote;
}

/**
 * The hash a set of scripts is installed under: the first 16 hex digits of the sha256 of what
 * `sha256sum` prints for the files in name order (`<sha256>  <name>\n` each). bootstrap.sh checks
 * the files it received against it before it moves them into place.
 */
export function scriptsHash(scripts: HostScript[]): string {
    return sha256(sha256sums(scripts.map((s) => ({ name: s.name, data: Buffer.from(s.content, "utf8") })))).slice(
        0,
        16,
    );
}

/** The hash of the scripts in components/remote/ (what the runtime step installs). */
export function hostScriptsHash(): string {
    return remoteFiles().hash;
}

/** `[sudo -n ]timeout --kill-after=10 <T>`: every step runs as root, bounded in time. */
function commandPrefix(options: RemoteCommandOptions): string[] {
    if (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds <= 0) {
        throw new Error(`timeoutSeconds must be a positive integer, got ${options.timeoutSeconds}`);
    }
    return [
        ...(options.user === "root" ? [] : ["sudo", "-n"]),
        "timeout",
        "--kill-after=10",
        String(options.timeoutSeconds),
    ];
}

/** `… bash /var/sync/scripts/<hash>/<script> 'arg'…`: every argument one single-quoted word. */
function renderScriptCommand(script: string, args: string[], options: RemoteCommandOptions): string {
    return [
        ...commandPrefix(options),
        "bash",
        `${hostPath("SYNC_SCRIPTS")}/${hostScriptsHash()}/${script}`,
        ...args.map(shellQuote),
    ].join(" ");
}

/** The program for `bash -s`: bootstrap.sh, every script as a quoted here-document, then the finish. */
export function renderBootstrapProgram(scripts: HostScript[], bootstrap: string): string {
    const hash = scriptsHash(scripts);
    const terminator = `SYNC_EOF_${hash}`;
    const parts = [bootstrap.endsWith("\n") ? bootstrap : `${bootstrap}\n`];
    for (const script of scripts) {
        if (!SCRIPT_NAME.test(script.name)) {
            throw new Error(`remote script name ${JSON.stringify(script.name)} is not [a-z0-9_-].(sh|py)`);
        }
        if (!script.content.endsWith("\n")) {
            throw new Error(`remote script ${script.name} must end with a newline`);
        }
        if (script.content.split("\n").includes(terminator)) {
            throw new Error(`remote script ${script.name} contains the line ${terminator}`);
        }
        parts.push(`sync_put ${script.name} <<'${terminator}'\n${script.content}${terminator}\n`);
    }
    parts.push(`sync_finish "$@"\n`);
    return parts.join("");
}

/**
 * The mod_wsgi daemons a host runs: two processes, so one keeps serving while the other reloads,
 * of 15 threads each (Debian's default MaxRequestWorkers of 150 is never the limit).
 */
export const WSGI_DAEMONS = { processes: 2, threads: 15 } as const;

/**
 * The runtime step: `[sudo -n ]timeout --kill-after=10 <T> bash -s sync-runtime '<hash>'
 * '<deployUser>' '<processes>' '<threads>'`, with the bootstrap and every script on stdin. It
 * installs the scripts at /var/sync/scripts/<hash>/ and runs runtime.sh from there.
 */
export function renderRuntimeStep(
    deployUser: string,
    wsgiProcesses: number,
    wsgiThreads: number,
    options: RemoteCommandOptions,
): { command: string; stdin: string } {
    const countPattern = hostPattern("SYNC_WSGI_COUNT_RE");
    for (const [what, count] of [
        ["wsgiProcesses", wsgiProcesses],
        ["wsgiThreads", wsgiThreads],
    ] as const) {
        if (!Number.isInteger(count) || !countPattern.test(String(count))) {
            throw new Error(`${what} must be a whole number matching ${countPattern.source}, got ${count}`);
        }
    }
    const { hash, program } = remoteFiles();
    const command = [
        ...commandPrefix(options),
        "bash",
        "-s",
        "sync-runtime",
        ...[hash, deployUser, String(wsgiProcesses), String(wsgiThreads)].map(shellQuote),
    ].join(" ");
    return { command, stdin: program };
}

/**
 * The install step: `… bash /var/sync/scripts/<hash>/install.sh '<version>' '<sdist sha256>'
 * '<bundle sha256>' '<keep>'`. Its stdout is one line: the version the host serves afterwards.
 */
export function renderInstallCommand(
    release: ReleaseArtifact,
    keepReleases: number,
    options: RemoteCommandOptions,
): string {
    return renderScriptCommand(
        "install.sh",
        [release.version, release.sha256, release.bundleSha256, String(keepReleases)],
        options,
    );
}

/** The ini step: `… bash /var/sync/scripts/<hash>/ini.sh`, the file on stdin. */
export function renderIniCommand(options: RemoteCommandOptions): string {
    return renderScriptCommand("ini.sh", [], options);
}
