// One step of stage.py on the hosts' platform: rootfs-run.sh runs it inside the fleet's Debian 12
// rootfs as an unprivileged user, the release's work folder at /release, these scripts read-only
// at /opt/sync-release, and online steps the pip/uv caches at /cache. Its log goes to a file;
// its outcome is the JSON it writes.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseError, SDIST_EPOCH } from "./plan";

const HERE = __dirname;
const ROOTFS_RUN = path.join(HERE, "rootfs-run.sh");
/** The uid/gid steps run as (rootfs-run.sh): what they write must be theirs. */
export const SANDBOX_UID = 65534;

/** The deployer's package-index settings that reach the online steps (pip's, and uv's names for them). */
const PASSED_ENV = ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT"];
const PROXY_ENV = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

/**
 * The environment of a step. Online: the caches, the index settings of the deployer (pip reads
 * PIP_*, uv its own UV_* names), its proxies, and the CA bundle rootfs-run.sh binds in. Offline:
 * nothing that could reach an index. Always: no pip or uv config file, no Python downloads.
 */
export function stepEnv(env: NodeJS.ProcessEnv, online: boolean): string[] {
    const out: Record<string, string> = {
        PIP_DISABLE_PIP_VERSION_CHECK: "1",
        PIP_NO_INPUT: "1",
        PIP_CONFIG_FILE: "/dev/null",
        UV_NO_CONFIG: "1",
        UV_PYTHON_DOWNLOADS: "never",
        SOURCE_DATE_EPOCH: String(SDIST_EPOCH),
    };
    if (online) {
        Object.assign(out, {
            PIP_CACHE_DIR: "/cache/pip",
            UV_CACHE_DIR: "/cache/uv",
            UV_NATIVE_TLS: "1",
            SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
            PIP_CERT: "/etc/ssl/certs/ca-certificates.crt",
        });
        for (const name of [...PASSED_ENV, ...PROXY_ENV]) {
            const value = env[name];
            if (value !== undefined && value !== "" && !/[\n\0]/.test(value)) {
                out[name] = value;
            }
        }
        if (out.PIP_INDEX_URL) {
            out.UV_DEFAULT_INDEX = out.PIP_INDEX_URL;
        }
        if (out.PIP_EXTRA_INDEX_URL) {
            out.UV_INDEX = out.PIP_EXTRA_INDEX_URL;
        }
    } else {
        Object.assign(out, { PIP_NO_INDEX: "1", PIP_NO_CACHE_DIR: "1", UV_OFFLINE: "1" });
    }
    return Object.entries(out).map(([k, v]) => `${k}=${v}`);
}

/** The pip and uv caches of the online steps: outside the clone, owned by the steps' user. */
function cacheDir(): string {
    const root = process.env.SYNC_RELEASE_CACHE || path.join(os.homedir(), ".cache/sync-release");
    const dir = path.join(root, "release-cache");
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, SANDBOX_UID, SANDBOX_UID);
    return dir;
}

export interface StepOptions {
    /** The release's work folder (bound at /release). */
    work: string;
    online: boolean;
    /** Where the step's output goes (appended). */
    log: string;
}

/** The last lines of a log, for an error message. */
export function logTail(file: string, lines = 40): string {
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Run stage.py `step` with `args`; its JSON result, or a ReleaseError with its message and log tail. */
export function runStep(step: string, args: string[], options: StepOptions): Record<string, unknown> {
    const resultFile = path.join(options.work, "results", `${step}.json`);
    fs.mkdirSync(path.dirname(resultFile), { recursive: true });
    fs.chownSync(path.dirname(resultFile), SANDBOX_UID, SANDBOX_UID);
    fs.rmSync(resultFile, { force: true });
    const binds = [`${options.work}:/release`, `${HERE}:/opt/sync-release:ro`];
    if (options.online) {
        binds.push(`${cacheDir()}:/cache`);
    }
    const argv = [
        ROOTFS_RUN,
        ...(options.online ? [] : ["--offline"]),
        ...binds.flatMap((b) => ["--bind", b]),
        ...stepEnv(process.env, options.online).flatMap((e) => ["--env", e]),
        "--cwd",
        "/release",
        "--",
        "python3.11",
        "-I",
        "/opt/sync-release/stage.py",
        step,
        "--result",
        `/release/results/${step}.json`,
        ...args,
    ];
    const fd = fs.openSync(options.log, "a");
    let status: number | null;
    try {
        fs.writeSync(fd, `\n=== ${step} (${options.online ? "online" : "offline"}) ${new Date().toISOString()}\n`);
        status = spawnSync("bash", argv, { stdio: ["ignore", fd, fd] }).status;
    } finally {
        fs.closeSync(fd);
    }
    const result = fs.existsSync(resultFile)
        ? (JSON.parse(fs.readFileSync(resultFile, "utf8")) as Record<string, unknown>)
        : undefined;
    if (status !== 0 || result === undefined || typeof result.error === "string") {
        const why = typeof result?.error === "string" ? result.error : `exit status ${status} (see the log)`;
        throw new ReleaseError(`${step}: ${why}`, logTail(options.log));
    }
    return result;
}
