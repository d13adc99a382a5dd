// What a release does, decided without touching anything: the command line, the project's
// [tool.sync-release] settings, the tests to run, the version and the file names, what the
// artifact folder already holds, and the commands to print at the end. Pure; release.ts does the
// work and test/unit/releasePlan.test.ts checks every message.
import * as path from "path";
import { sdistFileName } from "../components/artifacts";
import { versionProblem } from "../components/config";
import { sha256sums } from "../components/digest";
import { hostLayoutValue } from "../components/hostLayout";

/** What the hosts import (install.sh's check, runtime.sh's loader): the sample app's WSGI module. */
export const DEFAULT_WSGI_MODULE = "weave.server.wsgi";
/** The default test command, run in the tests' venv when the project has tests. */
export const DEFAULT_TEST_COMMAND = ["python", "-m", "pytest"];
/** The pytest the default command gets when the project's test extra does not name one. */
export const PYTEST_PIN = "pytest==8.3.4";
/**
 * Every member of every sdist gets this mtime (normalize_sdist.py): the same sources give the same
 * bytes whoever builds them and whenever. 2024-01-01, as scripts/build-releases.sh always had.
 */
export const SDIST_EPOCH = 1704067200;
/** The release's tag, in git and hg alike. */
export function tagName(version: string): string {
    return `v${version}`;
}

/** A mistake in the command line, the project or the artifact folder: the message says which. */
export class ReleaseError extends Error {
    constructor(
        message: string,
        /** The last lines of the failed step's log, when a step failed. */
        readonly logTail?: string,
        /** The whole log of the failed release, kept. */
        readonly logFile?: string,
    ) {
        super(message);
        this.name = "ReleaseError";
    }
}

export const USAGE = `usage: npm run release -- <app source dir> <artifact dir> [options]

  --allow-dirty           release a git or hg work tree with uncommitted changes (it is then not tagged)
  --test-command "WORDS"  the project's test command instead of "python -m pytest" (split on
                          spaces, no shell); also [tool.sync-release] test-command = [...]
  --wsgi-module MODULE    the WSGI module the hosts import (default ${DEFAULT_WSGI_MODULE});
                          also [tool.sync-release] wsgi-module = "..."`;

export interface ReleaseArgs {
    source: string;
    artifacts: string;
    allowDirty: boolean;
    testCommand?: string[];
    wsgiModule?: string;
}

const WSGI_MODULE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){0,20}$/;
// Plain words only: a test command is an argument vector, never shell text.
const TEST_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

function wsgiModuleProblem(where: string, value: unknown): string | undefined {
    if (typeof value !== "string" || !WSGI_MODULE.test(value)) {
        return `${where}: ${JSON.stringify(value) ?? String(value)} must be a dotted Python module name such as ${DEFAULT_WSGI_MODULE}`;
    }
    return undefined;
}

function testCommandProblem(where: string, value: unknown): string | undefined {
    const words = Array.isArray(value) ? value : [];
    if (words.length === 0 || words.some((w) => typeof w !== "string" || !TEST_WORD.test(w))) {
        return `${where}: ${JSON.stringify(value)} must be a non-empty list of plain words ([A-Za-z0-9_@%+=:,./-]), e.g. ["python", "-m", "pytest", "-q"]`;
    }
    return undefined;
}

/** The command line after `npm run release --`. Throws ReleaseError (with the usage) on a mistake. */
export function parseReleaseArgs(argv: string[]): ReleaseArgs | "help" {
    const positional: string[] = [];
    let allowDirty = false;
    let testCommand: string[] | undefined;
    let wsgiModule: string | undefined;
    const bad = (message: string): never => {
        throw new ReleaseError(`${message}\n${USAGE}`);
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const [flag, inline] =
            arg.startsWith("--") && arg.includes("=")
                ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
                : [arg, undefined];
        const value = (): string => {
            const v = inline ?? argv[++i];
            if (v === undefined) {
                bad(`${flag} needs a value`);
            }
            return v as string;
        };
        switch (flag) {
            case "-h":
            case "--help":
                return "help";
            case "--allow-dirty":
                if (inline !== undefined) {
                    bad("--allow-dirty takes no value");
                }
                allowDirty = true;
                break;
            case "--test-command": {
                const text = value();
                const words = text
                    .trim()
                    .split(/\s+/)
                    .filter((w) => w !== "");
                const problem = testCommandProblem("--test-command", words);
                if (problem) {
                    bad(
                        /["'\\$`;|&<>()]/.test(text)
                            ? `--test-command ${JSON.stringify(text)}: no shell runs it, so quotes and shell syntax mean nothing; put a list in pyproject.toml [tool.sync-release] test-command, or a script in the project`
                            : problem,
                    );
                }
                testCommand = words;
                break;
            }
            case "--wsgi-module": {
                const module = value();
                const problem = wsgiModuleProblem("--wsgi-module", module);
                if (problem) {
                    bad(problem);
                }
                wsgiModule = module;
                break;
            }
            default:
                if (arg.startsWith("-") && arg !== "-") {
                    bad(`unknown option ${arg}`);
                }
                positional.push(arg);
        }
    }
    if (positional.length !== 2) {
        bad(`expected <app source dir> <artifact dir>, got ${positional.length} argument(s)`);
    }
    const [source, artifacts] = positional;
    if (source === "" || artifacts === "") {
        bad("the source and artifact folders must not be empty strings");
    }
    return { source, artifacts, allowDirty, testCommand, wsgiModule };
}

/** What stage.py `inspect` reads from pyproject.toml. */
export interface ProjectInfo {
    name: string | null;
    /** The [tool.sync-release] table, as TOML gave it (undefined/null when absent). */
    tool?: unknown;
    hasTests: boolean;
    testExtra: string | null;
    testExtraHasPytest: boolean;
}

export interface ReleaseSettings {
    wsgiModule: string;
    /** Undefined: no tests were found and none were configured. */
    tests?: { command: string[]; extra?: string; add: string[]; origin: string };
}

/** The settings of a release: command-line flags over [tool.sync-release] over the defaults. */
export function releaseSettings(
    info: ProjectInfo,
    args: Pick<ReleaseArgs, "testCommand" | "wsgiModule">,
): ReleaseSettings {
    const problems: string[] = [];
    const tool = info.tool ?? {};
    if (typeof tool !== "object" || Array.isArray(tool)) {
        throw new ReleaseError("pyproject.toml: [tool.sync-release] must be a table");
    }
    const table = tool as Record<string, unknown>;
    const known = ["wsgi-module", "test-command"];
    for (const key of Object.keys(table)
        .filter((k) => !known.includes(k))
        .sort()) {
        problems.push(
            `pyproject.toml: [tool.sync-release] has an unknown key ${JSON.stringify(key)} (known: ${known.join(", ")})`,
        );
    }
    if (table["wsgi-module"] !== undefined) {
        const p = wsgiModuleProblem("pyproject.toml: [tool.sync-release] wsgi-module", table["wsgi-module"]);
        if (p) {
            problems.push(p);
        }
    }
    if (table["test-command"] !== undefined) {
        const p = testCommandProblem("pyproject.toml: [tool.sync-release] test-command", table["test-command"]);
        if (p) {
            problems.push(p);
        }
    }
    if (problems.length > 0) {
        throw new ReleaseError(problems.join("\n"));
    }
    const wsgiModule = args.wsgiModule ?? (table["wsgi-module"] as string | undefined) ?? DEFAULT_WSGI_MODULE;
    const extra = info.testExtra ?? undefined;
    const configured = args.testCommand
        ? { command: args.testCommand, origin: "--test-command" }
        : table["test-command"]
          ? { command: table["test-command"] as string[], origin: "[tool.sync-release] test-command" }
          : undefined;
    if (configured) {
        return { wsgiModule, tests: { ...configured, extra, add: [] } };
    }
    if (!info.hasTests) {
        return { wsgiModule };
    }
    return {
        wsgiModule,
        tests: {
            command: DEFAULT_TEST_COMMAND,
            extra,
            add: info.testExtraHasPytest ? [] : [PYTEST_PIN],
            origin: "default (test_*.py / *_test.py found)",
        },
    };
}

/** PEP 503 normalized project name. */
export function canonicalName(name: string): string {
    return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** The distribution the stack deploys (layout.sh SYNC_RELEASE_PREFIX without its dash). */
export function stackDistribution(): string {
    return hostLayoutValue("SYNC_RELEASE_PREFIX").replace(/-$/, "");
}

/** What stage.py `build` reports of the sdist it built. */
export interface BuiltSdist {
    /** Its file name, as the build backend named it. */
    file: string;
    /** Name and Version from its PKG-INFO. */
    name: string;
    version: string;
    buildRequires: string[];
}

export interface ReleaseNames {
    version: string;
    dist: string;
    /** The sdist's name in the artifact folder. */
    sdistName: string;
    /** Whether `pulumi up` of this stack can deploy it. */
    deployable: boolean;
    /** Build requirements not pinned with ==: the same sources may give other bytes later. */
    unpinned: string[];
}

/**
 * The version (normalized PEP 440, by the same rule as sync:version) and the sdist's name in the
 * artifact folder: the stack's own name (WeaveServer-<v>.tar.gz, whatever case or separators the
 * backend wrote) for the stack's distribution; the backend's for any other.
 */
export function releaseNames(built: BuiltSdist): ReleaseNames {
    const problem = versionProblem(`${built.name} version (from its metadata)`, built.version);
    if (problem) {
        throw new ReleaseError(problem);
    }
    // The name travels to the steps and into paths: PEP 508's form only.
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/.test(built.name)) {
        throw new ReleaseError(
            `the sdist's metadata names the project ${JSON.stringify(built.name)}, not a valid distribution name`,
        );
    }
    const version = built.version;
    const expectedSuffix = `-${version}.tar.gz`;
    if (
        !built.file.endsWith(expectedSuffix) ||
        canonicalName(built.file.slice(0, -expectedSuffix.length)) !== canonicalName(built.name)
    ) {
        throw new ReleaseError(`the build wrote ${built.file}, not an sdist of ${built.name} ${version}`);
    }
    const deployable = canonicalName(built.name) === canonicalName(stackDistribution());
    return {
        version,
        dist: built.name,
        sdistName: deployable ? sdistFileName(version) : built.file,
        deployable,
        unpinned: built.buildRequires.filter((r) => !/^[A-Za-z0-9][A-Za-z0-9._-]*\s*===?\s*[^,;*\s]+$/.test(r.trim())),
    };
}

/** One file of the artifact folder, by path relative to it. */
export interface FolderFile {
    name: string;
    sha256: string;
}

/** What publishing a version to the folder means, given what it holds. */
export type PublishDecision = { kind: "new" } | { kind: "same" };

/** A version already in the folder is released again only with the same bytes: a re-cut needs a new version. */
export function publishDecision(
    folder: FolderFile[],
    artifactDir: string,
    sdistName: string,
    sha256: string,
): PublishDecision {
    const existing = folder.find((f) => f.name === sdistName);
    if (!existing) {
        return { kind: "new" };
    }
    if (existing.sha256 === sha256) {
        return { kind: "same" };
    }
    throw new ReleaseError(
        `${path.join(artifactDir, sdistName)} is already released with other bytes (sha256 ${existing.sha256}, this build ${sha256}): a re-cut needs a new version`,
    );
}

/** Lines of a `sha256sum -c` file whose files no longer match it (changed outside the release command). */
export function changedSinceSums(sums: string, folder: FolderFile[]): string[] {
    const byName = new Map(folder.map((f) => [f.name, f.sha256]));
    const changed: string[] = [];
    for (const line of sums.split("\n").filter((l) => l !== "")) {
        const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
        if (!m) {
            changed.push(`unreadable line ${JSON.stringify(line.slice(0, 80))}`);
            continue;
        }
        const now = byName.get(m[2]);
        if (now !== undefined && now !== m[1]) {
            changed.push(`${m[2]} (listed ${m[1]}, now ${now})`);
        }
    }
    return changed;
}

/** The folder's SHA256SUMS: every file but SHA256SUMS itself, `sha256sum -c` format, byte order. */
export function folderSums(files: { name: string; data: Buffer }[]): string {
    return sha256sums(files.filter((f) => f.name !== "SHA256SUMS"));
}

/** Wheels the release adds: those of its wheelhouse whose names the folder's wheelhouse lacks. */
export function wheelsToAdd(built: string[], existing: string[]): string[] {
    const have = new Set(existing);
    return built.filter((w) => !have.has(w)).sort();
}

/** The pinned uv wheel (layout.sh): its file name and sha256, or what is wrong with a candidate. */
export function uvWheelProblem(file: string, sha256: string): string | undefined {
    const name = hostLayoutValue("SYNC_UV_WHEEL");
    const pinned = hostLayoutValue("SYNC_UV_SHA256");
    if (file !== name) {
        return `uv wheel: got ${file}, components/remote/layout.sh pins ${name}`;
    }
    if (sha256 !== pinned) {
        return `uv wheel ${file}: sha256 ${sha256}, components/remote/layout.sh pins ${pinned}`;
    }
    return undefined;
}

/** A word for a printed shell command: as is when plain, else single-quoted. */
export function shellWord(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What Ops run next: point the stack at the folder, pin the version, look, roll out. */
export function nextCommands(artifactDir: string, version: string): string[] {
    return [
        `pulumi config set sync:artifactDir ${shellWord(artifactDir)}`,
        `pulumi config set sync:version ${shellWord(version)}`,
        "pulumi preview --diff",
        "pulumi up",
    ];
}
