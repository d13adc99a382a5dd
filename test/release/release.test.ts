// The release command for real: `npm run release`'s script run as a child process on projects
// staged in temp folders (git and hg work trees, and a plain folder), building inside the fleet's rootfs and fetching from the package index;
// a fleet host (SYNC_FLEET_ID, started by scripts/test-all.sh) installs one release offline.
// Needs root, the rootfs, the index and a running fleet; nothing here is skipped without them.
import { execFile, execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadReleaseArtifact } from "../../components/artifacts";
import { hostLayoutValue } from "../../components/hostLayout";
import { commitAll, stageSampleApp } from "../../release/sampleApp";

const REPO = path.resolve(__dirname, "../..");
const UV_WHEEL = hostLayoutValue("SYNC_UV_WHEEL");
const PACKAGING = "packaging-24.2-py3-none-any.whl";
const SETUPTOOLS = "setuptools-69.2.0-py3-none-any.whl";
const WHEEL = "wheel-0.43.0-py3-none-any.whl";

let tmp: string;
beforeAll(() => {
    if (process.getuid?.() !== 0) {
        throw new Error("the release tier needs root (the release builds inside the fleet's rootfs)");
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sync-release-tier-"));
});
afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

/** The release command, as `npm run release -- …` runs it. */
function releaseCli(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(
            "node",
            ["-r", "ts-node/register/transpile-only", "release/release.ts", ...args],
            { cwd: REPO, maxBuffer: 64 << 20, timeout: 900_000 },
            (error, stdout, stderr) => {
                resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
            },
        );
    });
}

const lastLine = (text: string) => text.trimEnd().split("\n").slice(-1)[0];
const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Every file of a folder with its sha256 and mtime: what "unchanged" means. */
function folderState(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (!fs.existsSync(dir)) {
        return out;
    }
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
        const file = path.join(entry.parentPath, entry.name);
        if (entry.isFile()) {
            out[path.relative(dir, file)] = `${sha(file)} ${fs.statSync(file).mtimeMs}`;
        }
    }
    return out;
}

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();
const tags = (dir: string) => git(dir, "tag", "--list").split("\n").filter(Boolean);

describe("the sample app", () => {
    let app: string;
    let artifacts: string;
    let first: Run;
    beforeAll(async () => {
        app = stageSampleApp(path.join(tmp, "app"), "1.1.4");
        artifacts = path.join(tmp, "artifacts");
        first = await releaseCli(app, artifacts);
    });

    test("released into an empty folder: sdist, wheelhouse with the pinned uv, SHA256SUMS, tag, next commands", () => {
        expect(first.stderr).toContain("release: tests: none found (no test_*.py or *_test.py)");
        expect(first.code).toBe(0);
        expect(first.stdout.trimEnd().split("\n").slice(-5)).toEqual([
            "next:",
            `  pulumi config set sync:artifactDir ${artifacts}`,
            "  pulumi config set sync:version 1.1.4",
            "  pulumi preview --diff",
            "  pulumi up",
        ]);
        expect(Object.keys(folderState(artifacts)).sort()).toEqual([
            "SHA256SUMS",
            "WeaveServer-1.1.4.tar.gz",
            `wheelhouse/${PACKAGING}`,
            `wheelhouse/${SETUPTOOLS}`,
            `wheelhouse/${UV_WHEEL}`,
            `wheelhouse/${WHEEL}`,
        ]);
        execFileSync("sha256sum", ["--strict", "--quiet", "-c", "SHA256SUMS"], { cwd: artifacts });
        expect(sha(path.join(artifacts, "wheelhouse", UV_WHEEL))).toBe(hostLayoutValue("SYNC_UV_SHA256"));
        expect(tags(app)).toEqual(["v1.1.4"]);
        expect(git(app, "rev-parse", "v1.1.4^{commit}")).toBe(git(app, "rev-parse", "HEAD"));
        // What the stack reads from the folder on `pulumi up`.
        const artifact = loadReleaseArtifact(artifacts, "1.1.4");
        expect(artifact.sha256).toBe(sha(path.join(artifacts, "WeaveServer-1.1.4.tar.gz")));
        expect(artifact.wheelhousePath).toBe(path.join(artifacts, "wheelhouse"));
    });

    test("the very bytes scripts/build-releases.sh makes of 1.1.4 for the fleet and engine tiers", async () => {
        const fixtures = path.join(tmp, "fixture-releases");
        execFileSync(path.join(REPO, "scripts/build-releases.sh"), [fixtures], { stdio: "ignore" });
        expect(sha(path.join(artifacts, "WeaveServer-1.1.4.tar.gz"))).toBe(
            sha(path.join(fixtures, "WeaveServer-1.1.4.tar.gz")),
        );
        expect(fs.readdirSync(path.join(fixtures, "wheelhouse")).sort()).toEqual(
            fs.readdirSync(path.join(artifacts, "wheelhouse")).sort(),
        );
    });

    test("reproducible: another checkout of the same sources gives the same bytes, and the folder is left as it was", async () => {
        const before = folderState(artifacts);
        const clone = path.join(tmp, "clone");
        execFileSync("git", ["clone", "--quiet", app, clone]);
        const again = await releaseCli(clone, artifacts);
        expect(again.code).toBe(0);
        expect(again.stdout.split("\n")[0]).toBe(
            `WeaveServer 1.1.4 was released already with these very bytes: ${artifacts}/WeaveServer-1.1.4.tar.gz unchanged`,
        );
        expect(folderState(artifacts)).toEqual(before);
    });

    test("a dirty work tree is refused before anything is built; nothing written", async () => {
        const before = folderState(artifacts);
        fs.appendFileSync(path.join(app, "weave/server/late.py"), "# edited\n");
        fs.writeFileSync(path.join(app, "notes.txt"), "untracked\n");
        const r = await releaseCli(app, artifacts);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toBe(
            `release: error: ${app} has uncommitted changes (notes.txt, weave/server/late.py): commit them, or pass --allow-dirty to release the work tree as it is (untagged)`,
        );
        expect(r.stderr).not.toContain("release: sources:");
        expect(folderState(artifacts)).toEqual(before);
        git(app, "checkout", "--", "weave/server/late.py");
        fs.rmSync(path.join(app, "notes.txt"));
    });

    test("a re-cut (other sources, same version) is refused; the folder and the tag stay as they were", async () => {
        const before = folderState(artifacts);
        const tagged = git(app, "rev-parse", "v1.1.4^{commit}");
        fs.appendFileSync(path.join(app, "weave/server/late.py"), "# a fix, released again as 1.1.4\n");
        commitAll(app, "a fix");
        const r = await releaseCli(app, artifacts);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toMatch(
            new RegExp(
                `^release: error: ${artifacts}/WeaveServer-1\\.1\\.4\\.tar\\.gz is already released with other bytes \\(sha256 ${before["WeaveServer-1.1.4.tar.gz"].split(" ")[0]}, this build [0-9a-f]{64}\\): a re-cut needs a new version$`,
            ),
        );
        expect(folderState(artifacts)).toEqual(before);
        expect(git(app, "rev-parse", "v1.1.4^{commit}")).toBe(tagged);
    });

    test("--allow-dirty releases the work tree as it is, untagged, beside the versions already there", async () => {
        const before = folderState(artifacts);
        execFileSync("python3", [path.join(REPO, "test/fixtures/weave-server/tools/stamp.py"), app, "1.1.5"]);
        const r = await releaseCli(app, artifacts, "--allow-dirty");
        expect(r.code).toBe(0);
        expect(r.stdout).toContain("  not tagged: the work tree had uncommitted changes (--allow-dirty)");
        expect(r.stdout).toContain("  wheelhouse: nothing to add");
        const after = folderState(artifacts);
        for (const [file, state] of Object.entries(before)) {
            if (file !== "SHA256SUMS") {
                expect(`${file} ${after[file]}`).toBe(`${file} ${state}`);
            }
        }
        expect(Object.keys(after).filter((f) => !(f in before))).toEqual(["WeaveServer-1.1.5.tar.gz"]);
        execFileSync("sha256sum", ["--strict", "--quiet", "-c", "SHA256SUMS"], { cwd: artifacts });
        expect(fs.readFileSync(path.join(artifacts, "SHA256SUMS"), "utf8")).toContain("  WeaveServer-1.1.5.tar.gz\n");
        expect(tags(app)).toEqual(["v1.1.4"]);
    });

    test("a failing test of the app stops the release: nothing written, no tag", async () => {
        const failing = stageSampleApp(path.join(tmp, "failing"), "1.3.0", {
            files: {
                "tests/test_version.py": [
                    "import weave.server.wsgi as app",
                    "",
                    "def test_version():",
                    '    assert app.VERSION == "9.9", "SENTINEL-FAILING-TEST"',
                    "",
                ].join("\n"),
            },
        });
        const before = folderState(artifacts);
        const r = await releaseCli(failing, artifacts);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toBe("release: error: test: the tests failed (python -m pytest exited 1)");
        expect(r.stderr).toContain("SENTINEL-FAILING-TEST");
        expect(r.stderr).not.toContain("built the sdist");
        expect(folderState(artifacts)).toEqual(before);
        expect(tags(failing)).toEqual([]);
    });
});

describe("the sample app from an hg work tree (the seed tags its releases in Mercurial)", () => {
    const hg = (dir: string, ...args: string[]) =>
        execFileSync("hg", args, { cwd: dir, encoding: "utf8", env: { ...process.env, HGPLAIN: "1" } }).trim();
    const node = (dir: string, rev: string) => hg(dir, "log", "-r", rev, "-T", "{node}");
    let app: string;
    let artifacts: string;
    let first: Run;
    let sources: string;
    beforeAll(async () => {
        app = stageSampleApp(path.join(tmp, "hg-app"), "1.1.4", { vcs: "hg" });
        sources = node(app, ".");
        artifacts = path.join(tmp, "hg-artifacts");
        first = await releaseCli(app, artifacts);
    });

    test("released: the very bytes a git work tree of the same sources gives; tagged v1.1.4 by a commit of .hgtags on top, the work tree clean", () => {
        expect(first.code).toBe(0);
        expect(first.stderr).toMatch(
            new RegExp(`^release: sources: ${app} at hg revision ${sources.slice(0, 12)}$`, "m"),
        );
        expect(first.stdout).toContain("\n  tag: v1.1.4\n");
        const fixtures = path.join(tmp, "hg-fixture-releases");
        execFileSync(path.join(REPO, "scripts/build-releases.sh"), [fixtures], { stdio: "ignore" });
        expect(sha(path.join(artifacts, "WeaveServer-1.1.4.tar.gz"))).toBe(
            sha(path.join(fixtures, "WeaveServer-1.1.4.tar.gz")),
        );
        execFileSync("sha256sum", ["--strict", "--quiet", "-c", "SHA256SUMS"], { cwd: artifacts });
        // hg tag: a commit of .hgtags on the released revision, which the work tree now has checked out
        expect(hg(app, "tags", "-T", "{tag}={node}\n").split("\n").slice(1)).toEqual([`v1.1.4=${sources}`]);
        expect(hg(app, "log", "-r", ".", "-T", "{p1node} {files} {desc}")).toBe(
            `${sources} .hgtags Added tag v1.1.4 for changeset ${sources.slice(0, 12)}`,
        );
        expect(hg(app, "status")).toBe("");
    });

    test("released again from its tag commit: the same revision, the same bytes, no new commit", async () => {
        const before = folderState(artifacts);
        const tip = node(app, "tip");
        const again = await releaseCli(app, artifacts);
        expect(again.code).toBe(0);
        expect(again.stderr).toContain(
            `release: sources: ${app} at hg revision ${sources.slice(0, 12)} (checked out: its tag commit ${tip.slice(0, 12)})`,
        );
        expect(again.stdout.split("\n")[0]).toBe(
            `WeaveServer 1.1.4 was released already with these very bytes: ${artifacts}/WeaveServer-1.1.4.tar.gz unchanged`,
        );
        expect(again.stdout).toContain("\n  tag: v1.1.4\n");
        expect(folderState(artifacts)).toEqual(before);
        expect(node(app, "tip")).toBe(tip);
    });

    test("a dirty work tree is refused before anything is built; nothing written", async () => {
        const before = folderState(artifacts);
        fs.appendFileSync(path.join(app, "weave/server/late.py"), "# edited\n");
        fs.writeFileSync(path.join(app, "notes.txt"), "untracked\n");
        const r = await releaseCli(app, artifacts);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toBe(
            `release: error: ${app} has uncommitted changes (notes.txt, weave/server/late.py): commit them, or pass --allow-dirty to release the work tree as it is (untagged)`,
        );
        expect(r.stderr).not.toContain("release: sources:");
        expect(folderState(artifacts)).toEqual(before);
        hg(app, "revert", "--no-backup", "weave/server/late.py");
        fs.rmSync(path.join(app, "notes.txt"));
    });

    test("a re-cut (other sources, same version) is refused by the tag before anything is published, even into a new folder", async () => {
        fs.appendFileSync(path.join(app, "weave/server/late.py"), "# a fix, released again as 1.1.4\n");
        commitAll(app, "a fix");
        const fixed = node(app, ".");
        const fresh = path.join(tmp, "hg-artifacts-fresh");
        const r = await releaseCli(app, fresh);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toBe(
            `release: error: tag v1.1.4 already names revision ${sources}, not the work tree's revision ${fixed}: a re-cut needs a new version`,
        );
        expect(fs.existsSync(fresh)).toBe(false);
        expect(node(app, "tip")).toBe(fixed);
        expect(hg(app, "tags", "-T", "{tag}={node}\n").split("\n").slice(1)).toEqual([`v1.1.4=${sources}`]);
    });
});

test("a dependency with compiled cp311 manylinux wheels (MarkupSafe) gets the hosts' wheel and installs offline on a fleet host", async () => {
    const fleet = path.join(REPO, "scripts/fleet.sh");
    expect(execFileSync(fleet, ["status"], { encoding: "utf8" })).toMatch(/^sync-1\t\S+\tup$/m);
    const app = stageSampleApp(path.join(tmp, "markup"), "1.4.0", {
        extraDep: "MarkupSafe==2.1.5",
        files: {
            "tests/test_markup.py": [
                "import markupsafe",
                "import markupsafe._speedups as speedups  # the C extension",
                "",
                "def test_escapes_with_the_compiled_speedups():",
                "    assert markupsafe.escape is speedups.escape",
                '    assert str(markupsafe.escape("<a>")) == "&lt;a&gt;"',
                "",
            ].join("\n"),
        },
    });
    const artifacts = path.join(tmp, "markup-artifacts");
    const r = await releaseCli(app, artifacts);
    expect(r.stderr).toMatch(/^release: tests passed: python -m pytest \[default/m);
    expect(r.code).toBe(0);
    const wheels = fs.readdirSync(path.join(artifacts, "wheelhouse")).sort();
    expect(wheels).toEqual(
        [
            "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            PACKAGING,
            SETUPTOOLS,
            UV_WHEEL,
            WHEEL,
        ].sort(),
    );

    // On the host: the folder as Ops would ship it, an offline install with the host's own
    // python3.11 and pip (the host has no route out), the hosts' import check, the C extension.
    execFileSync(fleet, ["exec", "sync-1", "bash", "-c", "rm -rf /tmp/rel && mkdir /tmp/rel"]);
    execFileSync("bash", ["-c", 'tar -c -C "$1" . | "$2" exec sync-1 tar -x -C /tmp/rel', "-", artifacts, fleet]);
    const script = [
        "set -e",
        "python3.11 -m venv /tmp/rel/venv",
        "/tmp/rel/venv/bin/pip install --quiet --no-index --find-links /tmp/rel/wheelhouse /tmp/rel/WeaveServer-1.4.0.tar.gz",
        "cd /",
        "SYNC_INI=/dev/null /tmp/rel/venv/bin/python -c 'import weave.server.wsgi'",
        `/tmp/rel/venv/bin/python -c 'import importlib.metadata as m, markupsafe._speedups as s; print(m.version("WeaveServer"), m.version("MarkupSafe"), s.__file__.rsplit("/", 1)[1])'`,
    ].join("\n");
    const out = execFileSync(fleet, ["exec", "sync-1", "bash", "-c", script], { encoding: "utf8" });
    expect(out.trim()).toBe("1.4.0 2.1.5 _speedups.cpython-311-x86_64-linux-gnu.so");
    execFileSync(fleet, ["exec", "sync-1", "rm", "-rf", "/tmp/rel"]);
});

test("another project: its own name and build backend (hatchling), the WSGI module from pyproject.toml, not a git work tree", async () => {
    const app = path.join(tmp, "echo");
    const files: Record<string, string> = {
        "pyproject.toml": [
            "[build-system]",
            'requires = ["hatchling==1.27.0"]',
            'build-backend = "hatchling.build"',
            "",
            "[project]",
            'name = "echo-app"',
            'version = "0.3.0"',
            "",
            "[tool.hatch.build.targets.wheel]",
            'packages = ["echo_app"]',
            "",
            "[tool.sync-release]",
            'wsgi-module = "echo_app.wsgi"',
            "",
        ].join("\n"),
        "echo_app/__init__.py": "",
        "echo_app/wsgi.py": [
            "def application(environ, start_response):",
            '    start_response("200 OK", [("Content-Type", "text/plain")])',
            '    return [b"echo"]',
            "",
        ].join("\n"),
    };
    for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
        fs.writeFileSync(path.join(app, file), text);
    }
    const artifacts = path.join(tmp, "echo-artifacts");

    // The flag wins over pyproject.toml, and a module the release lacks fails the verification.
    const wrong = await releaseCli(app, artifacts, "--wsgi-module", "echo_app.missing");
    expect(wrong.code).toBe(1);
    expect(lastLine(wrong.stderr)).toBe(
        "release: error: verify: pip: importing echo_app.missing failed in the installed release",
    );
    expect(fs.existsSync(artifacts)).toBe(false);

    const r = await releaseCli(app, artifacts);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(
        new RegExp(`^released echo-app 0\\.3\\.0: ${artifacts}/echo_app-0\\.3\\.0\\.tar\\.gz `),
    );
    expect(r.stdout).toContain("  not tagged: the sources are not a git or hg work tree");
    expect(lastLine(r.stdout)).toBe(
        "note: this stack deploys WeaveServer-<version> sdists only (components/remote/layout.sh); no sync:version picks echo_app-0.3.0.tar.gz",
    );
    const wheels = fs.readdirSync(path.join(artifacts, "wheelhouse"));
    expect(wheels.map((w) => w.split("-")[0]).sort()).toEqual([
        "hatchling",
        "packaging",
        "pathspec",
        "pluggy",
        "trove_classifiers",
        "uv",
    ]);
});
