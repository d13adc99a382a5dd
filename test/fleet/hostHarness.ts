// Fleet tier helpers: real SSH to the local fleet (pinned host keys), the host steps exactly as the
// stack runs them (stage, ini, activate: components/local/on-host.sh with the stdin the stack
// renders, the deployer's OpenSSH), and reads of state on the hosts themselves.
// Only the fleet hosts (198.18.K.x for fleet id K = 0..15, from <fleet state>/config.json) are ever
// contacted.
import { execFile, spawn, ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { loadReleaseArtifact, ReleaseArtifact, releaseArtifactFrom, sdistFileName } from "../../components/artifacts";
import {
    FLEET_ADDRESS,
    FleetConfig,
    FleetServer,
    fleetStateDir,
    loadFleet as loadLocalFleet,
} from "../../scripts/lib/localStack";
import { HostTarget, StepInput, renderStepCommand, renderStepStdin } from "../../components/hostStep";
import {
    renderActivateCommand,
    renderIniCommand,
    renderStageCommand,
    WSGI_DAEMONS,
    RemoteCommandOptions,
} from "../../components/remoteCommand";
import { shellQuote } from "../../components/shellQuote";
import { renderIniStdin } from "../../components/syncIni";

// Also imported by the benchmarks, outside jest.
if (typeof jest !== "undefined") {
    jest.setTimeout(900_000);
}

export const REPO = path.resolve(__dirname, "../..");
// scripts/fleet.sh's state directory for SYNC_FLEET_ID (0: /run/sync-fleet, K: /run/sync-fleet-K).
export const FLEET_STATE = fleetStateDir();

/** What scripts/fleet.sh writes to <fleet state>/config.json (the engine tier reads it too). */
export type { FleetConfig, FleetServer } from "../../scripts/lib/localStack";

/** The running fleet; throws (never skips) when it is not up. */
export function loadFleet(): FleetConfig {
    // Refuses any host outside the fleet's own addresses.
    const config = loadLocalFleet(FLEET_STATE);
    if (config.servers.length < 3) {
        throw new Error(`fleet tier needs 3 hosts, the running fleet has ${config.servers.length}`);
    }
    return config;
}

export interface RunResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

/** Run a local program (argument array, no shell), feeding stdin, collecting output. */
export function run(
    file: string,
    args: string[],
    options: { stdin?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            file,
            args,
            {
                maxBuffer: 64 * 1024 * 1024,
                timeout: options.timeoutMs ?? 600_000,
                env: options.env ?? process.env,
                encoding: "utf8",
            },
            (error, stdout, stderr) => {
                const code = error
                    ? typeof (error as NodeJS.ErrnoException).code === "number"
                        ? (error as unknown as { code: number }).code
                        : null
                    : 0;
                if (error && code === null && !(error as { signal?: string }).signal) {
                    reject(error);
                    return;
                }
                resolve({
                    code,
                    signal: (error as { signal?: NodeJS.Signals } | null)?.signal ?? null,
                    stdout,
                    stderr,
                });
            },
        );
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(options.stdin ?? "");
    });
}

/**
 * Build the sample releases once per run (build-releases.sh caches by source hash), into a folder
 * of this fleet's own: build-releases.sh replaces the folder's files, which must not happen under
 * a run on another fleet.
 */
let releasesDir: string | undefined;
export async function buildReleases(): Promise<string> {
    if (releasesDir) {
        return releasesDir;
    }
    const dir = path.join(os.tmpdir(), `${path.basename(FLEET_STATE)}-releases-${process.getuid?.() ?? 0}`);
    const r = await run(path.join(REPO, "scripts/build-releases.sh"), [dir], { timeoutMs: 600_000 });
    if (r.code !== 0) {
        throw new Error(`build-releases.sh failed (${r.code}): ${r.stderr}`);
    }
    releasesDir = dir;
    return dir;
}

export function release(dir: string, version: string): ReleaseArtifact {
    return loadReleaseArtifact(dir, version);
}
/** A broken variant: the sdist from broken/, bundled with the main dir's wheelhouse. */
export function brokenRelease(dir: string, version: string): ReleaseArtifact {
    return releaseArtifactFrom(version, path.join(dir, "broken", sdistFileName(version)), path.join(dir, "wheelhouse"));
}

/**
 * The options of every ssh and sftp connection to a fleet host: the fleet's own ssh_config (fleet
 * key, pinned host keys, no prompt, nothing from ~/.ssh; scripts/fleet.sh write_ssh_config), with
 * the known_hosts file a test chooses and the server's port.
 */
export function sshOptions(fleet: FleetConfig, server: FleetServer, knownHosts: string): string[] {
    return ["-F", fleet.sshConfigPath, "-o", `UserKnownHostsFile=${knownHosts}`, "-o", `Port=${server.port}`];
}

export class Host {
    constructor(
        readonly server: FleetServer,
        readonly fleet: FleetConfig,
        readonly knownHosts: string = fleet.knownHostsPath,
        /** The host key the steps pin (the fleet's, unless a test pins another). */
        readonly pinnedKey: string = server.hostKey,
    ) {}

    get name(): string {
        return this.server.name;
    }

    sshArgs(): string[] {
        return [...sshOptions(this.fleet, this.server, this.knownHosts), `${this.server.user}@${this.server.host}`];
    }

    /** How the stack runs a step here: as the connection user (through sudo -n unless root). */
    options(timeoutSeconds = 600): RemoteCommandOptions {
        return { user: this.server.user, timeoutSeconds };
    }

    /** One remote command line (as ssh sends it), with stdin: for reading and arranging, not for steps. */
    ssh(command: string, options: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
        return run("ssh", [...this.sshArgs(), command], options);
    }

    /** Same, but must succeed; returns stdout. */
    async sh(command: string, stdin?: string | Buffer): Promise<string> {
        const r = await this.ssh(command, { stdin });
        if (r.code !== 0) {
            throw new Error(`${this.name}: '${command}' exited ${r.code}: ${r.stderr}`);
        }
        return r.stdout;
    }

    /** Start a remote command without waiting (for kill/lock/load scenarios). */
    spawnSsh(command: string, stdin = ""): ChildProcess {
        const child = spawn("ssh", [...this.sshArgs(), command], { stdio: ["pipe", "pipe", "pipe"] });
        child.stdin.end(stdin);
        return child;
    }

    /** Where the stack's steps connect for this host. */
    target(): HostTarget {
        return {
            server: this.name,
            user: this.server.user,
            host: this.server.host,
            port: this.server.port,
            hostKey: this.pinnedKey,
        };
    }

    /**
     * A host step as the stack runs it: `bash -s sync-<step> <server>` on this machine, its stdin
     * rendered as the stack renders it (on-host.sh, the call, the fleet's deploy key). `bundleDir`
     * is where on-host.sh looks for bundles (default: where the program writes them).
     */
    step(step: string, input: StepInput, remoteCommand: string, bundleDir?: string): Promise<RunResult> {
        const key = fs.readFileSync(this.fleet.sshPrivateKeyPath, "utf8");
        const env = bundleDir ? { ...process.env, SYNC_RELEASE_BUNDLE_DIR: bundleDir } : process.env;
        return run("bash", ["-c", renderStepCommand(step, this.name)], {
            stdin: renderStepStdin(this.target(), input, remoteCommand, key),
            env,
        });
    }

    /** The stack's stage command line. */
    stageCommand(r: ReleaseArtifact, timeoutSeconds = 600): string {
        return renderStageCommand(r, this.server.user, this.options(timeoutSeconds));
    }

    /**
     * The stack's stage step, the bundle streamed on its session; `prefix` is prepended to the host
     * command (e.g. `SYNC_LOCK_WAIT=2`). `bundle`: other bytes streamed in its place (a damaged
     * bundle), with the release's size and sha256 still declared.
     */
    stage(r: ReleaseArtifact, prefix = "", { bundle }: { bundle?: Buffer } = {}): Promise<RunResult> {
        // The bundle folder on-host.sh looks in: where the release's bundle is (named by its
        // sha256, as the program writes it), or a temp one holding the bytes sent in its place.
        let bundleDir = path.dirname(r.bundlePath);
        let scratch: string | undefined;
        if (bundle || path.basename(r.bundlePath) !== `${r.bundleSha256}.tar`) {
            scratch = bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-fleet-bundle-"));
            fs.writeFileSync(path.join(bundleDir, `${r.bundleSha256}.tar`), bundle ?? fs.readFileSync(r.bundlePath));
        }
        const done = this.step(
            "stage",
            { kind: "bundle", sha256: r.bundleSha256 },
            withPrefix(prefix, this.stageCommand(r)),
            bundleDir,
        );
        return scratch ? done.finally(() => fs.rmSync(scratch as string, { recursive: true, force: true })) : done;
    }

    /** The stack's ini command line. */
    iniCommand(timeoutSeconds = 300): string {
        return renderIniCommand(this.options(timeoutSeconds));
    }

    /** The stack's ini step: the file on stdin with its end line; `prefix` is prepended (e.g. `umask 000;`). */
    ini(content: string, prefix = ""): Promise<RunResult> {
        return this.iniStream(renderIniStdin(content), prefix);
    }

    /** The ini step with exactly `stdin` (a stream cut short, a wrong end line). */
    iniStream(stdin: string | Buffer, prefix = ""): Promise<RunResult> {
        return this.step("ini", { kind: "bytes", data: stdin }, withPrefix(prefix, this.iniCommand()));
    }

    /**
     * The stack's activate command line. The stack always asks for WSGI_DAEMONS; `processes` stands
     * in for a stack whose daemon count changed (the site the step writes changes with it).
     */
    activateCommand(
        r: ReleaseArtifact,
        keep = 5,
        {
            timeoutSeconds = 600,
            processes = WSGI_DAEMONS.processes,
        }: { timeoutSeconds?: number; processes?: number } = {},
    ): string {
        const command = renderActivateCommand(r, keep, this.options(timeoutSeconds));
        const counts = (p: number) => ` ${shellQuote(String(p))} ${shellQuote(String(WSGI_DAEMONS.threads))}`;
        if (!command.endsWith(counts(WSGI_DAEMONS.processes))) {
            throw new Error(`activate command does not end with the WSGI counts: ${command}`);
        }
        return command.slice(0, -counts(WSGI_DAEMONS.processes).length) + counts(processes);
    }

    /** The stack's activate step; `prefix` is prepended (e.g. `SYNC_LOCK_WAIT=2`). */
    activate(
        r: ReleaseArtifact,
        keep = 5,
        {
            prefix = "",
            processes,
            timeoutSeconds,
        }: { prefix?: string; processes?: number; timeoutSeconds?: number } = {},
    ): Promise<RunResult> {
        return this.step(
            "activate",
            { kind: "none" },
            withPrefix(prefix, this.activateCommand(r, keep, { processes, timeoutSeconds })),
        );
    }

    /**
     * A release's two host steps as one rollout runs them: stage, then activate. For the
     * benchmarks: the stage's result when it failed, else the activate's with both stderrs.
     */
    async deploy(r: ReleaseArtifact, keep = 5): Promise<RunResult> {
        const staged = await this.stage(r);
        if (staged.code !== 0) {
            return staged;
        }
        const activated = await this.activate(r, keep);
        return { ...activated, stderr: staged.stderr + activated.stderr };
    }

    /**
     * Kill the running step (its whole `timeout` process group, SIGKILL) the moment a line
     * containing ` <fragment>` reaches /var/sync/events.log: a cut at a real point of the step,
     * with no test hook in the scripts. Resolves once the watcher is in place; `result` says
     * "killed" or "missed".
     */
    async killDeployAt(fragment: string, timeoutSeconds = 120): Promise<{ result: Promise<string> }> {
        if (!/^[A-Za-z0-9 .>-]+$/.test(fragment)) {
            throw new Error(`killDeployAt: unexpected fragment ${fragment}`);
        }
        const script = [
            `end=$((SECONDS + ${timeoutSeconds}))`,
            "while IFS= read -r -t 1 line || ((SECONDS < end)); do",
            `  if [[ $line == *' ${fragment}'* ]]; then`,
            `    ${KILL_STEP} && echo killed && exit 0`,
            "  fi",
            "  line=''",
            `done < <(exec tail -n0 -F -s 0.01 --pid=$$ /var/sync/events.log 2>/dev/null)`,
            "echo missed",
        ].join("\n");
        return this.watch(script);
    }

    /**
     * Kill the running step the same way the first time the bash `condition` holds on the host
     * (checked every 5 ms; it may keep state in shell variables between checks): a cut at a point
     * that logs no event (settings put back, a tree renamed to .trash, a process started).
     */
    async killDeployWhen(condition: string, timeoutSeconds = 120): Promise<{ result: Promise<string> }> {
        const script = [
            `end=$((SECONDS + ${timeoutSeconds}))`,
            "while ((SECONDS < end)); do",
            `  if { ${condition}; } >/dev/null 2>&1; then`,
            `    ${KILL_STEP} && echo killed && exit 0`,
            "  fi",
            "  sleep 0.005",
            "done",
            "echo missed",
        ].join("\n");
        return this.watch(script);
    }

    /** Run a watcher script on the host; resolves once it watches, with what it prints in the end. */
    async watch(script: string): Promise<{ result: Promise<string> }> {
        // The watcher says when it watches: on a loaded machine its login can outlast a fixed wait,
        // and a step watched too late has ended before the watch begins.
        const child = this.spawnSsh(`bash -c ${shellQuote(`echo watching\n${script}`)}`);
        let out = "";
        let watching: () => void = () => undefined;
        const started = new Promise<void>((resolve) => (watching = resolve));
        child.stdout?.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            if (out.startsWith("watching\n")) {
                watching();
            }
        });
        const result = new Promise<string>((resolve) =>
            child.on("exit", () => resolve(out.replace(/^watching\n/, "").trim())),
        );
        await Promise.race([started, result]);
        return { result };
    }

    /**
     * What a refused or killed step must leave as it was: the links, every release (its inode) and
     * root's records of them (the sdist each was built from), the uploads, the scratch space, the
     * shared tools, the daemons, no process of the build user, and anything stray in / or /var
     * (an escaped tar member). One string, to compare.
     */
    state(): Promise<string> {
        return this.sh(
            [
                "cd /var/sync",
                "echo current=$(readlink current) previous=$(readlink previous)",
                "ls -A / /var /var/sync /var/sync/dist /var/sync/releases /var/sync/.built /var/sync/tools",
                "grep -H . .built/* || true",
                "ls -id releases/*",
                "pgrep -u sync -f '^\\(wsgi:sync\\)' | sort",
                "echo builder: $(pgrep -u sync-build)",
            ].join("; "),
        );
    }

    async readlink(p: string): Promise<string> {
        const r = await this.ssh(`readlink '${p}'`);
        return r.code === 0 ? r.stdout.trim() : "";
    }
    async exists(p: string): Promise<boolean> {
        return (await this.ssh(`test -e '${p}'`)).code === 0;
    }
    async stat(p: string, format = "%a:%U:%G"): Promise<string> {
        return (await this.sh(`stat -c '${format}' '${p}'`)).trim();
    }
    async events(): Promise<string[]> {
        const r = await this.ssh("cat /var/sync/events.log");
        return r.code === 0 ? r.stdout.split("\n").filter(Boolean) : [];
    }
    /** Events appended after a given count, as "<step> <detail>". */
    async eventsSince(count: number): Promise<string[]> {
        return (await this.events()).slice(count).map((l) => l.split(" ").slice(1).join(" "));
    }
    async daemonPids(): Promise<number[]> {
        const out = (await this.ssh(`pgrep -u sync -f '^\\(wsgi:sync\\)'`)).stdout;
        return out.split("\n").filter(Boolean).map(Number).sort();
    }
    async releases(): Promise<string[]> {
        return (await this.sh("ls -1 /var/sync/releases")).split("\n").filter(Boolean).sort();
    }
    /** The sdist sha256 root recorded for a release it built, "" when there is no record. */
    async record(version: string): Promise<string> {
        const r = await this.ssh(`cat /var/sync/.built/${shellQuote(version)}`);
        return r.code === 0 ? r.stdout.trim() : "";
    }
    /** Processes of the build user. */
    async builderPids(): Promise<number[]> {
        const out = (await this.ssh("pgrep -u sync-build")).stdout;
        return out.split("\n").filter(Boolean).map(Number).sort();
    }

    /** HTTP GET from the root namespace straight to the host's port 80. */
    get(urlPath: string, port = 80, timeoutMs = 15_000): Promise<HttpAnswer> {
        return httpGet(this.server.host, port, urlPath, timeoutMs);
    }

    /** Served version; "" if the host doesn't answer 200. */
    async servedVersion(): Promise<string> {
        try {
            const a = await this.get("/__version__");
            return a.status === 200 ? a.body : `HTTP ${a.status}`;
        } catch (e) {
            return `error ${(e as Error).message}`;
        }
    }

    /** `scripts/fleet.sh exec NAME CMD...` (inside the host's namespaces, as root). */
    exec(args: string[]): Promise<RunResult> {
        return run(path.join(REPO, "scripts/fleet.sh"), ["exec", this.name, ...args]);
    }
}

/** `<prefix> <command>`, or the command alone. */
function withPrefix(prefix: string, command: string): string {
    return prefix ? `${prefix} ${command}` : command;
}

/** Every step runs under `timeout` (remoteCommand.ts), which leads the step's process group. */
const KILL_STEP = 'kill -KILL -- -"$(pgrep -o -x timeout)"';

export interface HttpAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

export function httpGet(
    host: string,
    port: number,
    urlPath: string,
    timeoutMs: number,
    agent?: http.Agent,
): Promise<HttpAnswer> {
    if (!FLEET_ADDRESS.test(host) && host !== "127.0.0.1") {
        return Promise.reject(new Error(`refusing to send traffic to ${host}`));
    }
    return new Promise((resolve, reject) => {
        const req = http.get({ host, port, path: urlPath, timeout: timeoutMs, agent: agent ?? false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
                resolve({
                    status: res.statusCode ?? 0,
                    headers: res.headers,
                    body: Buffer.concat(chunks).toString("utf8"),
                }),
            );
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

export function hosts(): Host[] {
    const fleet = loadFleet();
    return fleet.servers.map((s) => new Host(s, fleet));
}

export const INI_1 = "[sync]\ndatabase_url = sqlite:////var/sync/db.sqlite\nsecret_key = fleet-secret-1\n";

/**
 * Put a host in a known serving state, as a rollout does: stage, ini, activate of `version`
 * (idempotent).
 */
export async function bootstrap(host: Host, dir: string, version: string): Promise<void> {
    const r = release(dir, version);
    const steps: [string, () => Promise<RunResult>][] = [
        ["stage", () => host.stage(r)],
        ["ini", () => host.ini(INI_1)],
        ["activate", () => host.activate(r)],
    ];
    for (const [name, step] of steps) {
        const res = await step();
        if (res.code !== 0) {
            throw new Error(`${host.name}: bootstrap ${name} failed (${res.code}): ${res.stderr}`);
        }
    }
    if ((await host.servedVersion()) !== version) {
        throw new Error(`${host.name}: bootstrap: host does not serve ${version}`);
    }
}

/** The sha256 the app computes over what configparser read (README "Canonical JSON"). */
export function iniSha256(sections: Record<string, Record<string, string>>): string {
    const sorted: Record<string, Record<string, string>> = {};
    for (const s of Object.keys(sections).sort()) {
        sorted[s] = {};
        for (const k of Object.keys(sections[s]).sort()) {
            sorted[s][k] = sections[s][k];
        }
    }
    return crypto.createHash("sha256").update(JSON.stringify(sorted), "utf8").digest("hex");
}

export interface LoadResult {
    total: number;
    ok: number;
    failed: number;
    errors: Record<string, number>;
    versions: Record<string, number>;
}

/**
 * Hit one fleet host with `concurrency` loops of GET /__version__ until `done()` is true and at
 * least `minRequests` were made; hard-bounded by `maxMs` and `maxRequests`.
 */
export async function load(
    host: string,
    port: number,
    during: Promise<unknown>,
    minRequests = 2000,
    maxMs = 120_000,
    maxRequests = 200_000,
    concurrency = 4,
): Promise<LoadResult> {
    const res: LoadResult = { total: 0, ok: 0, failed: 0, errors: {}, versions: {} };
    let finished = false;
    during.then(
        () => (finished = true),
        () => (finished = true),
    );
    const t0 = Date.now();
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const loop = async (): Promise<void> => {
        while ((!finished || res.total < minRequests) && Date.now() - t0 < maxMs && res.total < maxRequests) {
            res.total++;
            try {
                const a = await httpGet(host, port, "/__version__", 30_000, agent);
                if (a.status === 200) {
                    res.ok++;
                    res.versions[a.body] = (res.versions[a.body] ?? 0) + 1;
                } else {
                    res.failed++;
                    res.errors[`HTTP ${a.status}`] = (res.errors[`HTTP ${a.status}`] ?? 0) + 1;
                }
            } catch (e) {
                res.failed++;
                const k = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
                res.errors[k] = (res.errors[k] ?? 0) + 1;
            }
        }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    agent.destroy();
    return res;
}

/** The old process (scripts/old-deploy.sh) against a host; `initPort` sets its Apache site up first. */
export function oldDeploy(host: Host, dir: string, version: string, initPort?: number): Promise<RunResult> {
    const ssh = ["ssh", ...sshOptions(host.fleet, host.server, host.knownHosts), `root@${host.server.host}`].join(" ");
    return run(path.join(REPO, "scripts/old-deploy.sh"), [
        "--ssh",
        ssh,
        "--tarball",
        path.join(dir, sdistFileName(version)),
        "--wheelhouse",
        path.join(dir, "wheelhouse"),
        ...(initPort ? ["--init-apache", String(initPort)] : []),
    ]);
}
