// The release command's decisions (release/plan.ts, vcs.ts, sandbox.ts stepEnv): exact messages.
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
} from "../../release/plan";
import { stepEnv } from "../../release/sandbox";
import {
    HG_NULL,
    HgRevision,
    HgTagSite,
    hgReleasedRevision,
    hgStatusPaths,
    hgTagProblem,
    isTagCommit,
    nearestRepository,
    parseHgTags,
    tagDecision,
} from "../../release/vcs";

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

describe("the version control of the sources", () => {
    const [N1, N2, N3, N4] = ["1", "2", "3", "4"].map((digit) => digit.repeat(40));
    const rev = (node: string, p1: string, files: string[], p2 = HG_NULL): HgRevision => ({ node, p1, p2, files });

    test("the nearer repository is the one; both at one root is refused", () => {
        expect(nearestRepository("/w/app", {})).toBeUndefined();
        expect(nearestRepository("/w/app", { git: "/w" })).toBe("git");
        expect(nearestRepository("/w/app", { hg: "/w" })).toBe("hg");
        expect(nearestRepository("/w/app", { git: "/w", hg: "/w/app" })).toBe("hg");
        expect(nearestRepository("/w/app", { git: "/w/app", hg: "/w" })).toBe("git");
        expect(message(() => nearestRepository("/w/app", { git: "/w", hg: "/w" }))).toBe(
            "/w/app is in a git and an hg repository at once (both at /w): release it from a checkout of one of them",
        );
    });

    test("hg status --print0: the paths, with or without their status letters", () => {
        expect(hgStatusPaths("M a.py\0? new file.py\0! gone.py\0R pkg/old.py\0")).toEqual([
            "a.py",
            "new file.py",
            "gone.py",
            "pkg/old.py",
        ]);
        expect(hgStatusPaths("a.py\0pkg/b.py\0", false)).toEqual(["a.py", "pkg/b.py"]);
        expect(hgStatusPaths("")).toEqual([]);
    });

    test("a tag commit changes .hgtags alone, on one parent; the released revision is below the tag commits on top", () => {
        expect(isTagCommit(rev(N2, N1, [".hgtags"]))).toBe(true);
        expect(isTagCommit(rev(N2, N1, [".hgtags", "a.py"]))).toBe(false);
        expect(isTagCommit(rev(N2, N1, ["app/.hgtags"]))).toBe(false);
        expect(isTagCommit(rev(N2, N1, [".hgtags"], N3))).toBe(false); // a merge
        expect(isTagCommit(rev(N1, HG_NULL, [".hgtags"]))).toBe(false); // the first commit: no parent to stand for it
        expect(hgReleasedRevision([rev(N1, HG_NULL, ["a.py"])])).toBe(N1);
        expect(
            hgReleasedRevision([rev(N3, N2, [".hgtags"]), rev(N2, N1, [".hgtags"]), rev(N1, HG_NULL, ["a.py"])]),
        ).toBe(N1);
        expect(hgReleasedRevision([rev(N3, N2, [".hgtags"]), rev(N2, N1, ["a.py", ".hgtags"])])).toBe(N2);
        // a chain cut short: the last revision read stands
        expect(hgReleasedRevision([rev(N4, N3, [".hgtags"]), rev(N3, N2, [".hgtags"])])).toBe(N3);
    });

    test("hg tags: each tag's revision; tip is no tag", () => {
        expect(parseHgTags(`tip\0${N3}\nv1.0\0${N1}\nrelease 2\0${N2}\n`)).toEqual(
            new Map([
                ["v1.0", N1],
                ["release 2", N2],
            ]),
        );
        expect(parseHgTags("")).toEqual(new Map());
    });

    test("a tag is made, found on the released revision, or names another revision: refused", () => {
        expect(tagDecision("hg", "1.0", undefined, N1)).toBe("make");
        expect(tagDecision("git", "1.0", N1, N1)).toBe("present");
        expect(message(() => tagDecision("git", "1.0", N1, N2))).toBe(
            `tag v1.0 already names commit ${N1}, not HEAD ${N2}: a re-cut needs a new version`,
        );
        expect(message(() => tagDecision("hg", "1.2rc1", N1, N2))).toBe(
            `tag v1.2rc1 already names revision ${N1}, not the work tree's revision ${N2}: a re-cut needs a new version`,
        );
    });

    test("hg tag needs the tags file as committed and the checked-out revision a branch head", () => {
        const site: HgTagSite = { root: "/w", checkedOut: N2, revision: N1, atHead: true, tagsFileChanged: false };
        expect(hgTagProblem("1.0", site)).toBeUndefined();
        expect(hgTagProblem("1.0", { ...site, tagsFileChanged: true })).toBe(
            "/w/.hgtags has uncommitted changes, and hg tag commits that file: commit or revert it first",
        );
        expect(hgTagProblem("1.0", { ...site, atHead: false })).toBe(
            `hg tag would commit v1.0 on top of revision ${N2}, which is not the head of its branch (it would make a second head): release from the branch head, or tag the revision yourself (hg tag -f -r ${N1} v1.0) and release again`,
        );
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
