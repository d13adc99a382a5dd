// Shared fixtures: the prod stack's config as Pulumi hands it to the program, and release files.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";

export const SENTINEL = "S3NT1NEL-7d41c0de";
export const DEPLOY_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 7), "deploy");

let uvWheel: string | undefined;

/**
 * Put uv's pinned wheel into a wheelhouse: the real one (scripts/uv-wheel.sh downloads it into the
 * cache once), since the stack checks its sha256. A symbolic link: the bundle reads through it.
 */
export function addUvWheel(wheelhouse: string): string {
    uvWheel ??= execFileSync("bash", [path.join(__dirname, "../../scripts/uv-wheel.sh")], { encoding: "utf8" }).trim();
    const target = path.join(wheelhouse, path.basename(uvWheel));
    fs.symlinkSync(uvWheel, target);
    return target;
}

/** A folder with fake release files for the given versions and a wheelhouse (with uv's wheel). */
export function makeArtifactDir(versions: string[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-artifacts-"));
    for (const version of versions) {
        fs.writeFileSync(path.join(dir, `WeaveServer-${version}.tar.gz`), `sdist of ${version}`);
    }
    fs.mkdirSync(path.join(dir, "wheelhouse"));
    fs.writeFileSync(path.join(dir, "wheelhouse", "six-1.16.0-py2.py3-none-any.whl"), "wheel");
    addUvWheel(path.join(dir, "wheelhouse"));
    return dir;
}

/** Pulumi.prod.yaml's config with artifactDir pointed at `artifactDir` and the secrets set. */
export function prodConfig(artifactDir: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const file = yaml.load(fs.readFileSync(path.join(__dirname, "../../Pulumi.prod.yaml"), "utf8")) as {
        config: Record<string, unknown>;
    };
    const values: Record<string, unknown> = {
        ...file.config,
        "sync:artifactDir": artifactDir,
        "sync:sshPrivateKey": DEPLOY_KEY.privateKey,
        "sync:iniSecrets": {
            sync: { secret_key: SENTINEL, database_url: `mysql://sync:${SENTINEL}@db/sync` },
        },
        // Mocks have no hosts to read: observation is the engine tier's (and observe.test.ts').
        "sync:observe": false,
        ...overrides,
    };
    return Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
    );
}

export const SECRET_KEYS = ["sync:sshPrivateKey", "sync:iniSecrets"];
