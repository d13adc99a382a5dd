// The artifact folder (sync:artifactDir): read what it holds, and add one release to it. A release
// appears whole or not at all: its new wheels go in first (each a new name, written to a temp file
// and renamed), then its sdist by one rename — the moment the version exists — then SHA256SUMS.
// Nothing already there is changed or removed, so `pulumi up` reading the folder meanwhile sees
// every version complete. Two releases into one folder take turns (flock on the folder).
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { sha256 } from "../components/digest";
import { hostLayoutValue } from "../components/hostLayout";
import { FolderFile, ReleaseError, changedSinceSums, folderSums, publishDecision } from "./plan";

const SUMS = "SHA256SUMS";

export interface FolderState {
    dir: string;
    exists: boolean;
    /** Every file (dot-names aside), by path relative to the folder, with its sha256. */
    files: FolderFile[];
    /** The wheelhouse's file names. */
    wheels: string[];
}

function listFiles(root: string, relative = ""): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true })) {
        if (entry.name.startsWith(".")) {
            continue; // temp files of a release under way, the lock
        }
        const rel = relative ? `${relative}/${entry.name}` : entry.name;
        const stat = fs.statSync(path.join(root, rel));
        if (stat.isDirectory()) {
            out.push(...listFiles(root, rel));
        } else if (stat.isFile()) {
            out.push(rel);
        }
    }
    return out;
}

/** What the folder holds; refuses one whose files no longer match its SHA256SUMS. */
export function readFolder(dir: string): FolderState {
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    if (!stat) {
        return { dir, exists: false, files: [], wheels: [] };
    }
    if (!stat.isDirectory()) {
        throw new ReleaseError(`artifact folder ${dir} exists and is not a folder`);
    }
    const files = listFiles(dir).map((name) => ({ name, sha256: sha256(fs.readFileSync(path.join(dir, name))) }));
    const sums = path.join(dir, SUMS);
    if (fs.existsSync(sums)) {
        const changed = changedSinceSums(fs.readFileSync(sums, "utf8"), files);
        if (changed.length > 0) {
            throw new ReleaseError(
                `${sums} no longer matches the folder: ${changed.slice(0, 3).join("; ")}${changed.length > 3 ? "; …" : ""} — something changed released files; check the folder before releasing into it`,
            );
        }
    }
    const wheelhouse = `${hostLayoutValue("SYNC_BUNDLE_WHEELS")}/`;
    const wheels = files.filter((f) => f.name.startsWith(wheelhouse) && !f.name.slice(wheelhouse.length).includes("/"));
    return { dir, exists: true, files, wheels: wheels.map((f) => f.name.slice(wheelhouse.length)) };
}

/** Write `data` to `dest` through a temp file in its folder and rename(2), synced. */
function writeAtomically(dest: string, data: Buffer): void {
    const tmp = path.join(
        path.dirname(dest),
        `.${path.basename(dest)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`,
    );
    try {
        const fd = fs.openSync(tmp, "wx", 0o644);
        try {
            fs.writeFileSync(fd, data);
            fs.fsyncSync(fd);
        } finally {
            fs.closeSync(fd);
        }
        fs.renameSync(tmp, dest);
    } finally {
        fs.rmSync(tmp, { force: true });
    }
}

function syncDir(dir: string): void {
    const fd = fs.openSync(dir, "r");
    try {
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

/** Run `fn` holding an exclusive flock on `dir` (flock(1) locks our open directory, which we keep). */
function withLock<T>(dir: string, fn: () => T): T {
    const fd = fs.openSync(dir, "r");
    try {
        const r = spawnSync("flock", ["--exclusive", "--timeout", "600", "3"], {
            stdio: ["ignore", "inherit", "inherit", fd],
        });
        if (r.status !== 0) {
            throw new ReleaseError(`could not lock ${dir} within 600s (another release into it?)`);
        }
        return fn();
    } finally {
        fs.closeSync(fd); // releases the lock
    }
}

export interface PublishInput {
    sdistName: string;
    sdistPath: string;
    sha256: string;
    /** The release's wheelhouse (file paths); names the folder has already are kept as they are. */
    wheels: string[];
}

export interface PublishResult {
    /** False when the folder held this very release already (same bytes): nothing was written. */
    sdistWritten: boolean;
    wheelsAdded: string[];
    /** Whether the folder did not exist before. */
    created: boolean;
}

/** Add one release to the folder (see the header); re-checks the version under the lock. */
export function publish(dir: string, input: PublishInput): PublishResult {
    const created = !fs.existsSync(dir);
    fs.mkdirSync(dir, { recursive: true });
    try {
        return withLock(dir, () => {
            const state = readFolder(dir);
            const decision = publishDecision(state.files, dir, input.sdistName, input.sha256);
            const wheelhouse = path.join(dir, hostLayoutValue("SYNC_BUNDLE_WHEELS"));
            fs.mkdirSync(wheelhouse, { recursive: true });
            const have = new Set(state.wheels);
            const wheelsAdded: string[] = [];
            for (const wheel of input.wheels) {
                const name = path.basename(wheel);
                if (!have.has(name)) {
                    writeAtomically(path.join(wheelhouse, name), fs.readFileSync(wheel));
                    wheelsAdded.push(name);
                }
            }
            syncDir(wheelhouse);
            if (decision.kind === "new") {
                writeAtomically(path.join(dir, input.sdistName), fs.readFileSync(input.sdistPath));
            }
            const files = listFiles(dir).map((name) => ({ name, data: fs.readFileSync(path.join(dir, name)) }));
            const sums = Buffer.from(folderSums(files), "utf8");
            const sumsPath = path.join(dir, SUMS);
            if (!fs.existsSync(sumsPath) || !fs.readFileSync(sumsPath).equals(sums)) {
                writeAtomically(sumsPath, sums);
            }
            syncDir(dir);
            return { sdistWritten: decision.kind === "new", wheelsAdded: wheelsAdded.sort(), created };
        });
    } catch (error) {
        if (created) {
            fs.rmSync(dir, { recursive: true, force: true }); // it was ours and holds no release
        }
        throw error;
    }
}
