// The release's sources: which files, from where, and the version's tag, in a git or a Mercurial
// work tree alike. A clean work tree gives exactly the files of the released revision (git archive
// of HEAD; hg archive of the checked-out revision, see hgReleasedRevision for a tag commit on top);
// a dirty one, with --allow-dirty, its tracked and untracked files (not the ignored ones), untagged;
// any other folder, its files but for caches and build outputs, untagged.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { gitArchive, gitDirty, gitFiles, gitHead, gitRoot, gitTag, gitTagged, gitUntag } from "./git";
import { hgArchive, hgDirty, hgFiles, hgRevisionChain, hgRoot, hgTag, hgTagSite, hgTagged, hgUntag } from "./hg";
import { ReleaseError, tagName } from "./plan";
import { Vcs, hgReleasedRevision, hgTagProblem, nearestRepository, tagDecision } from "./vcs";

/** Folders never copied from a folder that is not a work tree: VCS data, caches, venvs, build outputs. */
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

/** Whether a file of a source folder that is not a work tree (its path relative to it) is part of the release. */
export function isSourceFile(relative: string): boolean {
    const parts = relative.split("/");
    if (parts.slice(0, -1).some((p) => SKIPPED_DIRS.has(p) || p.endsWith(".egg-info"))) {
        return false;
    }
    const base = parts[parts.length - 1];
    return !/\.py[co]$/.test(base) && !SKIPPED_DIRS.has(base);
}

export interface SourceState {
    /** The source folder, absolute. */
    dir: string;
    /** The work tree it is in (the nearer one when it is in both a git and an hg repository). */
    vcs?: Vcs;
    /** The repository's root. */
    root?: string;
    /**
     * The revision released and tagged: git's HEAD; hg's checked-out revision, or the revision
     * below the tag commits it is on (the same files; see hgReleasedRevision).
     */
    revision?: string;
    /** hg: the checked-out revision, when it is a tag commit above `revision`. */
    checkedOut?: string;
    /** What the work tree's status reports in the folder (modified, added, removed, untracked). */
    dirty: string[];
}

/** Which work tree the folder is in, if any, its released revision and what is uncommitted. */
export function sourceState(dir: string): SourceState {
    const real = (root: string | undefined) => (root === undefined ? undefined : fs.realpathSync(root));
    const git = real(gitRoot(dir));
    const hg = real(hgRoot(dir));
    switch (nearestRepository(dir, { git, hg })) {
        case "git":
            return { dir, vcs: "git", root: git, revision: gitHead(dir), dirty: gitDirty(dir) };
        case "hg": {
            const chain = hgRevisionChain(dir);
            const revision = hgReleasedRevision(chain);
            const checkedOut = chain[0].node;
            return {
                dir,
                vcs: "hg",
                root: hg,
                revision,
                ...(checkedOut !== revision ? { checkedOut } : {}),
                dirty: hgDirty(dir),
            };
        }
        default:
            return { dir, dirty: [] };
    }
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
    if (state.vcs !== undefined && state.dirty.length === 0) {
        // Exactly what the released revision holds: the tree is clean, so this is also what the work tree has.
        if (state.vcs === "git") {
            execFileSync("tar", ["-x", "--no-same-owner", "-C", dest], { input: gitArchive(state.dir) });
        } else {
            hgArchive(state.dir, state.root as string, state.revision as string, dest);
        }
        return;
    }
    const files = state.vcs === "git" ? gitFiles(state.dir) : state.vcs === "hg" ? hgFiles(state.dir) : walk(state.dir);
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

/** Why the release is not tagged, or undefined when its sources are a clean work tree. */
export function untaggedReason(state: SourceState): string | undefined {
    if (state.vcs === undefined) {
        return "the sources are not a git or hg work tree";
    }
    return state.dirty.length > 0 ? "the work tree had uncommitted changes (--allow-dirty)" : undefined;
}

/** The revision the version's tag names, if the tag exists. */
function taggedAt(state: SourceState, version: string): string | undefined {
    return state.vcs === "git" ? gitTagged(state.dir, version) : hgTagged(state.dir, version);
}

/**
 * Refuses a version whose tag already names another revision (a re-cut needs a new version), and,
 * in hg, a tag `hg tag` could not commit — before anything is published.
 */
export function checkTag(state: SourceState, version: string): void {
    if (untaggedReason(state)) {
        return;
    }
    const decision = tagDecision(state.vcs as Vcs, version, taggedAt(state, version), state.revision as string);
    if (decision === "make" && state.vcs === "hg") {
        const checkedOut = state.checkedOut ?? (state.revision as string);
        const problem = hgTagProblem(
            version,
            hgTagSite(state.dir, state.root as string, checkedOut, state.revision as string),
        );
        if (problem) {
            throw new ReleaseError(problem);
        }
    }
}

/** A tag this release made, to take back if publishing fails. */
export interface MadeTag {
    name: string;
    /** hg: the commit that recorded it. */
    commit?: string;
}

/**
 * Tag the released revision with the version, when the sources are a clean work tree: git, a
 * lightweight tag (`git tag v<version>`); hg, `hg tag -r <revision> v<version>`, a commit of
 * .hgtags on top of the checked-out revision, which the work tree then has checked out. Returns
 * the tag when this call made it, so a failed publish can take it back.
 */
export function tag(state: SourceState, version: string): MadeTag | undefined {
    if (untaggedReason(state) || taggedAt(state, version) === state.revision) {
        return undefined;
    }
    const revision = state.revision as string;
    if (state.vcs === "git") {
        gitTag(state.dir, version, revision);
        return { name: tagName(version) };
    }
    return { name: tagName(version), commit: hgTag(state.dir, version, revision) };
}

export function untag(state: SourceState, made: MadeTag): void {
    if (made.commit !== undefined) {
        hgUntag(state.dir, made.commit);
    } else {
        gitUntag(state.dir, made.name);
    }
}
