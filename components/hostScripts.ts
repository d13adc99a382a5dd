// The host scripts (components/remote/), as the stack ships them: read once, hashed the way the
// hosts hash them, packed into every release bundle under scripts/. Each host installs them at
// /var/sync/scripts/<hash>/; a changed script changes the hash, so every step that uses it runs again.
import * as fs from "fs";
import * as path from "path";
import { byBytes, sha256, sha256sums } from "./digest";
import { hostLayoutValue } from "./hostLayout";

/** One file installed on the hosts. */
export interface HostScript {
    /** File name, e.g. `stage.sh`. */
    name: string;
    /** Its exact content. */
    content: string;
}

const REMOTE_DIR = path.join(__dirname, "remote");
const SCRIPT_NAME = /^[a-z0-9_-]+\.(sh|py)$/;
const REQUIRED = ["bootstrap.sh", "layout.sh", "lib.sh", "stage.sh", "activate.sh", "ini.sh"];

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
        for (const required of REQUIRED) {
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
 * `sha256sum` prints for the files in name order (`<sha256>  <name>\n` each). The stage step's
 * entry and bootstrap.sh check installed or unpacked scripts against it.
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
