// The release command's decisions (scripts/release/plan.ts, sandbox.ts stepEnv): exact messages.
import { hostLayoutValue } from "../../components/hostLayout";
import {
    BuiltSdist,
    DEFAULT_WSGI_MODULE,
    PYTEST_PIN,
    ProjectInfo,
    changedSinceSums,
    folderSums,
    nextCommands,
    parseReleaseArgs,
    publishDecision,
    releaseNames,
    releaseSettings,
    shellWord,
    stackDistribution,
    tagName,
    uvWheelProblem,
    wheelsToAdd,
} from "../../scripts/release/plan";
import { stepEnv } from "../../scripts/release/sandbox";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);

/** The first line of the error `fn` throws (the usage follows it). */
function message(fn: () => unknown): string {
    try {
        fn();
    } catch (error) {
        return (error as Error).message.split("\n")[0];
    }
    throw new Error("did not throw");
}

describe("parseReleaseArgs", () => {
    test("two folders and the defaults", () => {
        expect(parseReleaseArgs(["app", "out"])).toEqual({
            source: "app",
            artifacts: "out",
            allowDirty: false,
            testCommand: undefined,
            wsgiModule: undefined,
        });
    });

    test("every option, also as --name=value", () => {
        expect(
            parseReleaseArgs([
                "--allow-dirty",
                "app",
                "--test-command",
                "python -m pytest -q",
                "out",
                "--wsgi-module=my_app.wsgi",
            ]),
        ).toEqual({
            source: "app",
            artifacts: "out",
            allowDirty: true,
            testCommand: ["python", "-m", "pytest", "-q"],
            wsgiModule: "my_app.wsgi",
        });
        expect(parseReleaseArgs(["--test-command=make test", "a", "b"])).toMatchObject({
            testCommand: ["make", "test"],
        });
        expect(parseReleaseArgs(["a", "--help"])).toBe("help");
    });

    test.each([
        [["app"], "expected <app source dir> <artifact dir>, got 1 argument(s)"],
        [["a", "b", "c"], "expected <app source dir> <artifact dir>, got 3 argument(s)"],
        [["a", "b", "--force"], "unknown option --force"],
        [["a", "b", "--wsgi-module"], "--wsgi-module needs a value"],
        [["a", "", "--allow-dirty"], "the source and artifact folders must not be empty strings"],
        [["a", "b", "--allow-dirty=yes"], "--allow-dirty takes no value"],
        [
            ["a", "b", "--wsgi-module", "app;id"],
            '--wsgi-module: "app;id" must be a dotted Python module name such as weave.server.wsgi',
        ],
        [
            ["a", "b", "--wsgi-module", "1app"],
            '--wsgi-module: "1app" must be a dotted Python module name such as weave.server.wsgi',
        ],
        [
            ["a", "b", "--test-command", "  "],
            '--test-command: [] must be a non-empty list of plain words ([A-Za-z0-9_@%+=:,./-]), e.g. ["python", "-m", "pytest", "-q"]',
        ],
        [
            ["a", "b", "--test-command", "pytest -k 'a or b'"],
            `--test-command "pytest -k 'a or b'": no shell runs it, so quotes and shell syntax mean nothing; put a list in pyproject.toml [tool.sync-release] test-command, or a script in the project`,
        ],
        [
            ["a", "b", "--test-command", "pytest $(id)"],
            '--test-command "pytest $(id)": no shell runs it, so quotes and shell syntax mean nothing; put a list in pyproject.toml [tool.sync-release] test-command, or a script in the project',
        ],
    ])("%j is refused: %s", (argv, expected) => {
        expect(message(() => parseReleaseArgs(argv))).toBe(expected);
    });

    test("a refusal carries the usage", () => {
        expect(() => parseReleaseArgs([])).toThrow(
            /usage: npm run release -- <app source dir> <artifact dir> \[options\]/,
        );
    });
});

describe("releaseSettings", () => {
    const info = (over: Partial<ProjectInfo> = {}): ProjectInfo => ({
        name: "WeaveServer",
        tool: undefined,
        hasTests: false,
        testExtra: null,
        testExtraHasPytest: false,
        ...over,
    });

    test("no tests and no settings: the hosts' WSGI module, no test run", () => {
        expect(releaseSettings(info(), {})).toEqual({ wsgiModule: DEFAULT_WSGI_MODULE });
    });

    test("tests found: python -m pytest, with the pinned pytest unless the test extra names one", () => {
        expect(releaseSettings(info({ hasTests: true }), {}).tests).toEqual({
            command: ["python", "-m", "pytest"],
            extra: undefined,
            add: [PYTEST_PIN],
            origin: "default (test_*.py / *_test.py found)",
        });
        expect(
            releaseSettings(info({ hasTests: true, testExtra: "test", testExtraHasPytest: true }), {}).tests,
        ).toMatchObject({ extra: "test", add: [] });
        expect(releaseSettings(info({ hasTests: true, testExtra: "tests" }), {}).tests).toMatchObject({
            extra: "tests",
            add: [PYTEST_PIN],
        });
    });

    test("[tool.sync-release] over the defaults, the flags over both", () => {
        const tool = { "wsgi-module": "app.web", "test-command": ["make", "check"] };
        expect(releaseSettings(info({ tool, hasTests: false }), {})).toEqual({
            wsgiModule: "app.web",
            tests: {
                command: ["make", "check"],
                extra: undefined,
                add: [],
                origin: "[tool.sync-release] test-command",
            },
        });
        expect(
            releaseSettings(info({ tool, hasTests: true }), { wsgiModule: "app.other", testCommand: ["tox"] }),
        ).toEqual({
            wsgiModule: "app.other",
            tests: { command: ["tox"], extra: undefined, add: [], origin: "--test-command" },
        });
    });

    test("bad settings: every problem, one line each", () => {
        expect(() =>
            releaseSettings(info({ tool: { "wsgi-modul": "x", "wsgi-module": 3, "test-command": "pytest" } }), {}),
        ).toThrow(
            [
                'pyproject.toml: [tool.sync-release] has an unknown key "wsgi-modul" (known: wsgi-module, test-command)',
                "pyproject.toml: [tool.sync-release] wsgi-module: 3 must be a dotted Python module name such as weave.server.wsgi",
                'pyproject.toml: [tool.sync-release] test-command: "pytest" must be a non-empty list of plain words ([A-Za-z0-9_@%+=:,./-]), e.g. ["python", "-m", "pytest", "-q"]',
            ].join("\n"),
        );
        expect(message(() => releaseSettings(info({ tool: ["x"] }), {}))).toBe(
            "pyproject.toml: [tool.sync-release] must be a table",
        );
    });
});

describe("releaseNames", () => {
    const built = (over: Partial<BuiltSdist> = {}): BuiltSdist => ({
        file: "WeaveServer-1.2.0.tar.gz",
        name: "WeaveServer",
        version: "1.2.0",
        buildRequires: ["setuptools==69.2.0", "wheel==0.43.0"],
        ...over,
    });

    test("the stack's distribution gets the stack's file name, whatever the backend wrote", () => {
        expect(stackDistribution()).toBe("WeaveServer");
        expect(releaseNames(built())).toEqual({
            version: "1.2.0",
            dist: "WeaveServer",
            sdistName: "WeaveServer-1.2.0.tar.gz",
            deployable: true,
            unpinned: [],
        });
        expect(releaseNames(built({ file: "weaveserver-1.2rc1.tar.gz", version: "1.2rc1" }))).toMatchObject({
            sdistName: "WeaveServer-1.2rc1.tar.gz",
            deployable: true,
        });
    });

    test("another distribution keeps its own name and is not deployable by this stack", () => {
        expect(
            releaseNames(
                built({
                    file: "echo_app-0.3.0.tar.gz",
                    name: "echo-app",
                    version: "0.3.0",
                    buildRequires: ["hatchling>=1.26"],
                }),
            ),
        ).toEqual({
            version: "0.3.0",
            dist: "echo-app",
            sdistName: "echo_app-0.3.0.tar.gz",
            deployable: false,
            unpinned: ["hatchling>=1.26"],
        });
    });

    test.each([
        [
            { version: "1.02", file: "WeaveServer-1.02.tar.gz" },
            'WeaveServer version (from its metadata): "1.02" is not in normalized form; write "1.2"',
        ],
        [
            { version: "1.2+local", file: "WeaveServer-1.2+local.tar.gz" },
            'WeaveServer version (from its metadata): "1.2+local" must be a PEP 440 public version such as 1.1.4 or 1.2rc1',
        ],
        [
            { version: "1.2;id", file: "x" },
            'WeaveServer version (from its metadata): "1.2;id" must be a PEP 440 public version such as 1.1.4 or 1.2rc1',
        ],
        [{ file: "Other-1.2.0.tar.gz" }, "the build wrote Other-1.2.0.tar.gz, not an sdist of WeaveServer 1.2.0"],
        [
            { name: "../x", file: "../x-1.2.0.tar.gz" },
            `the sdist's metadata names the project "../x", not a valid distribution name`,
        ],
        [
            { file: "WeaveServer-1.2.1.tar.gz" },
            "the build wrote WeaveServer-1.2.1.tar.gz, not an sdist of WeaveServer 1.2.0",
        ],
    ])("%j is refused", (over, expected) => {
        expect(message(() => releaseNames(built(over)))).toBe(expected);
    });
});

describe("the artifact folder", () => {
    const folder = [
        { name: "WeaveServer-1.1.4.tar.gz", sha256: SHA_A },
        { name: "wheelhouse/packaging-24.2-py3-none-any.whl", sha256: SHA_B },
    ];

    test("a version is new, the same release again, or a re-cut, which is refused", () => {
        expect(publishDecision(folder, "/art", "WeaveServer-1.2.tar.gz", SHA_A)).toEqual({ kind: "new" });
        expect(publishDecision(folder, "/art", "WeaveServer-1.1.4.tar.gz", SHA_A)).toEqual({ kind: "same" });
        expect(message(() => publishDecision(folder, "/art", "WeaveServer-1.1.4.tar.gz", SHA_B))).toBe(
            `/art/WeaveServer-1.1.4.tar.gz is already released with other bytes (sha256 ${SHA_A}, this build ${SHA_B}): a re-cut needs a new version`,
        );
    });

    test("SHA256SUMS: files changed since are named; removed or unlisted files are not", () => {
        const sums = `${SHA_A}  WeaveServer-1.1.4.tar.gz\n${SHA_A}  wheelhouse/packaging-24.2-py3-none-any.whl\n${SHA_A}  WeaveServer-1.0.tar.gz\nnonsense\n`;
        expect(changedSinceSums(sums, folder)).toEqual([
            `wheelhouse/packaging-24.2-py3-none-any.whl (listed ${SHA_A}, now ${SHA_B})`,
            'unreadable line "nonsense"',
        ]);
        expect(changedSinceSums(`${SHA_A} *WeaveServer-1.1.4.tar.gz\n`, folder)).toEqual([]);
    });

    test("SHA256SUMS lists every file but itself, sha256sum's format, byte order", () => {
        const files = [
            { name: "wheelhouse/b.whl", data: Buffer.from("b") },
            { name: "SHA256SUMS", data: Buffer.from("old") },
            { name: "WeaveServer-1.10.tar.gz", data: Buffer.from("") },
        ];
        expect(folderSums(files)).toBe(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  WeaveServer-1.10.tar.gz\n" +
                "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  wheelhouse/b.whl\n",
        );
    });

    test("only wheels the folder lacks are added; one already there is kept as it is", () => {
        expect(wheelsToAdd(["uv.whl", "packaging.whl", "six.whl"], ["packaging.whl"])).toEqual(["six.whl", "uv.whl"]);
    });
});

test("the uv wheel must be the one layout.sh pins, by name and sha256", () => {
    const name = hostLayoutValue("SYNC_UV_WHEEL");
    const pinned = hostLayoutValue("SYNC_UV_SHA256");
    expect(uvWheelProblem(name, pinned)).toBeUndefined();
    expect(uvWheelProblem(name, SHA_A)).toBe(
        `uv wheel ${name}: sha256 ${SHA_A}, components/remote/layout.sh pins ${pinned}`,
    );
    expect(uvWheelProblem("uv-0.13.8-py3-none-manylinux_2_28_x86_64.whl", pinned)).toBe(
        `uv wheel: got uv-0.13.8-py3-none-manylinux_2_28_x86_64.whl, components/remote/layout.sh pins ${name}`,
    );
});

test("the next commands, with the folder quoted for a shell when it needs it", () => {
    expect(tagName("1.2rc1")).toBe("v1.2rc1");
    expect(shellWord("/srv/art")).toBe("/srv/art");
    expect(shellWord("/srv/my art's")).toBe(`'/srv/my art'\\''s'`);
    expect(nextCommands("/srv/release files", "1.10")).toEqual([
        "pulumi config set sync:artifactDir '/srv/release files'",
        "pulumi config set sync:version 1.10",
        "pulumi preview --diff",
        "pulumi up",
    ]);
});

describe("stepEnv", () => {
    const env = {
        PIP_INDEX_URL: "https://mirror.example/simple",
        HTTPS_PROXY: "http://proxy:3128",
        PIP_FIND_LINKS: "/opt/wheels",
        HOME: "/root",
        PIP_TRUSTED_HOST: "bad\nline",
    };

    test("online: caches, the deployer's index and proxy (pip's and uv's names), its CA bundle; nothing else of its environment", () => {
        expect(stepEnv(env, true)).toEqual([
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_NO_INPUT=1",
            "PIP_CONFIG_FILE=/dev/null",
            "UV_NO_CONFIG=1",
            "UV_PYTHON_DOWNLOADS=never",
            "SOURCE_DATE_EPOCH=1704067200",
            "PIP_CACHE_DIR=/cache/pip",
            "UV_CACHE_DIR=/cache/uv",
            "UV_NATIVE_TLS=1",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "PIP_INDEX_URL=https://mirror.example/simple",
            "HTTPS_PROXY=http://proxy:3128",
            "UV_DEFAULT_INDEX=https://mirror.example/simple",
        ]);
    });

    test("offline: no index, no cache, no proxy", () => {
        expect(stepEnv(env, false)).toEqual([
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_NO_INPUT=1",
            "PIP_CONFIG_FILE=/dev/null",
            "UV_NO_CONFIG=1",
            "UV_PYTHON_DOWNLOADS=never",
            "SOURCE_DATE_EPOCH=1704067200",
            "PIP_NO_INDEX=1",
            "PIP_NO_CACHE_DIR=1",
            "UV_OFFLINE=1",
        ]);
    });
});
