// The sample app (test/fixtures/weave-server) as a release starts from it: a git (or hg) work tree
// of its sources stamped with a version (tools/stamp.py), committed. The release tier uses it, and so can
// the engine tier, in-process or from the command line:
//   npx ts-node release/sampleApp.ts <version> <artifact dir> [--extra-dep NAME==VERSION]
// (stages the sources in a temp folder, releases them into <artifact dir>, prints the summary).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseError } from "./plan";
import { ReleaseResult, errorReport, release, summary } from "./release";

export const FIXTURE = path.resolve(__dirname, "../test/fixtures/weave-server");

export interface SampleAppOptions {
    /** One more pinned runtime dependency (stamp.py --extra-dep), e.g. "MarkupSafe==2.1.5". */
    extraDep?: string;
    /** More files for the project, by path relative to it (e.g. tests). */
    files?: Record<string, string>;
    /** The work tree's version control (default git; hg as the seed has it). */
    vcs?: "git" | "hg";
}

/** The identity commits of the sample app are made with: the sources, not who ran the test, matter. */
const AUTHOR = "sync-release <sync-release@localhost>";

/** Commit everything in `dir`, a git work tree or, when `dir` holds .hg, an hg one. */
export function commitAll(dir: string, message: string): void {
    if (fs.existsSync(path.join(dir, ".hg"))) {
        const hg = (...args: string[]) =>
            execFileSync("hg", args, {
                cwd: dir,
                env: { ...process.env, HGPLAIN: "1" },
                stdio: ["ignore", "pipe", "pipe"],
            });
        hg("addremove", "--quiet");
        hg("commit", "--quiet", "--user", AUTHOR, "--message", message);
        return;
    }
    const git = (...args: string[]) =>
        execFileSync(
            "git",
            ["-C", dir, "-c", "user.name=sync-release", "-c", "user.email=sync-release@localhost", ...args],
            {
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
    git("add", "--all");
    git("commit", "--quiet", "--allow-empty", "-m", message);
}

/** A git (or hg) work tree at `dir` (created) of the sample app stamped with `version`, committed. */
export function stageSampleApp(dir: string, version: string, options: SampleAppOptions = {}): string {
    fs.mkdirSync(dir, { recursive: true });
    // The files scripts/build-releases.sh stages, so both make the same sdist of a version.
    for (const entry of ["pyproject.toml", "weave", "tools"]) {
        fs.cpSync(path.join(FIXTURE, entry), path.join(dir, entry), {
            recursive: true,
            filter: (from) => !/__pycache__|\.pyc$/.test(from),
        });
    }
    const stamp = ["python3", path.join(FIXTURE, "tools/stamp.py"), dir, version];
    if (options.extraDep) {
        stamp.push("--extra-dep", options.extraDep);
    }
    execFileSync(stamp[0], stamp.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    for (const [file, text] of Object.entries(options.files ?? {})) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
    }
    if (options.vcs === "hg") {
        execFileSync("hg", ["init", dir], { stdio: ["ignore", "pipe", "pipe"] });
    } else {
        execFileSync("git", ["init", "--quiet", dir]);
    }
    commitAll(dir, `WeaveServer ${version}`);
    return dir;
}

/**
 * The sample app at `version`, from source to `artifactDir` through the release command:
 * tests, sdist, wheelhouse (with the pinned uv), offline verification, SHA256SUMS. The sources are
 * staged in a temp git work tree, tagged there and removed afterwards.
 */
export function releaseSampleApp(version: string, artifactDir: string, options: SampleAppOptions = {}): ReleaseResult {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-sample-app-"));
    try {
        stageSampleApp(path.join(dir, "WeaveServer"), version, options);
        return release({ source: path.join(dir, "WeaveServer"), artifacts: artifactDir, allowDirty: false });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const [version, artifactDir, flag, extraDep, ...rest] = process.argv.slice(2);
    if (!version || !artifactDir || rest.length > 0 || (flag !== undefined && (flag !== "--extra-dep" || !extraDep))) {
        process.stderr.write(
            "usage: npx ts-node release/sampleApp.ts <version> <artifact dir> [--extra-dep NAME==VERSION]\n",
        );
        process.exit(2);
    }
    try {
        process.stdout.write(`${summary(releaseSampleApp(version, artifactDir, { extraDep }))}\n`);
    } catch (error) {
        if (!(error instanceof ReleaseError)) {
            throw error;
        }
        process.stderr.write(errorReport(error));
        process.exit(1);
    }
}
