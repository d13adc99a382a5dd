// The release's version control, decided from what git and hg print, without touching anything:
// which repository a source folder belongs to, what `hg status` and `hg tags` say, which revision
// a Mercurial work tree releases, and whether the version's tag may be made. Pure; git.ts and
// hg.ts run the tools, source.ts puts them together.
import { ReleaseError, tagName } from "./plan";

export type Vcs = "git" | "hg";

/** Mercurial's null revision: the parent of a first commit, and what an empty repository has checked out. */
export const HG_NULL = "0".repeat(40);

/** Mercurial's tags file: `hg tag` records a tag by committing a change to it. */
export const HG_TAGS_FILE = ".hgtags";

/**
 * The repository a source folder belongs to, given the roots git and hg report for it (each an
 * ancestor of the folder, or the folder itself): the nearer one, as each tool would itself pick.
 * Both at the same root (a checkout shared by two tools) is refused: neither is the obvious one.
 */
export function nearestRepository(dir: string, roots: { git?: string; hg?: string }): Vcs | undefined {
    const { git, hg } = roots;
    if (git !== undefined && hg !== undefined) {
        if (git === hg) {
            throw new ReleaseError(
                `${dir} is in a git and an hg repository at once (both at ${git}): release it from a checkout of one of them`,
            );
        }
        return git.length > hg.length ? "git" : "hg";
    }
    return git !== undefined ? "git" : hg !== undefined ? "hg" : undefined;
}

/** The paths of `hg status --print0` output (`M a.py\0? new.py\0`), or of `--no-status` output. */
export function hgStatusPaths(status: string, withStatus = true): string[] {
    return status
        .split("\0")
        .filter((entry) => entry !== "")
        .map((entry) => (withStatus ? entry.slice(2) : entry));
}

/** A revision as hg.ts reads it: its parents and the files it changed. */
export interface HgRevision {
    node: string;
    p1: string;
    p2: string;
    files: string[];
}

/**
 * Whether a revision changes nothing but the tags file, on one parent: a tag commit, which is
 * what `hg tag` adds on top of the revision it tags. Its files are its parent's.
 */
export function isTagCommit(revision: HgRevision): boolean {
    return (
        revision.p2 === HG_NULL &&
        revision.p1 !== HG_NULL &&
        revision.files.length === 1 &&
        revision.files[0] === HG_TAGS_FILE
    );
}

/**
 * The revision a clean Mercurial work tree releases: the checked-out one, or — when that is a tag
 * commit, as after a release (`hg tag` moves the work tree onto the commit it makes) — the first
 * revision below it that is not one. Its files are the work tree's (the tags file aside), and it is
 * the revision the version's tag names, so releasing again from there finds the tag in place.
 * `chain` starts at the checked-out revision and follows first parents as far as hg.ts read.
 */
export function hgReleasedRevision(chain: HgRevision[]): string {
    let index = 0;
    while (index + 1 < chain.length && isTagCommit(chain[index]) && chain[index + 1].node === chain[index].p1) {
        index++;
    }
    return chain[index].node;
}

/** `hg tags -T '{tag}\0{node}\n'` output: tag → the revision it names (`tip` is no tag). */
export function parseHgTags(text: string): Map<string, string> {
    const tags = new Map<string, string>();
    for (const line of text.split("\n")) {
        const [name, node] = line.split("\0");
        if (node !== undefined && name !== "tip") {
            tags.set(name, node);
        }
    }
    return tags;
}

/**
 * What tagging the released revision with the version means: "make" the tag, or find it "present"
 * (a release of the same revision again). A tag that names another revision is refused: the
 * version was released from other sources, and a re-cut needs a new version.
 */
export function tagDecision(
    vcs: Vcs,
    version: string,
    taggedAt: string | undefined,
    revision: string,
): "make" | "present" {
    if (taggedAt === undefined) {
        return "make";
    }
    if (taggedAt === revision) {
        return "present";
    }
    throw new ReleaseError(
        vcs === "git"
            ? `tag ${tagName(version)} already names commit ${taggedAt}, not HEAD ${revision}: a re-cut needs a new version`
            : `tag ${tagName(version)} already names revision ${taggedAt}, not the work tree's revision ${revision}: a re-cut needs a new version`,
    );
}

/** What hg.ts found about the commit `hg tag` would make. */
export interface HgTagSite {
    /** The repository's root. */
    root: string;
    /** The checked-out revision, which the tag commit goes on top of. */
    checkedOut: string;
    /** The revision the tag names. */
    revision: string;
    /** Whether the checked-out revision is a head of its branch. */
    atHead: boolean;
    /** Whether the work tree's tags file has uncommitted changes. */
    tagsFileChanged: boolean;
}

/**
 * Why `hg tag` can't tag the release, found before anything is published: it commits the tags
 * file on top of the checked-out revision, so that file must be as committed, and the revision a
 * branch head (hg will not make a second head without -f). Undefined when it can.
 */
export function hgTagProblem(version: string, site: HgTagSite): string | undefined {
    if (site.tagsFileChanged) {
        return `${site.root}/${HG_TAGS_FILE} has uncommitted changes, and hg tag commits that file: commit or revert it first`;
    }
    if (!site.atHead) {
        return `hg tag would commit ${tagName(version)} on top of revision ${site.checkedOut}, which is not the head of its branch (it would make a second head): release from the branch head, or tag the revision yourself (hg tag -f -r ${site.revision} ${tagName(version)}) and release again`;
    }
    return undefined;
}
