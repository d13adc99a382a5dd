// Render the command lines that run the host scripts. Pure functions: the fleet tier takes its
// commands from here too, so tests and the stack run exactly the same thing.
//
// The scripts of components/remote/ travel in every release bundle (under scripts/). The stage
// step reads bootstrap.sh out of the uploaded bundle, which installs them content-addressed at
// /var/sync/scripts/<hash>/ and runs stage.sh; every later step is one short line naming its
// script by that hash. A changed script changes the hash, so every step that uses it runs again,
// and a failure prints a short command followed by the script's own last line.
import * as fs from "fs";
import * as path from "path";
import { ReleaseArtifact } from "./artifacts";
import { byBytes, sha256, sha256sums } from "./digest";
import { bundleRemotePath, hostLayoutValue, hostPath, hostPattern } from "./hostLayout";

/** How a host script is run. */
export interface RemoteCommandOptions {
    /** SSH user; anything but root goes through `sudo -n` (fails rather than prompts). */
    user: string;
    /** Seconds before the whole script is killed (remote commands have no timeout of their own). */
    timeoutSeconds: number;
}

/** One file installed on the hosts. */
export interface HostScript {
    /** File name, e.g. `stage.sh`. */
    name: string;
    /** Its exact content. */
    content: string;
}

const REMOTE_DIR = path.join(__dirname, "remote");
const SCRIPT_NAME = /^[a-z0-9_-]+\.(sh|py)$/;
/** The deploy user names the scripts accept (stage.sh checks the same). */
const DEPLOY_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Quote one word for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(word: string): string {
    if (word.includes("\0")) {
        throw new Error("a shell word cannot contain a NUL byte");
    }
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The scripts installed on the hosts (every script of `dir`), in name order. */
export function hostScripts(dir: string = REMOTE_DIR): HostScript[] {
    if (dir === REMOTE_DIR && remote) {
        return remote.scripts;
    }
    const names = fs.readdirSync(dir).filter((name) => SCRIPT_NAME.test(name));
    for (const name of names) {
        if (!fs.readFileSync(path.join(dir, name), "utf8").endsWith("\n")) {
            throw new Error(`host script ${name} must end with a newline`);
        }
    }
    return names.sort(byBytes).map((name) => ({ name, content: fs.readFileSync(path.join(dir, name), "utf8") }));
}

/** Read and hashed once per process: every server's steps use the same scripts under one hash. */
let remote: { scripts: HostScript[]; hash: string } | undefined;
function remoteScripts(): { scripts: HostScript[]; hash: string } {
    if (!remote) {
        const scripts = hostScripts();
        for (const required of ["bootstrap.sh", "layout.sh", "lib.sh", "stage.sh", "activate.sh", "ini.sh"]) {
            if (!scripts.some((s) => s.name === required)) {
                throw new Error(`${REMOTE_DIR} has no ${required}`);
            }
        }
        remote = { scripts, hash: scriptsHash(scripts) };
    }
    return remote;
}

/**
 * The hash a set of scripts is installed under: the first 16 hex digits of the sha256 of what
 * `sha256sum` prints for the files in name order (`<sha256>  <name>\n` each). bootstrap.sh checks
 * the files it unpacked against it before it moves them into place.
 */
export function scriptsHash(scripts: HostScript[]): string {
    return sha256(sha256sums(scripts.map((s) => ({ name: s.name, data: Buffer.from(s.content, "utf8") })))).slice(
        0,
        16,
    );
}

/** The hash of the scripts in components/remote/ (what the stage step installs). */
export function hostScriptsHash(): string {
    return remoteScripts().hash;
}

/** components/remote/ as bundle members: `scripts/<name>`. */
export function hostScriptMembers(): { name: string; data: Buffer }[] {
    const dir = hostLayoutValue("SYNC_BUNDLE_SCRIPTS");
    return remoteScripts().scripts.map((s) => ({ name: `${dir}/${s.name}`, data: Buffer.from(s.content, "utf8") }));
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

/**
 * The mod_wsgi daemons a host runs: two processes, so one keeps serving while the other reloads,
 * of 15 threads each (Debian's default MaxRequestWorkers of 150 is never the limit).
 */
export const WSGI_DAEMONS = { processes: 2, threads: 15 } as const;

/**
 * The stage step: bootstrap.sh read out of the uploaded bundle, run as root:
 * `[sudo -n ]timeout … bash -c 'set -o pipefail; tar -xOf "$1" --occurrence scripts/bootstrap.sh |
 * bash -s "$@"' sync-stage '<bundle>' '<hash>' '<deploy user>' '<version>' '<sdist sha256>'
 * '<bundle sha256>'`. The bundle path is relative to the deploy user's home, where the SSH session
 * starts. Its stdout is one line, `staged <version>`.
 */
export function renderStageCommand(
    release: ReleaseArtifact,
    deployUser: string,
    options: RemoteCommandOptions,
): string {
    if (!DEPLOY_USER.test(deployUser)) {
        throw new Error(`deploy user ${JSON.stringify(deployUser)} is not a Debian user name`);
    }
    const bootstrap = `${hostLayoutValue("SYNC_BUNDLE_SCRIPTS")}/bootstrap.sh`;
    const entry = `set -o pipefail; tar -xOf "$1" --occurrence ${bootstrap} | bash -s "$@"`;
    return [
        ...commandPrefix(options),
        "bash",
        "-c",
        shellQuote(entry),
        "sync-stage",
        ...[
            bundleRemotePath(release.version),
            hostScriptsHash(),
            deployUser,
            release.version,
            release.sha256,
            release.bundleSha256,
        ].map(shellQuote),
    ].join(" ");
}

/**
 * The activate step: `… bash /var/sync/scripts/<hash>/activate.sh '<version>' '<sdist sha256>'
 * '<keep>' '<processes>' '<threads>'`. Its stdout is one line: the version the host serves afterwards.
 */
export function renderActivateCommand(
    release: ReleaseArtifact,
    keepReleases: number,
    options: RemoteCommandOptions,
): string {
    const countPattern = hostPattern("SYNC_WSGI_COUNT_RE");
    for (const [what, count] of Object.entries(WSGI_DAEMONS)) {
        if (!countPattern.test(String(count))) {
            throw new Error(`WSGI ${what} must match ${countPattern.source}, got ${count}`);
        }
    }
    if (!Number.isInteger(keepReleases) || keepReleases < 2 || keepReleases > 999) {
        throw new Error(`keepReleases must be a whole number from 2 to 999, got ${keepReleases}`);
    }
    return renderScriptCommand(
        "activate.sh",
        [
            release.version,
            release.sha256,
            String(keepReleases),
            String(WSGI_DAEMONS.processes),
            String(WSGI_DAEMONS.threads),
        ],
        options,
    );
}

/** The ini step: `… bash /var/sync/scripts/<hash>/ini.sh`, the file on stdin (syncIni.ts). */
export function renderIniCommand(options: RemoteCommandOptions): string {
    return renderScriptCommand("ini.sh", [], options);
}
