// Render the command lines that run the host scripts, as the deployer's ssh sends them (the
// transport is components/local/on-host.sh). Pure functions: the fleet tier takes its commands from
// here too, so tests and the stack run exactly the same thing.
//
// The scripts of components/remote/ travel in every release bundle (under scripts/). The stage
// step's entry runs the installed scripts when they are intact, else receives the bundle on its
// stdin into a root-only file, checks its sha256 and only then runs bootstrap.sh out of it, which
// installs the scripts at /var/sync/scripts/<hash>/; every later step names its script by that hash.
import { ReleaseArtifact } from "./artifacts";
import { hostLayoutValue, hostPath, hostPattern } from "./hostLayout";
import { hostScriptsHash } from "./hostScripts";
import { shellQuote } from "./shellQuote";

/** How a host script is run. */
export interface RemoteCommandOptions {
    /** SSH user; anything but root goes through `sudo -n` (fails rather than prompts). */
    user: string;
    /** Seconds before the whole script is killed on the host. */
    timeoutSeconds: number;
}

/** The deploy user names the scripts accept (stage.sh checks the same). */
const DEPLOY_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** `[sudo -n ]timeout --kill-after=10 <T>`: every step runs as root, bounded in time. */
function commandPrefix(options: RemoteCommandOptions): string[] {
    if (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds <= 0) {
        throw new Error(`timeoutSeconds must be a positive integer, got ${options.timeoutSeconds}`);
    }
    if (!DEPLOY_USER.test(options.user)) {
        throw new Error(`deploy user ${JSON.stringify(options.user)} is not a Debian user name`);
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
 * The stage step's entry, run as root by `bash -c` with the arguments `<hash> <deploy user>
 * <version> <sdist sha256> <bundle sha256> <bundle bytes>`, the bundle on stdin. Installed scripts
 * whose files still hash to <hash> run directly and read the bundle only when the release is not
 * built yet (a rollback reads none of it). Otherwise nothing of the bundle runs before all of it
 * arrived in a file only root can reach and matched its sha256: then bootstrap.sh out of it
 * installs the scripts and runs stage.sh on that file.
 */
export function stageEntry(): string {
    const scripts = hostPath("SYNC_SCRIPTS");
    const dist = hostPath("SYNC_DIST");
    const bootstrap = `${hostLayoutValue("SYNC_BUNDLE_SCRIPTS")}/bootstrap.sh`;
    return [
        "set -euo pipefail; umask 077",
        `s=${scripts}/$1`,
        `if [[ -f $s/.complete && $(cd "$s" && sha256sum -- * | sha256sum | cut -c1-16) == "$1" ]]; then exec bash "$s/stage.sh" "$2" - "\${@:3}"; fi`,
        `install -d -m 0755 ${hostPath("SYNC_ROOT")} ${dist}`,
        `f=$(mktemp ${dist}/.incoming.XXXXXX); trap 'rm -f "$f"' EXIT`,
        `head -c "$6" >"$f"`,
        `[[ $(stat -c %s "$f") == "$6" && $(sha256sum <"$f") == "$5 "* ]] || { echo "[sync $(hostname) stage] ERROR: the release bundle arrived with another size or sha256 than $6 bytes, sha256 $5 (cut short?); host unchanged" >&2; exit 1; }`,
        `tar -xOf "$f" --occurrence ${bootstrap} | bash -s "$f" "$@"`,
    ].join("\n");
}

/**
 * The stage step: `[sudo -n ]timeout … bash -c '<stageEntry>' sync-stage '<hash>' '<deploy user>'
 * '<version>' '<sdist sha256>' '<bundle sha256>' '<bundle bytes>'`, the bundle on stdin. Its stdout
 * is one line, `staged <version>`.
 */
export function renderStageCommand(
    release: ReleaseArtifact,
    deployUser: string,
    options: RemoteCommandOptions,
): string {
    if (!DEPLOY_USER.test(deployUser)) {
        throw new Error(`deploy user ${JSON.stringify(deployUser)} is not a Debian user name`);
    }
    if (!Number.isSafeInteger(release.bundleBytes) || release.bundleBytes <= 0) {
        throw new Error(`bundle size must be a positive integer, got ${release.bundleBytes}`);
    }
    return [
        ...commandPrefix(options),
        "bash",
        "-c",
        shellQuote(stageEntry()),
        "sync-stage",
        ...[
            hostScriptsHash(),
            deployUser,
            release.version,
            release.sha256,
            release.bundleSha256,
            String(release.bundleBytes),
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
