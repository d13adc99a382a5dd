// `npm run release -- <app source dir> <artifact dir>`: the seed's release process in one command.
// Test, build for the hosts, verify as a host will, tag, publish — in that order, so a failure
// anywhere leaves the artifact folder and the tags as they were:
//   1. the sources: a clean git or hg work tree (or --allow-dirty), copied as the released
//      revision has them (git's HEAD, hg's checked-out revision: source.ts);
//   2. the project's own tests, in a fresh venv on the hosts' platform;
//   3. the sdist, built by the project's backend and made reproducible; its version, normalized
//      PEP 440 by the rule of sync:version, not already released with other bytes;
//   4. the wheelhouse: runtime dependencies, [build-system] requirements, the pinned uv wheel;
//   5. an offline install with pip and with uv into fresh venvs with no network, the hosts'
//      import check and the installed version;
//   6. the tag v<version> (`git tag`, or `hg tag`: a commit of .hgtags); the sdist, new wheels
//      and SHA256SUMS into the artifact folder (a failure there takes the tag back).
// Steps 2–5 run inside the fleet's Debian 12 rootfs (sandbox.ts), so compiled dependencies get
// the hosts' wheels whatever the deployer runs. Needs root (mounts, chroot), git or hg, and the package
// index for steps 2–4. The upload stays `pulumi up`'s job.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { sha256 } from "../components/digest";
import { hostLayoutValue } from "../components/hostLayout";
import { FolderState, readFolder, publish } from "./folder";
import {
    BuiltSdist,
    ProjectInfo,
    ReleaseArgs,
    ReleaseError,
    ReleaseNames,
    ReleaseSettings,
    SDIST_EPOCH,
    USAGE,
    nextCommands,
    parseReleaseArgs,
    publishDecision,
    releaseNames,
    releaseSettings,
    tagName,
    uvWheelProblem,
    wheelsToAdd,
} from "./plan";
import { SANDBOX_UID, logTail, runStep } from "./sandbox";
import {
    MadeTag,
    SourceState,
    checkClean,
    checkTag,
    snapshot,
    sourceState,
    tag,
    untag,
    untaggedReason,
} from "./source";

export interface ReleaseOptions extends ReleaseArgs {
    /** Progress lines (default: stderr, prefixed `release: `). */
    progress?: (line: string) => void;
}

export interface ReleaseResult {
    dist: string;
    version: string;
    /** The sdist in the artifact folder, absolute. */
    sdistPath: string;
    sha256: string;
    /** False when the folder held these very bytes already (a re-run): nothing was written but missing wheels. */
    sdistWritten: boolean;
    wheelsAdded: string[];
    /** `v<version>` when the sources are a clean work tree (made now, or found on the released revision). */
    tag?: string;
    /** Why there is no tag. */
    untagged?: string;
    /** The test command run, or undefined when the project has no tests. */
    tests?: string[];
    /** Whether this stack deploys it (the WeaveServer distribution). */
    deployable: boolean;
    nextCommands: string[];
    seconds: number;
}

function chownTree(dir: string): void {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
        fs.lchownSync(path.join(entry.parentPath, entry.name), SANDBOX_UID, SANDBOX_UID);
    }
    fs.chownSync(dir, SANDBOX_UID, SANDBOX_UID);
}

function inside(child: string, parent: string): boolean {
    const rel = path.relative(parent, child);
    return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

const WHEELS = () => hostLayoutValue("SYNC_BUNDLE_WHEELS");

/** One release under way: its inputs, its work folder (bound at /release in every step), its log. */
interface Run {
    source: SourceState;
    artifacts: string;
    /** The artifact folder as it was when the release started. */
    before: FolderState;
    work: string;
    log: string;
    progress: (line: string) => void;
}

/** Run `fn`, then report `what` with how long it took. */
function timed<T>(run: Run, what: string, fn: () => T): T {
    const t0 = Date.now();
    const result = fn();
    run.progress(`${what} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    return result;
}

/** The folders and the sources, checked before anything is copied or run. */
function checkInputs(options: ReleaseOptions): Omit<Run, "work" | "log"> {
    const progress = options.progress ?? ((line: string) => process.stderr.write(`release: ${line}\n`));
    const source = path.resolve(options.source);
    const artifacts = path.resolve(options.artifacts);
    if (!fs.statSync(source, { throwIfNoEntry: false })?.isDirectory()) {
        throw new ReleaseError(`source folder ${source} does not exist`);
    }
    if (!fs.existsSync(path.join(source, "pyproject.toml"))) {
        throw new ReleaseError(`${source} has no pyproject.toml: not a Python project this command can release`);
    }
    if (inside(artifacts, source) || inside(source, artifacts)) {
        throw new ReleaseError(
            `the artifact folder ${artifacts} and the source folder ${source} must not contain each other`,
        );
    }
    if (process.getuid?.() !== 0) {
        throw new ReleaseError("must run as root: the build runs in the fleet's rootfs (mounts, chroot)");
    }
    const state = sourceState(source);
    checkClean(state, options.allowDirty);
    const dirty = state.dirty.length ? ` with ${state.dirty.length} uncommitted change(s) (--allow-dirty)` : "";
    progress(
        state.vcs
            ? `sources: ${source} at ${state.vcs} ${state.vcs === "git" ? "commit" : "revision"} ${state.revision?.slice(0, 12)}${state.checkedOut ? ` (checked out: its tag commit ${state.checkedOut.slice(0, 12)})` : ""}${dirty}`
            : `sources: ${source} (not a git or hg work tree)`,
    );
    return { source: state, artifacts, before: readFolder(artifacts), progress };
}

/**
 * The pinned uv wheel at /release/tools, checked against layout.sh before any step runs it: the
 * folder's copy when it has the right one, else from the index.
 */
function obtainUv(run: Run): string {
    const name = hostLayoutValue("SYNC_UV_WHEEL");
    const tools = path.join(run.work, "tools");
    const inFolder = run.before.files.find((f) => f.name === `${WHEELS()}/${name}`);
    if (inFolder && !uvWheelProblem(name, inFolder.sha256)) {
        fs.copyFileSync(path.join(run.artifacts, WHEELS(), name), path.join(tools, name));
    } else {
        const pin = `uv==${hostLayoutValue("SYNC_UV_VERSION")}`;
        timed(run, `fetched ${pin}`, () =>
            runStep("fetch-uv", ["--uv", pin, "--out", "/release/tools"], { ...run, online: true }),
        );
    }
    const got = fs.readdirSync(tools);
    const problem =
        got.length === 1
            ? uvWheelProblem(got[0], sha256(fs.readFileSync(path.join(tools, got[0]))))
            : `uv wheel: got ${got.join(", ") || "nothing"}`;
    if (problem) {
        throw new ReleaseError(problem);
    }
    return `/release/tools/${name}`;
}

/** The project's own tests in a fresh venv, on a copy of the sources (they may write to their folder). */
function runTests(run: Run, settings: ReleaseSettings, uvWheel: string): void {
    const tests = settings.tests;
    if (!tests) {
        run.progress(
            "tests: none found (no test_*.py or *_test.py); set [tool.sync-release] test-command to run others",
        );
        return;
    }
    fs.cpSync(path.join(run.work, "src"), path.join(run.work, "test-src"), { recursive: true, verbatimSymlinks: true });
    chownTree(path.join(run.work, "test-src"));
    const args = ["--src", "/release/test-src", "--venv", "/release/test-venv", "--uv-wheel", uvWheel];
    if (tests.extra) {
        args.push("--extra", tests.extra);
    }
    args.push(...tests.add.flatMap((req) => ["--add", req]), "--", ...tests.command);
    timed(run, `tests passed: ${tests.command.join(" ")} [${tests.origin}]`, () =>
        runStep("test", args, { ...run, online: true }),
    );
}

/** The sdist, its names and sha256; refuses a re-cut now (publish checks again under the lock). */
function buildSdist(
    run: Run,
    uvWheel: string,
): { built: BuiltSdist; names: ReleaseNames; path: string; sha256: string } {
    const built = timed(run, "built the sdist", () =>
        runStep(
            "build",
            ["--src", "/release/src", "--out", "/release/sdist", "--epoch", String(SDIST_EPOCH), "--uv-wheel", uvWheel],
            {
                ...run,
                online: true,
            },
        ),
    ) as unknown as BuiltSdist;
    const names = releaseNames(built);
    const file = path.join(run.work, "sdist", built.file);
    const digest = sha256(fs.readFileSync(file));
    run.progress(`${names.dist} ${names.version}: ${names.sdistName} sha256 ${digest}`);
    for (const req of names.unpinned) {
        run.progress(
            `warning: build requirement ${JSON.stringify(req)} is not pinned with ==: the same sources may build other bytes later`,
        );
    }
    publishDecision(run.before.files, run.artifacts, names.sdistName, digest);
    checkTag(run.source, names.version);
    return { built, names, path: file, sha256: digest };
}

/**
 * The release's wheels, and at /release/wheelhouse what a host will install from: the folder's
 * wheelhouse plus those of the release's wheels it lacks. Returns the ones to add.
 */
function buildWheelhouse(run: Run, built: BuiltSdist, uvWheel: string): string[] {
    const args = [
        "--sdist",
        `/release/sdist/${built.file}`,
        "--dist",
        built.name,
        "--out",
        "/release/wheels-new",
        "--uv-wheel",
        uvWheel,
    ];
    args.push(...built.buildRequires.flatMap((r) => ["--require", r]));
    const result = timed(run, "built the wheelhouse", () => runStep("wheelhouse", args, { ...run, online: true })) as {
        wheels: string[];
    };
    const adding = wheelsToAdd(result.wheels, run.before.wheels);
    const merged = path.join(run.work, "wheelhouse");
    fs.mkdirSync(merged);
    for (const wheel of run.before.wheels) {
        fs.copyFileSync(path.join(run.artifacts, WHEELS(), wheel), path.join(merged, wheel));
    }
    for (const wheel of adding) {
        fs.copyFileSync(path.join(run.work, "wheels-new", wheel), path.join(merged, wheel));
    }
    const uvName = hostLayoutValue("SYNC_UV_WHEEL");
    const uvProblem = uvWheelProblem(uvName, sha256(fs.readFileSync(path.join(merged, uvName))));
    if (uvProblem) {
        throw new ReleaseError(`${path.join(run.artifacts, WHEELS())}: ${uvProblem}`);
    }
    chownTree(merged);
    return adding.map((w) => path.join(run.work, "wheels-new", w));
}

/** As a host will: offline installs (pip, and uv) into fresh venvs, the import check, the version. */
function verifyInstall(run: Run, built: BuiltSdist, names: ReleaseNames, settings: ReleaseSettings): void {
    const args = [
        "--sdist",
        `/release/sdist/${built.file}`,
        "--wheelhouse",
        "/release/wheelhouse",
        "--dist",
        names.dist,
    ];
    args.push(
        "--version",
        names.version,
        "--wsgi-module",
        settings.wsgiModule,
        "--uv-wheel",
        hostLayoutValue("SYNC_UV_WHEEL"),
    );
    timed(run, "verified offline: pip and uv install, import check, version", () =>
        runStep("verify", args, { ...run, online: false }),
    );
}

/** Release the project in `options.source` into `options.artifacts` (see the header). */
export function release(options: ReleaseOptions): ReleaseResult {
    const started = Date.now();
    const inputs = checkInputs(options);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "sync-release-"));
    const run: Run = { ...inputs, work, log: path.join(work, "release.log") };
    let made: MadeTag | undefined;
    try {
        fs.mkdirSync(path.join(work, "tools"));
        snapshot(run.source, path.join(work, "src"));
        chownTree(work);
        const uvWheel = obtainUv(run);
        const info = runStep("inspect", ["--src", "/release/src"], { ...run, online: false }) as unknown as ProjectInfo;
        const settings = releaseSettings(info, options);
        runTests(run, settings, uvWheel);
        const sdist = buildSdist(run, uvWheel);
        const wheels = buildWheelhouse(run, sdist.built, uvWheel);
        verifyInstall(run, sdist.built, sdist.names, settings);

        made = tag(run.source, sdist.names.version);
        if (made) {
            const on = (run.source.revision as string).slice(0, 12);
            run.progress(
                made.commit
                    ? `tagged ${made.name}: hg commit ${made.commit.slice(0, 12)} of .hgtags, naming revision ${on}`
                    : `tagged ${made.name}: commit ${on}`,
            );
        }
        const published = publish(run.artifacts, {
            sdistName: sdist.names.sdistName,
            sdistPath: sdist.path,
            sha256: sdist.sha256,
            wheels,
        });
        const untagged = untaggedReason(run.source);
        return {
            dist: sdist.names.dist,
            version: sdist.names.version,
            sdistPath: path.join(run.artifacts, sdist.names.sdistName),
            sha256: sdist.sha256,
            sdistWritten: published.sdistWritten,
            wheelsAdded: published.wheelsAdded,
            tag: untagged ? undefined : tagName(sdist.names.version),
            untagged,
            tests: settings.tests?.command,
            deployable: sdist.names.deployable,
            nextCommands: sdist.names.deployable ? nextCommands(run.artifacts, sdist.names.version) : [],
            seconds: Math.round((Date.now() - started) / 100) / 10,
        };
    } catch (error) {
        if (made) {
            untag(run.source, made);
        }
        if (error instanceof ReleaseError && fs.existsSync(run.log)) {
            const kept = path.join(os.tmpdir(), `sync-release-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
            fs.copyFileSync(run.log, kept);
            throw new ReleaseError(error.message, error.logTail ?? logTail(run.log), kept);
        }
        throw error;
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

/** The summary the command prints on stdout. */
export function summary(r: ReleaseResult): string {
    const lines = [
        r.sdistWritten
            ? `released ${r.dist} ${r.version}: ${r.sdistPath} (sha256 ${r.sha256}) in ${r.seconds}s`
            : `${r.dist} ${r.version} was released already with these very bytes: ${r.sdistPath} unchanged`,
        `  wheelhouse: ${r.wheelsAdded.length ? `added ${r.wheelsAdded.join(", ")}` : "nothing to add"}`,
        `  tests: ${r.tests ? r.tests.join(" ") : "none found"}`,
        r.tag ? `  tag: ${r.tag}` : `  not tagged: ${r.untagged}`,
    ];
    if (r.deployable) {
        lines.push("next:", ...r.nextCommands.map((c) => `  ${c}`));
    } else {
        lines.push(
            `note: this stack deploys ${hostLayoutValue("SYNC_RELEASE_PREFIX")}<version> sdists only (components/remote/layout.sh); no sync:version picks ${path.basename(r.sdistPath)}`,
        );
    }
    return lines.join("\n");
}

/** How the command reports a failure on stderr: the log's tail, where the log is, the error last. */
export function errorReport(error: ReleaseError): string {
    const lines: string[] = [];
    if (error.logTail) {
        lines.push(error.logTail.replace(/^/gm, "  | "));
    }
    if (error.logFile) {
        lines.push(`release: full log: ${error.logFile}`);
    }
    lines.push(`release: error: ${error.message}`);
    return `${lines.join("\n")}\n`;
}

function main(argv: string[]): number {
    try {
        const args = parseReleaseArgs(argv);
        if (args === "help") {
            process.stdout.write(`${USAGE}\n`);
            return 0;
        }
        process.stdout.write(`${summary(release(args))}\n`);
        return 0;
    } catch (error) {
        if (!(error instanceof ReleaseError)) {
            throw error;
        }
        process.stderr.write(errorReport(error));
        return 1;
    }
}

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
