// The release command's file work on temp folders: which sources a release takes, git and hg state
// and tags (release/source.ts, git.ts, hg.ts), and how a release is added to the artifact
// folder (folder.ts). Real git and Debian's mercurial, in temp repositories.
import { execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { publish, readFolder } from "../../release/folder";
import { commitAll } from "../../release/sampleApp";
import { statusPaths } from "../../release/git";
import { checkClean, checkTag, isSourceFile, snapshot, sourceState, tag, untag } from "../../release/source";

const sha = (data: string) => crypto.createHash("sha256").update(data).digest("hex");

let tmp: string;
beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sync-release-unit-"));
});
afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
});

function write(root: string, files: Record<string, string>): void {
    for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
        fs.writeFileSync(path.join(root, file), text);
    }
}

function tree(root: string): string[] {
    return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
        .filter((e) => e.isFile())
        .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
        .sort();
}

describe("sources", () => {
    test("a folder that is not a git work tree: its files but caches, venvs and build outputs", () => {
        expect(["pyproject.toml", "app/wsgi.py", "tests/test_x.py", ".gitignore"].filter(isSourceFile)).toHaveLength(4);
        expect(
            [
                "app/__pycache__/wsgi.cpython-311.pyc",
                "app/x.pyc",
                ".venv/bin/python",
                "build/lib/x.py",
                "dist/a.tar.gz",
                "A.egg-info/PKG-INFO",
                ".git/config",
            ].filter(isSourceFile),
        ).toEqual([]);
        const src = path.join(tmp, "src");
        write(src, {
            "pyproject.toml": "x",
            "app/wsgi.py": "y",
            "app/__pycache__/wsgi.pyc": "z",
            "dist/old.tar.gz": "o",
        });
        const state = sourceState(src);
        expect(state).toEqual({ dir: src, dirty: [] });
        snapshot(state, path.join(tmp, "copy"));
        expect(tree(path.join(tmp, "copy"))).toEqual(["app/wsgi.py", "pyproject.toml"]);
    });

    test("a clean git work tree: exactly what HEAD holds (of the folder, in a bigger repository too), and a tag on HEAD", () => {
        const repo = path.join(tmp, "repo");
        write(repo, { README: "r", "app/pyproject.toml": "x", "app/pkg/a.py": "a", "app/.gitignore": "*.log\n" });
        execFileSync("git", ["init", "--quiet", repo]);
        commitAll(repo, "one");
        write(repo, { "app/debug.log": "ignored" });
        const src = path.join(repo, "app");
        const state = sourceState(src);
        expect(state).toMatchObject({ dir: src, vcs: "git", root: repo, dirty: [] });
        expect(state.revision).toMatch(/^[0-9a-f]{40}$/);
        snapshot(state, path.join(tmp, "copy"));
        expect(tree(path.join(tmp, "copy"))).toEqual([".gitignore", "pkg/a.py", "pyproject.toml"]);

        expect(tag(state, "1.0")).toEqual({ name: "v1.0" });
        expect(tag(state, "1.0")).toBeUndefined(); // already on HEAD
        checkTag(state, "1.0");
        write(repo, { "app/pkg/a.py": "b" });
        commitAll(repo, "two");
        const later = sourceState(src);
        expect(() => checkTag(later, "1.0")).toThrow(
            `tag v1.0 already names commit ${state.revision}, not HEAD ${later.revision}: a re-cut needs a new version`,
        );
        untag(later, { name: "v1.0" });
        checkTag(later, "1.0");
    });

    test("a dirty work tree is refused unless allowed, naming what changed; allowed, its files as they are (not the ignored)", () => {
        const repo = path.join(tmp, "repo");
        write(repo, { "pyproject.toml": "x", "a.py": "a", "b.py": "b", ".gitignore": "*.log\n" });
        execFileSync("git", ["init", "--quiet", repo]);
        commitAll(repo, "one");
        write(repo, { "a.py": "changed", "new.py": "n", "x.log": "l" });
        fs.rmSync(path.join(repo, "b.py"));
        const state = sourceState(repo);
        expect(state.dirty).toEqual(["a.py", "b.py", "new.py"]);
        expect(() => checkClean(state, false)).toThrow(
            `${repo} has uncommitted changes (a.py, b.py, new.py): commit them, or pass --allow-dirty to release the work tree as it is (untagged)`,
        );
        checkClean(state, true);
        snapshot(state, path.join(tmp, "copy"));
        expect(tree(path.join(tmp, "copy"))).toEqual([".gitignore", "a.py", "new.py", "pyproject.toml"]);
        expect(fs.readFileSync(path.join(tmp, "copy/a.py"), "utf8")).toBe("changed");
        expect(tag(state, "1.0")).toBeUndefined();
    });

    test("git status paths: a rename lists where it went, not where it came from", () => {
        expect(statusPaths(" M a.py\0R  new.py\0old.py\0?? x y.py\0")).toEqual(["a.py", "new.py", "x y.py"]);
        expect(statusPaths("")).toEqual([]);
    });

    test("a work tree without a commit is refused", () => {
        execFileSync("git", ["init", "--quiet", tmp]);
        expect(() => sourceState(tmp)).toThrow(`${tmp} is a git work tree without a commit: commit the sources first`);
    });
});

describe("hg sources", () => {
    const hg = (dir: string, ...args: string[]) =>
        execFileSync("hg", args, { cwd: dir, encoding: "utf8", env: { ...process.env, HGPLAIN: "1" } }).trim();
    const hgInit = (dir: string) => execFileSync("hg", ["init", dir]);
    const node = (dir: string, rev = ".") => hg(dir, "log", "-r", rev, "-T", "{node}");

    test("a clean hg work tree: exactly what the checked-out revision holds of the folder (hg archive, no .hg_archival.txt), and its tag a commit of .hgtags on top", () => {
        const repo = path.join(tmp, "repo");
        write(repo, {
            README: "r",
            ".hgignore": "syntax: glob\n*.log\n",
            "app/pyproject.toml": "x",
            "app/pkg/a.py": "a",
            "app/bin/run": "#!/bin/sh\n",
        });
        fs.chmodSync(path.join(repo, "app/bin/run"), 0o755);
        fs.symlinkSync("pkg/a.py", path.join(repo, "app/a-link"));
        hgInit(repo);
        commitAll(repo, "one");
        const c1 = node(repo);
        write(repo, { "app/debug.log": "ignored" });
        const src = path.join(repo, "app");
        const state = sourceState(src);
        expect(state).toEqual({ dir: src, vcs: "hg", root: repo, revision: c1, dirty: [] });
        snapshot(state, path.join(tmp, "copy"));
        expect(tree(path.join(tmp, "copy"))).toEqual(["bin/run", "pkg/a.py", "pyproject.toml"]);
        expect(fs.readlinkSync(path.join(tmp, "copy/a-link"))).toBe("pkg/a.py");
        expect(fs.statSync(path.join(tmp, "copy/bin/run")).mode & 0o111).toBe(0o111);

        // The tag: a commit of .hgtags on top, which the work tree then has checked out; still clean.
        checkTag(state, "1.0");
        const made = tag(state, "1.0");
        const t1 = node(repo);
        expect(made).toEqual({ name: "v1.0", commit: t1 });
        expect(hg(repo, "log", "-r", ".", "-T", "{p1node} {files}")).toBe(`${c1} .hgtags`);
        expect(hg(repo, "tags", "-T", "{tag}={node}\n")).toBe(`tip=${t1}\nv1.0=${c1}`);

        // From the tag commit: the same revision is released (its files are the tag commit's, the
        // tags file aside), the tag is found in place, nothing more is committed.
        const again = sourceState(src);
        expect(again).toEqual({ dir: src, vcs: "hg", root: repo, revision: c1, checkedOut: t1, dirty: [] });
        checkTag(again, "1.0");
        expect(tag(again, "1.0")).toBeUndefined();
        expect(node(repo, "tip")).toBe(t1);
        snapshot(again, path.join(tmp, "copy-again"));
        expect(tree(path.join(tmp, "copy-again"))).toEqual(tree(path.join(tmp, "copy")));

        // Another version from the same revision: a second tag commit, on top of the first.
        const second = tag(again, "1.0.post1");
        expect(hg(repo, "tags", "-T", "{tag}={node}\n").split("\n").slice(1).sort()).toEqual([
            `v1.0.post1=${c1}`,
            `v1.0=${c1}`,
        ]);
        untag(again, second as { name: string; commit: string });
        expect(node(repo)).toBe(t1);
        expect(node(repo, "tip")).toBe(t1);

        // New sources, same version: the tag names another revision.
        write(repo, { "app/pkg/a.py": "b" });
        commitAll(repo, "two");
        const later = sourceState(src);
        expect(later.revision).toBe(node(repo));
        expect(() => checkTag(later, "1.0")).toThrow(
            `tag v1.0 already names revision ${c1}, not the work tree's revision ${later.revision}: a re-cut needs a new version`,
        );
    });

    test("a dirty hg work tree is refused unless allowed, naming what changed; allowed, its files as they are (not the ignored, not the removed)", () => {
        const repo = path.join(tmp, "repo");
        write(repo, {
            "pyproject.toml": "x",
            "a.py": "a",
            "b.py": "b",
            "c.py": "c",
            ".hgignore": "syntax: glob\n*.log\n",
        });
        hgInit(repo);
        commitAll(repo, "one");
        write(repo, { "a.py": "changed", "new.py": "n", "x.log": "l" });
        fs.rmSync(path.join(repo, "b.py"));
        hg(repo, "remove", "c.py");
        const state = sourceState(repo);
        expect(state.dirty).toEqual(["a.py", "b.py", "c.py", "new.py"]);
        expect(() => checkClean(state, false)).toThrow(
            `${repo} has uncommitted changes (a.py, b.py, c.py, new.py): commit them, or pass --allow-dirty to release the work tree as it is (untagged)`,
        );
        checkClean(state, true);
        snapshot(state, path.join(tmp, "copy"));
        expect(tree(path.join(tmp, "copy"))).toEqual([".hgignore", "a.py", "new.py", "pyproject.toml"]);
        expect(fs.readFileSync(path.join(tmp, "copy/a.py"), "utf8")).toBe("changed");
        checkTag(state, "1.0");
        expect(tag(state, "1.0")).toBeUndefined();
        expect(hg(repo, "log", "-T", "{rev}\n")).toBe("0");
    });

    test("an uncommitted merge is dirty, even with no file changed", () => {
        const repo = path.join(tmp, "repo");
        write(repo, { "pyproject.toml": "x" });
        hgInit(repo);
        commitAll(repo, "one");
        // a named branch whose one commit changes no file, merged: hg status is clean
        hg(repo, "branch", "--quiet", "other");
        hg(repo, "commit", "--quiet", "-u", "t", "-m", "branch");
        hg(repo, "update", "--quiet", "default");
        hg(repo, "merge", "--quiet", "other");
        expect(hg(repo, "status")).toBe("");
        expect(sourceState(repo).dirty).toEqual(["(uncommitted merge)"]);
    });

    test("a tag hg tag could not commit is refused before anything is published", () => {
        const repo = path.join(tmp, "repo");
        write(repo, { "app/pyproject.toml": "x", ".hgtags": "" });
        hgInit(repo);
        commitAll(repo, "one");
        const c1 = node(repo);
        write(repo, { "app/pyproject.toml": "y" });
        commitAll(repo, "two");
        // the checked-out revision is not its branch's head: hg tag would make a second head
        hg(repo, "update", "--quiet", "0");
        const old = sourceState(path.join(repo, "app"));
        expect(() => checkTag(old, "1.0")).toThrow(
            `hg tag would commit v1.0 on top of revision ${c1}, which is not the head of its branch (it would make a second head): release from the branch head, or tag the revision yourself (hg tag -f -r ${c1} v1.0) and release again`,
        );
        // tagged by hand as the message says, the release finds its tag in place
        hg(repo, "tag", "--quiet", "-f", "-u", "t", "-r", c1, "v1.0");
        hg(repo, "update", "--quiet", "0");
        checkTag(sourceState(path.join(repo, "app")), "1.0");
        // .hgtags changed outside the released folder: not dirty there, but hg tag would commit it
        hg(repo, "update", "--quiet", "tip");
        write(repo, { ".hgtags": "" });
        const state = sourceState(path.join(repo, "app"));
        expect(state.dirty).toEqual([]);
        expect(() => checkTag(state, "2.0")).toThrow(
            `${repo}/.hgtags has uncommitted changes, and hg tag commits that file: commit or revert it first`,
        );
    });

    test("an hg work tree without a commit is refused; the nearer of a git and an hg repository is the one", () => {
        hgInit(tmp);
        expect(() => sourceState(tmp)).toThrow(`${tmp} is an hg work tree without a commit: commit the sources first`);
        const inner = path.join(tmp, "inner");
        write(inner, { "pyproject.toml": "x" });
        execFileSync("git", ["init", "--quiet", inner]);
        commitAll(inner, "one");
        expect(sourceState(inner)).toMatchObject({ vcs: "git", root: inner });
    });
});

describe("publish", () => {
    function staged(files: Record<string, string>): Record<string, string> {
        const dir = path.join(tmp, "staged");
        write(dir, files);
        return Object.fromEntries(Object.keys(files).map((f) => [f, path.join(dir, f)]));
    }
    const sumsOf = (dir: string) => fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8");

    test("into a folder that does not exist: the sdist, the wheelhouse, SHA256SUMS that sha256sum checks", () => {
        const f = staged({
            "WeaveServer-1.0.tar.gz": "sdist",
            "a-1-py3-none-any.whl": "a",
            "b-1-py3-none-any.whl": "b",
        });
        const dir = path.join(tmp, "nested/artifacts");
        const r = publish(dir, {
            sdistName: "WeaveServer-1.0.tar.gz",
            sdistPath: f["WeaveServer-1.0.tar.gz"],
            sha256: sha("sdist"),
            wheels: [f["b-1-py3-none-any.whl"], f["a-1-py3-none-any.whl"]],
        });
        expect(r).toEqual({
            sdistWritten: true,
            wheelsAdded: ["a-1-py3-none-any.whl", "b-1-py3-none-any.whl"],
            created: true,
        });
        expect(tree(dir)).toEqual([
            "SHA256SUMS",
            "WeaveServer-1.0.tar.gz",
            "wheelhouse/a-1-py3-none-any.whl",
            "wheelhouse/b-1-py3-none-any.whl",
        ]);
        execFileSync("sha256sum", ["--strict", "--quiet", "-c", "SHA256SUMS"], { cwd: dir });
        expect(readFolder(dir).wheels).toEqual(["a-1-py3-none-any.whl", "b-1-py3-none-any.whl"]);
    });

    test("beside what is there: nothing existing is rewritten (a wheel of the same name keeps its bytes); the same release again changes nothing", () => {
        const dir = path.join(tmp, "artifacts");
        write(dir, {
            "WeaveServer-0.9.tar.gz": "old",
            "wheelhouse/a-1-py3-none-any.whl": "first a",
            "broken/WeaveServer-3.0.tar.gz": "x",
        });
        const f = staged({
            "WeaveServer-1.0.tar.gz": "sdist",
            "a-1-py3-none-any.whl": "other a",
            "c-1-py3-none-any.whl": "c",
        });
        const input = {
            sdistName: "WeaveServer-1.0.tar.gz",
            sdistPath: f["WeaveServer-1.0.tar.gz"],
            sha256: sha("sdist"),
            wheels: [f["a-1-py3-none-any.whl"], f["c-1-py3-none-any.whl"]],
        };
        expect(publish(dir, input)).toEqual({
            sdistWritten: true,
            wheelsAdded: ["c-1-py3-none-any.whl"],
            created: false,
        });
        expect(fs.readFileSync(path.join(dir, "wheelhouse/a-1-py3-none-any.whl"), "utf8")).toBe("first a");
        expect(
            sumsOf(dir)
                .split("\n")
                .map((l) => l.slice(66)),
        ).toEqual([
            "WeaveServer-0.9.tar.gz",
            "WeaveServer-1.0.tar.gz",
            "broken/WeaveServer-3.0.tar.gz",
            "wheelhouse/a-1-py3-none-any.whl",
            "wheelhouse/c-1-py3-none-any.whl",
            "",
        ]);
        const mtime = fs.statSync(path.join(dir, "SHA256SUMS")).mtimeMs;
        expect(publish(dir, input)).toEqual({ sdistWritten: false, wheelsAdded: [], created: false });
        expect(fs.statSync(path.join(dir, "SHA256SUMS")).mtimeMs).toBe(mtime);
        expect(fs.readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]); // no temp file left
    });

    test("a re-cut is refused and the folder is left as it was", () => {
        const dir = path.join(tmp, "artifacts");
        write(dir, { "WeaveServer-1.0.tar.gz": "released" });
        const f = staged({ "WeaveServer-1.0.tar.gz": "recut", "n-1-py3-none-any.whl": "n" });
        const input = {
            sdistName: "WeaveServer-1.0.tar.gz",
            sdistPath: f["WeaveServer-1.0.tar.gz"],
            sha256: sha("recut"),
            wheels: [f["n-1-py3-none-any.whl"]],
        };
        expect(() => publish(dir, input)).toThrow(
            `${dir}/WeaveServer-1.0.tar.gz is already released with other bytes (sha256 ${sha("released")}, this build ${sha("recut")}): a re-cut needs a new version`,
        );
        expect(tree(dir)).toEqual(["WeaveServer-1.0.tar.gz"]);
    });

    test("a folder whose files no longer match its SHA256SUMS is refused", () => {
        const dir = path.join(tmp, "artifacts");
        write(dir, { "WeaveServer-0.9.tar.gz": "tampered", SHA256SUMS: `${sha("old")}  WeaveServer-0.9.tar.gz\n` });
        expect(() => readFolder(dir)).toThrow(
            `${dir}/SHA256SUMS no longer matches the folder: WeaveServer-0.9.tar.gz (listed ${sha("old")}, now ${sha("tampered")}) — something changed released files; check the folder before releasing into it`,
        );
        write(tmp, { plain: "x" });
        expect(() => readFolder(path.join(tmp, "plain"))).toThrow(
            `artifact folder ${tmp}/plain exists and is not a folder`,
        );
    });

    test("two releases into one folder take turns (flock on the folder)", async () => {
        const dir = path.join(tmp, "artifacts");
        fs.mkdirSync(dir);
        const holder = spawn("flock", [dir, "sleep", "1.5"], { stdio: "ignore" });
        while (spawnStatus("flock", ["--nonblock", dir, "true"]) === 0) {
            await new Promise((r) => setTimeout(r, 20));
        }
        const f = staged({ "WeaveServer-1.0.tar.gz": "sdist" });
        const t0 = Date.now();
        publish(dir, {
            sdistName: "WeaveServer-1.0.tar.gz",
            sdistPath: f["WeaveServer-1.0.tar.gz"],
            sha256: sha("sdist"),
            wheels: [],
        });
        expect(Date.now() - t0).toBeGreaterThan(500);
        await new Promise((r) => holder.on("exit", r));
    });
});

function spawnStatus(cmd: string, args: string[]): number | null {
    try {
        execFileSync(cmd, args, { stdio: "ignore" });
        return 0;
    } catch (error) {
        return (error as { status: number | null }).status;
    }
}
