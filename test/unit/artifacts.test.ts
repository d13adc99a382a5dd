import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BUNDLE_MAX_AGE_DAYS, loadReleaseArtifact, pruneBundles, ustar } from "../../components/artifacts";

const sha = (s: string | Buffer) => crypto.createHash("sha256").update(s).digest("hex");

let bundles: string;
const saved = process.env.SYNC_RELEASE_BUNDLE_DIR;
beforeEach(() => {
    bundles = fs.mkdtempSync(path.join(os.tmpdir(), "sync-bundles-"));
    process.env.SYNC_RELEASE_BUNDLE_DIR = bundles;
});
afterEach(() => {
    fs.rmSync(bundles, { recursive: true, force: true });
    if (saved === undefined) {
        delete process.env.SYNC_RELEASE_BUNDLE_DIR;
    } else {
        process.env.SYNC_RELEASE_BUNDLE_DIR = saved;
    }
});

function artifactDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    fs.writeFileSync(path.join(dir, "WeaveServer-1.10.tar.gz"), "sdist");
    fs.mkdirSync(path.join(dir, "wheelhouse"));
    fs.writeFileSync(path.join(dir, "wheelhouse", "b-1.0-py3-none-any.whl"), "b");
    fs.writeFileSync(path.join(dir, "wheelhouse", "a-1.0-py3-none-any.whl"), "a".repeat(1000));
    fs.writeFileSync(path.join(dir, "wheelhouse", "notes.txt"), "ignored");
    return dir;
}

test("finds the sdist, fingerprints it and bundles it with the wheelhouse, content-addressed", () => {
    const dir = artifactDir();
    const r = loadReleaseArtifact(dir, "1.10");
    const bytes = fs.readFileSync(r.bundlePath);
    expect(r).toEqual({
        version: "1.10",
        sdistPath: path.join(dir, "WeaveServer-1.10.tar.gz"),
        sha256: sha("sdist"),
        wheelhousePath: path.join(dir, "wheelhouse"),
        bundlePath: path.join(bundles, `${sha(bytes)}.tar`),
        bundleSha256: sha(bytes),
    });
    expect(fs.readdirSync(bundles)).toEqual([`${r.bundleSha256}.tar`]); // no temp file left
});

test("the bundle is a plain tar GNU tar reads: sorted members, root, 0644, mtime 0, SHA256SUMS checks", () => {
    const r = loadReleaseArtifact(artifactDir(), "1.10");
    const listing = execFileSync("tar", ["--numeric-owner", "--full-time", "-tvf", r.bundlePath]).toString();
    const lines = listing.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/).slice(-1)[0])).toEqual([
        "SHA256SUMS",
        "WeaveServer-1.10.tar.gz",
        "wheelhouse/a-1.0-py3-none-any.whl",
        "wheelhouse/b-1.0-py3-none-any.whl",
    ]);
    for (const line of lines) {
        expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 /);
    }
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "sync-unpack-"));
    execFileSync("tar", ["-xf", r.bundlePath, "-C", out]);
    expect(fs.readFileSync(path.join(out, "SHA256SUMS"), "utf8")).toBe(
        `${sha("sdist")}  WeaveServer-1.10.tar.gz\n${sha("a".repeat(1000))}  wheelhouse/a-1.0-py3-none-any.whl\n${sha("b")}  wheelhouse/b-1.0-py3-none-any.whl\n`,
    );
    execFileSync("sha256sum", ["--strict", "--quiet", "-c", "SHA256SUMS"], { cwd: out });
    fs.rmSync(out, { recursive: true, force: true });
});

test("same inputs, byte-identical bundle (reused, not rewritten); other inputs, another bundle", () => {
    const dir = artifactDir();
    const a = loadReleaseArtifact(dir, "1.10");
    const inode = fs.statSync(a.bundlePath).ino;
    const b = loadReleaseArtifact(dir, "1.10");
    expect(b.bundlePath).toBe(a.bundlePath);
    expect(fs.statSync(b.bundlePath).ino).toBe(inode);
    // a copy of the inputs elsewhere, touched later: still the same bytes
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    fs.cpSync(dir, copy, { recursive: true });
    fs.utimesSync(path.join(copy, "WeaveServer-1.10.tar.gz"), new Date(), new Date());
    expect(loadReleaseArtifact(copy, "1.10").bundleSha256).toBe(a.bundleSha256);
    fs.writeFileSync(path.join(copy, "wheelhouse", "b-1.0-py3-none-any.whl"), "B");
    expect(loadReleaseArtifact(copy, "1.10").bundleSha256).not.toBe(a.bundleSha256);
    // a damaged file under the bundle's name is replaced
    fs.writeFileSync(a.bundlePath, "damaged");
    expect(sha(fs.readFileSync(loadReleaseArtifact(dir, "1.10").bundlePath))).toBe(a.bundleSha256);
});

test("without a wheelhouse the bundle holds the sdist and SHA256SUMS", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    fs.writeFileSync(path.join(dir, "WeaveServer-2.0.tar.gz"), "s2");
    const r = loadReleaseArtifact(dir, "2.0");
    expect(r.wheelhousePath).toBeUndefined();
    expect(execFileSync("tar", ["-tf", r.bundlePath]).toString()).toBe("SHA256SUMS\nWeaveServer-2.0.tar.gz\n");
});

test("ustar: long names go through the prefix field; unsafe names are refused", () => {
    const long = `wheelhouse/${"x".repeat(120)}-1.0-py3-none-any.whl`;
    const tar = ustar([{ name: long, data: Buffer.from("x") }]);
    const file = path.join(bundles, "long.tar");
    fs.writeFileSync(file, tar);
    expect(execFileSync("tar", ["-tf", file]).toString()).toBe(`${long}\n`);
    expect(tar.length % 512).toBe(0);
    for (const bad of ["/etc/passwd", "../x", "a//b", "a/../b"]) {
        expect(() => ustar([{ name: bad, data: Buffer.from("") }])).toThrow(/unsafe member name/);
    }
});

test("a missing sdist or folder is an error naming the path", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    expect(() => loadReleaseArtifact(dir, "1.9")).toThrow(
        `sync:version 1.9: release file ${path.join(dir, "WeaveServer-1.9.tar.gz")} is missing; build it or fix sync:artifactDir`,
    );
    expect(() => loadReleaseArtifact(path.join(dir, "nope"), "1.9")).toThrow(
        `sync:artifactDir: ${path.join(dir, "nope")} is not a folder`,
    );
});

test("bundles unused for BUNDLE_MAX_AGE_DAYS are removed; one in use is kept and rebuilt identically when gone", () => {
    const dir = artifactDir();
    const first = loadReleaseArtifact(dir, "1.10");
    const old = Date.now() / 1000 - (BUNDLE_MAX_AGE_DAYS + 1) * 86_400;
    // a stale bundle of another release, and a file that is not a bundle
    const stale = path.join(bundles, `${"e".repeat(64)}.tar`);
    fs.writeFileSync(stale, "old bundle");
    fs.writeFileSync(path.join(bundles, "keep.txt"), "not ours");
    for (const file of [stale, path.join(bundles, "keep.txt"), first.bundlePath]) {
        fs.utimesSync(file, old, old);
    }
    // the next run uses the release's bundle again: touched, kept; the stale one goes
    const again = loadReleaseArtifact(dir, "1.10");
    expect(again).toEqual(first);
    expect(fs.readdirSync(bundles).sort()).toEqual([`${first.bundleSha256}.tar`, "keep.txt"]);
    expect(fs.statSync(first.bundlePath).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    // removed meanwhile: written again, byte for byte
    fs.rmSync(first.bundlePath);
    expect(loadReleaseArtifact(dir, "1.10")).toEqual(first);
    expect(sha(fs.readFileSync(first.bundlePath))).toBe(first.bundleSha256);
    expect(pruneBundles(bundles, Date.now() + 1000)).toEqual([`${first.bundleSha256}.tar`]);
});
