import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ArtifactError,
    BUNDLE_MAX_AGE_DAYS,
    bundleDir,
    loadReleaseArtifact,
    pruneBundles,
    ustar,
} from "../../components/artifacts";
import { hostLayoutValue } from "../../components/hostLayout";
import { hostScriptMembers } from "../../components/hostScripts";
import { addUvWheel } from "./fixtures";

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
    addUvWheel(path.join(dir, "wheelhouse"));
    return dir;
}

const UV = hostLayoutValue("SYNC_UV_WHEEL");

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
        bundleBytes: bytes.length,
    });
    expect(fs.readdirSync(bundles)).toEqual([`${r.bundleSha256}.tar`]); // no temp file left
});

test("the bundle is a plain tar GNU tar reads: sorted members, root, 0644, mtime 0, SHA256SUMS checks", () => {
    const dir = artifactDir();
    const r = loadReleaseArtifact(dir, "1.10");
    const listing = execFileSync("tar", ["--numeric-owner", "--full-time", "-tvf", r.bundlePath]).toString();
    const lines = listing.trim().split("\n");
    const scripts = hostScriptMembers();
    expect(lines.map((l) => l.split(/\s+/).slice(-1)[0])).toEqual([
        "SHA256SUMS",
        "WeaveServer-1.10.tar.gz",
        ...scripts.map((m) => m.name),
        "wheelhouse/a-1.0-py3-none-any.whl",
        "wheelhouse/b-1.0-py3-none-any.whl",
        `wheelhouse/${UV}`,
    ]);
    for (const line of lines) {
        expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00:00 /);
    }
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "sync-unpack-"));
    execFileSync("tar", ["-xf", r.bundlePath, "-C", out]);
    expect(fs.readFileSync(path.join(out, "SHA256SUMS"), "utf8")).toBe(
        [
            `${sha("sdist")}  WeaveServer-1.10.tar.gz\n`,
            ...scripts.map((m) => `${sha(m.data)}  ${m.name}\n`),
            `${sha("a".repeat(1000))}  wheelhouse/a-1.0-py3-none-any.whl\n`,
            `${sha("b")}  wheelhouse/b-1.0-py3-none-any.whl\n`,
            `${hostLayoutValue("SYNC_UV_SHA256")}  wheelhouse/${UV}\n`,
        ].join(""),
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

test("an artifact folder without uv's pinned wheel is refused before any connection, naming the fix", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    fs.writeFileSync(path.join(dir, "WeaveServer-2.0.tar.gz"), "s2");
    const fix = `npm run release adds it; by hand: pip download --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.11 -d <sync:artifactDir>/wheelhouse uv==${hostLayoutValue("SYNC_UV_VERSION")}`;
    expect(() => loadReleaseArtifact(dir, "2.0")).toThrow(
        new ArtifactError(
            `sync:artifactDir: the wheelhouse has no ${UV} (the hosts build every release with uv ${hostLayoutValue("SYNC_UV_VERSION")}); ${fix}`,
        ),
    );
    fs.mkdirSync(path.join(dir, "wheelhouse"));
    fs.writeFileSync(path.join(dir, "wheelhouse", UV), "not uv");
    expect(() => loadReleaseArtifact(dir, "2.0")).toThrow(
        `sync:artifactDir: ${path.join(dir, "wheelhouse", UV)} has sha256 ${sha("not uv")}, expected ${hostLayoutValue("SYNC_UV_SHA256")}; ${fix}`,
    );
    expect(fs.readdirSync(bundles)).toEqual([]);
});

test("the bundle folder is this user's, 0700; a shared or foreign one is refused; a planted link is never written through", () => {
    const mine = path.join(bundles, "mine");
    process.env.SYNC_RELEASE_BUNDLE_DIR = mine;
    expect(bundleDir()).toBe(mine);
    expect(fs.statSync(mine).mode & 0o777).toBe(0o700);
    fs.chmodSync(mine, 0o777);
    expect(() => bundleDir()).toThrow(
        `bundle folder ${mine} is not a directory of this user that only it may write; remove it or set SYNC_RELEASE_BUNDLE_DIR`,
    );
    fs.chmodSync(mine, 0o700);
    const linked = path.join(bundles, "linked");
    fs.symlinkSync(mine, linked);
    process.env.SYNC_RELEASE_BUNDLE_DIR = linked;
    expect(() => bundleDir()).toThrow(/is not a directory of this user/);
    // a link planted under the bundle's own name: replaced by the bundle, its target untouched
    process.env.SYNC_RELEASE_BUNDLE_DIR = mine;
    const dir = artifactDir();
    const first = loadReleaseArtifact(dir, "1.10");
    const victim = path.join(bundles, "victim");
    fs.writeFileSync(victim, "precious");
    fs.rmSync(first.bundlePath);
    fs.symlinkSync(victim, first.bundlePath);
    const again = loadReleaseArtifact(dir, "1.10");
    expect(fs.readFileSync(victim, "utf8")).toBe("precious");
    expect(fs.lstatSync(again.bundlePath).isFile()).toBe(true);
    expect(sha(fs.readFileSync(again.bundlePath))).toBe(first.bundleSha256);
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
    expect(fs.readdirSync(bundles).sort()).toEqual([`${first.bundleSha256}.tar`, "keep.txt"].sort());
    expect(fs.statSync(first.bundlePath).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    // removed meanwhile: written again, byte for byte
    fs.rmSync(first.bundlePath);
    expect(loadReleaseArtifact(dir, "1.10")).toEqual(first);
    expect(sha(fs.readFileSync(first.bundlePath))).toBe(first.bundleSha256);
    expect(pruneBundles(bundles, Date.now() + 1000)).toEqual([`${first.bundleSha256}.tar`]);
});
