// A release's sources in a Mercurial work tree: its root, checked-out revision, status, files and
// tags, through hg (Debian's mercurial). HGPLAIN: output in the stable form scripts read, whatever
// aliases and defaults the user's configuration has; the user's ui.username still signs tag commits.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ReleaseError, tagName } from "./plan";
import { HG_NULL, HG_TAGS_FILE, HgRevision, HgTagSite, hgStatusPaths, parseHgTags } from "./vcs";

const HG_ENV = { ...process.env, HGPLAIN: "1" };

/** hg in `cwd` (patterns such as `.` are relative to it). */
function hg(cwd: string, args: string[], input?: string): string {
    return execFileSync("hg", args, {
        cwd,
        env: HG_ENV,
        encoding: "utf8",
        input,
        maxBuffer: 64 << 20,
        stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
}

/** The nearest folder at or above `dir` holding `.hg`, if any. */
function findRepository(dir: string): string | undefined {
    for (let at = dir; ; at = path.dirname(at)) {
        if (fs.existsSync(path.join(at, ".hg"))) {
            return at;
        }
        if (path.dirname(at) === at) {
            return undefined;
        }
    }
}

/**
 * The repository's root when `dir` is in an hg work tree; undefined when it is not. A repository
 * hg can't read, or one found without hg installed, is refused rather than released as plain files.
 */
export function hgRoot(dir: string): string | undefined {
    const r = spawnSync("hg", ["root"], { cwd: dir, env: HG_ENV, encoding: "utf8" });
    if (r.error) {
        const repository = findRepository(dir);
        if (repository !== undefined) {
            throw new ReleaseError(
                `${dir} is in a Mercurial repository (${repository}), but hg can't run (${r.error.message}): install mercurial`,
            );
        }
        return undefined;
    }
    if (r.status !== 0) {
        if (/no repository found/.test(r.stderr)) {
            return undefined;
        }
        throw new ReleaseError(`hg refuses ${dir}: ${r.stderr.trim().split("\n")[0]}`);
    }
    return r.stdout.trim();
}

/** One revision: its parents and the files it changed (hg allows no line break in a file name). */
export function hgRevision(dir: string, rev: string): HgRevision {
    const [node, p1, p2, ...files] = hg(dir, [
        "log",
        "-r",
        rev,
        "-T",
        "{node}\\n{p1node}\\n{p2node}\\n{join(files, '\\n')}",
    ]).split("\n");
    return { node, p1, p2, files: files.filter((f) => f !== "") };
}

/**
 * The checked-out revision, and the first parents below it while they are tag commits (at most
 * 100): what hgReleasedRevision picks the released revision from. Refuses a work tree without a
 * commit.
 */
export function hgRevisionChain(dir: string): HgRevision[] {
    const chain = [hgRevision(dir, ".")];
    if (chain[0].node === HG_NULL) {
        throw new ReleaseError(`${dir} is an hg work tree without a commit: commit the sources first`);
    }
    while (chain.length < 100) {
        const last = chain[chain.length - 1];
        if (last.files.length !== 1 || last.files[0] !== HG_TAGS_FILE || last.p1 === HG_NULL) {
            break;
        }
        chain.push(hgRevision(dir, last.p1));
    }
    return chain;
}

/**
 * What `hg status` reports in the folder (modified, added, removed, missing, unknown), sorted; an
 * uncommitted merge (a second parent) comes first, as "(uncommitted merge)".
 */
export function hgDirty(dir: string): string[] {
    const merge = hg(dir, ["log", "-r", "p2()", "-T", "{node}"]).trim();
    const paths = hgStatusPaths(hg(dir, ["status", "--print0", "--", "."])).sort();
    return merge === "" ? paths : ["(uncommitted merge)", ...paths];
}

/**
 * Exactly the files `revision` holds of the folder (hg archive, without its .hg_archival.txt),
 * written into `dest` (which exists).
 */
export function hgArchive(dir: string, root: string, revision: string, dest: string): void {
    const r = spawnSync(
        "hg",
        ["archive", "--config", "ui.archivemeta=false", "-r", revision, "-t", "tar", "-I", ".", "-p", "release", "-"],
        { cwd: dir, env: HG_ENV, maxBuffer: 1 << 30 },
    );
    if (r.status !== 0) {
        throw new ReleaseError(`hg archive of ${dir} failed: ${r.stderr.toString().trim()}`);
    }
    // Members are release/<the folder's path in the repository>/…: extracted from the folder down.
    const depth = path.relative(root, fs.realpathSync(dir)).split(path.sep).filter(Boolean).length;
    execFileSync("tar", ["-x", "--no-same-owner", `--strip-components=${1 + depth}`, "-C", dest], {
        input: r.stdout,
    });
}

/** The folder's files as the work tree has them: tracked (but removed or missing) and unknown, not the ignored. */
export function hgFiles(dir: string): string[] {
    return hgStatusPaths(hg(dir, ["status", "--print0", "--no-status", "-mac", "-u", "--", "."]), false);
}

/** The revision the version's tag names, if the tag exists. */
export function hgTagged(dir: string, version: string): string | undefined {
    return parseHgTags(hg(dir, ["tags", "-T", "{tag}\\0{node}\\n"])).get(tagName(version));
}

/** Where `hg tag` would commit the tag, and what it would find there. */
export function hgTagSite(dir: string, root: string, checkedOut: string, revision: string): HgTagSite {
    return {
        root,
        checkedOut,
        revision,
        atHead: hg(dir, ["log", "-r", ". and head()", "-T", "{node}"]).trim() === checkedOut,
        tagsFileChanged: hg(root, ["status", "--print0", "--", `path:${HG_TAGS_FILE}`]) !== "",
    };
}

/** `hg tag -r <revision> v<version>`: a commit of the tags file on top of the checked-out revision. Returns that commit. */
export function hgTag(dir: string, version: string, revision: string): string {
    hg(dir, ["tag", "-r", revision, tagName(version)]);
    return hg(dir, ["log", "-r", ".", "-T", "{node}"]).trim();
}

/**
 * Takes back the tag commit a failed release made (strip; nothing was pushed yet), when it is still
 * the checked-out revision and nothing was committed on top of it.
 */
export function hgUntag(dir: string, commit: string): void {
    const checkedOut = hg(dir, ["log", "-r", ".", "-T", "{node}"]).trim();
    const children = hg(dir, ["log", "-r", `children(${commit})`, "-T", "{node}\\n"]).trim();
    if (checkedOut !== commit || children !== "") {
        throw new ReleaseError(
            `the tag commit ${commit} is no longer the work tree's head: take it back yourself (hg strip or hg tag --remove)`,
        );
    }
    hg(dir, ["--config", "extensions.strip=", "strip", "--no-backup", "--quiet", "-r", commit]);
}
