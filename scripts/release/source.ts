// The release's sources: which files, from where, and the git tag. A clean git work tree gives
// exactly what HEAD holds (git archive); a dirty one, with --allow-dirty, its tracked and untracked
// files (not the ignored ones); any other folder, its files but for caches and build outputs.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ReleaseError, tagName } from "./plan";

/** Folders never copied from a folder that is not a git work tree: caches, venvs, build outputs. */
const SKIPPED_DIRS = new Set([
    ".git",
    ".hg",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "build",
    "dist",
    "node_modules",
]);

/** Whether a file of a non-git source folder (its path relative to it) is part of the release. */
export function isSourceFile(relative: string): boolean {
    const parts = relative.split("/");
    if (parts.slice(0, -1).some((p) => SKIPPED_DIRS.has(p) || p.endsWith(".egg-info"))) {
        return false;
    }
    const base = parts[parts.length - 1];
    return !/\.py[co]$/.test(base) && !SKIPPED_DIRS.has(base);
}

function git(dir: string, args: string[]): string {
    return execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export interface SourceState {
    /** The source folder, absolute. */
    dir: string;
    /** Whether it is (inside) a git work tree. */
    git: boolean;
    /** HEAD's commit, in a git work tree with a commit. */
    head?: string;
    /** Paths `git status` reports in the folder (modified, staged, untracked). */
    dirty: string[];
}

export function sourceState(dir: string): SourceState {
    const inside = spawnSync("git", ["-C", dir, "rev-parse", "--is-inside-work-tree"], { encoding: "utf8" });
    if (inside.status !== 0 || inside.stdout.trim() !== "true") {
        const reason = inside.stderr.trim();
        if (/dubious ownership/.test(reason)) {
            throw new ReleaseError(`git refuses ${dir}: ${reason.split("\n")[0]}`);
        }
        return { dir, git: false, dirty: [] };
    }
    let head: string | undefined;
    try {
        head = git(dir, ["rev-parse", "--verify", "HEAD^{commit}"]).trim();
    } catch {
        throw new ReleaseError(`${dir} is a git work tree without a commit: commit the sources first`);
    }
    const status = git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."]);
    return { dir, git: true, head, dirty: statusPaths(status).sort() };
}

/** The paths of `git status --porcelain=v1 -z` output (a rename's or copy's source is not listed). */
export function statusPaths(status: string): string[] {
    const entries = status.split("\0");
    const paths: string[] = [];
    for (let i = 0; i < entries.length; i++) {
        if (entries[i].length < 4) {
            continue;
        }
        paths.push(entries[i].slice(3));
        if (/^[RC]/.test(entries[i])) {
            i++; // the next entry is where it was renamed or copied from
        }
    }
    return paths;
}

/** Refuses a dirty work tree unless allowed; says what is dirty. */
export function checkClean(state: SourceState, allowDirty: boolean): void {
    if (state.dirty.length > 0 && !allowDirty) {
        const shown =
            state.dirty.slice(0, 5).join(", ") + (state.dirty.length > 5 ? `, … (${state.dirty.length} in all)` : "");
        throw new ReleaseError(
            `${state.dir} has uncommitted changes (${shown}): commit them, or pass --allow-dirty to release the work tree as it is (untagged)`,
        );
    }
}

/** Copy the release's files of `state` into `dest` (created). */
export function snapshot(state: SourceState, dest: string): void {
    fs.mkdirSync(dest, { recursive: true });
    if (state.git && state.dirty.length === 0) {
        // Exactly what HEAD holds: the tree is clean, so this is also what the work tree has.
        const tar = spawnSync("git", ["-C", state.dir, "archive", "--format=tar", "HEAD"], { maxBuffer: 1 << 30 });
        if (tar.status !== 0) {
            throw new ReleaseError(`git archive of ${state.dir} failed: ${tar.stderr.toString().trim()}`);
        }
        execFileSync("tar", ["-x", "--no-same-owner", "-C", dest], { input: tar.stdout });
        return;
    }
    const files = state.git
        ? git(state.dir, ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."])
              .split("\0")
              .filter((f) => f !== "")
        : walk(state.dir);
    for (const file of files) {
        const from = path.join(state.dir, file);
        const stat = fs.lstatSync(from, { throwIfNoEntry: false });
        if (!stat || stat.isDirectory()) {
            continue; // deleted in the work tree, or a submodule
        }
        fs.mkdirSync(path.dirname(path.join(dest, file)), { recursive: true });
        fs.cpSync(from, path.join(dest, file), { verbatimSymlinks: true });
    }
}

function walk(root: string, relative = ""): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true })) {
        const rel = relative ? `${relative}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
            if (isSourceFile(`${rel}/x`)) {
                out.push(...walk(root, rel));
            }
        } else if (isSourceFile(rel)) {
            out.push(rel);
        }
    }
    return out;
}

/** Why the release is not tagged, or undefined when its sources are a clean git work tree. */
export function untaggedReason(state: SourceState): string | undefined {
    if (!state.git) {
        return "the sources are not a git work tree";
    }
    return state.dirty.length > 0 ? "the work tree had uncommitted changes (--allow-dirty)" : undefined;
}

/** The commit the release's tag names, if the tag exists. */
function tagCommit(dir: string, version: string): string | undefined {
    const r = spawnSync("git", ["-C", dir, "rev-parse", "-q", "--verify", `refs/tags/${tagName(version)}^{commit}`], {
        encoding: "utf8",
    });
    return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Refuses a version whose tag already names another commit: a re-cut needs a new version. */
export function checkTag(state: SourceState, version: string): void {
    if (untaggedReason(state)) {
        return;
    }
    const at = tagCommit(state.dir, version);
    if (at !== undefined && at !== state.head) {
        throw new ReleaseError(
            `tag ${tagName(version)} already names commit ${at}, not HEAD ${state.head}: a re-cut needs a new version`,
        );
    }
}

/**
 * Tag HEAD with the version (a lightweight tag, `git tag v<version>`), when the sources are a
 * clean git work tree. Returns the tag when this call made it, so a failed publish can take it back.
 */
export function tag(state: SourceState, version: string): string | undefined {
    if (untaggedReason(state) || tagCommit(state.dir, version) === state.head) {
        return undefined;
    }
    git(state.dir, ["tag", tagName(version), state.head as string]);
    return tagName(version);
}

export function untag(state: SourceState, name: string): void {
    git(state.dir, ["tag", "-d", name]);
}
