// A release's sources in a git work tree: its root, HEAD, status, files and tags, through git.
import { execFileSync, spawnSync } from "child_process";
import { ReleaseError, tagName } from "./plan";

function git(dir: string, args: string[]): string {
    return execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The work tree's root when `dir` is in one; undefined when it is not (or git is not installed). */
export function gitRoot(dir: string): string | undefined {
    const inside = spawnSync("git", ["-C", dir, "rev-parse", "--is-inside-work-tree", "--show-toplevel"], {
        encoding: "utf8",
    });
    const [isInside, root] = inside.stdout?.trim().split("\n") ?? [];
    if (inside.status !== 0 || isInside !== "true" || !root) {
        const reason = inside.stderr?.trim() ?? "";
        if (/dubious ownership/.test(reason)) {
            throw new ReleaseError(`git refuses ${dir}: ${reason.split("\n")[0]}`);
        }
        return undefined;
    }
    return root;
}

/** HEAD's commit; refuses a work tree without one. */
export function gitHead(dir: string): string {
    try {
        return git(dir, ["rev-parse", "--verify", "HEAD^{commit}"]).trim();
    } catch {
        throw new ReleaseError(`${dir} is a git work tree without a commit: commit the sources first`);
    }
}

/** Paths `git status` reports in the folder (modified, staged, untracked), sorted. */
export function gitDirty(dir: string): string[] {
    return statusPaths(git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."])).sort();
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

/** Exactly what HEAD holds of the folder, as a tar (git archive). */
export function gitArchive(dir: string): Buffer {
    const tar = spawnSync("git", ["-C", dir, "archive", "--format=tar", "HEAD"], { maxBuffer: 1 << 30 });
    if (tar.status !== 0) {
        throw new ReleaseError(`git archive of ${dir} failed: ${tar.stderr.toString().trim()}`);
    }
    return tar.stdout;
}

/** The folder's files as the work tree has them: tracked and untracked, not the ignored ones. */
export function gitFiles(dir: string): string[] {
    return git(dir, ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."])
        .split("\0")
        .filter((f) => f !== "");
}

/** The commit the version's tag names, if the tag exists. */
export function gitTagged(dir: string, version: string): string | undefined {
    const r = spawnSync("git", ["-C", dir, "rev-parse", "-q", "--verify", `refs/tags/${tagName(version)}^{commit}`], {
        encoding: "utf8",
    });
    return r.status === 0 ? r.stdout.trim() : undefined;
}

/** `git tag v<version> <commit>`: a lightweight tag. */
export function gitTag(dir: string, version: string, commit: string): void {
    git(dir, ["tag", tagName(version), commit]);
}

export function gitUntag(dir: string, name: string): void {
    git(dir, ["tag", "-d", name]);
}
