import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { releaseArtifactFrom, sdistFileName } from "../../components/artifacts";
import { versionProblem } from "../../components/config";
import { LAYOUT_FILE, hostLayoutValue, hostPath, hostPattern, parseLayout } from "../../components/hostLayout";
import { hostScripts } from "../../components/hostScripts";
import { addUvWheel } from "./fixtures";

/** What bash itself makes of a layout file: every constant it sets, sourced the way lib.sh does. */
function bashValues(file: string, names: string[]): Record<string, string> {
    const out = execFileSync(
        "bash",
        ["-c", 'set -eu; source "$1"; shift; for n; do printf "%s=%s\\n" "$n" "${!n}"; done', "-", file, ...names],
        { encoding: "utf8" },
    );
    return Object.fromEntries(
        out
            .trimEnd()
            .split("\n")
            .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
}

/** Which of `inputs` bash's `[[ $x =~ $PATTERN ]]` accepts, with PATTERN sourced from layout.sh. */
function bashMatches(name: string, inputs: string[]): boolean[] {
    const out = execFileSync(
        "bash",
        [
            "-c",
            'source "$1"; p=${!2}; shift 2; for x; do [[ $x =~ $p ]] && echo y || echo n; done',
            "-",
            LAYOUT_FILE,
            name,
            ...inputs,
        ],
        { encoding: "utf8" },
    );
    return out
        .trimEnd()
        .split("\n")
        .map((answer) => answer === "y");
}

describe("parseLayout: the host layout, owned by the scripts", () => {
    test("reads layout.sh exactly as bash does", () => {
        const parsed = parseLayout(fs.readFileSync(LAYOUT_FILE, "utf8"));
        expect(Object.keys(parsed)).toEqual([
            "SYNC_ROOT",
            "SYNC_SCRIPTS",
            "SYNC_RELEASES",
            "SYNC_BUILT",
            "SYNC_TOOLS",
            "SYNC_DIST",
            "SYNC_UPLOADS",
            "SYNC_RELEASE_PREFIX",
            "SYNC_SDIST_SUFFIX",
            "SYNC_BUNDLE_SUFFIX",
            "SYNC_BUNDLE_SUMS",
            "SYNC_BUNDLE_WHEELS",
            "SYNC_BUNDLE_SCRIPTS",
            "SYNC_VERSION_RE",
            "SYNC_WSGI_COUNT_RE",
            "SYNC_UV_VERSION",
            "SYNC_UV_WHEEL",
            "SYNC_UV_SHA256",
        ]);
        expect(bashValues(LAYOUT_FILE, Object.keys(parsed))).toEqual(parsed);
    });

    test("plain, double- and single-quoted words, $NAME and ${NAME}, comments and blanks", () => {
        const text = [
            "# shellcheck shell=bash",
            "",
            "readonly A=/a",
            'readonly B="$A/b"',
            "readonly C=${B}/c-1.x",
            "  readonly D=$C",
            "readonly E='^[0-9]{1,2}$ $A'",
        ].join("\n");
        const parsed = parseLayout(text);
        expect(parsed).toEqual({ A: "/a", B: "/a/b", C: "/a/b/c-1.x", D: "/a/b/c-1.x", E: "^[0-9]{1,2}$ $A" });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "layout-"));
        try {
            fs.writeFileSync(path.join(dir, "layout.sh"), text);
            expect(bashValues(path.join(dir, "layout.sh"), Object.keys(parsed))).toEqual(parsed);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test.each([
        ["a command", "echo hi"],
        ["not readonly", "A=/a"],
        ["a command substitution", 'readonly A="$(id)"'],
        ["backquotes", "readonly A=`id`"],
        ["a literal run on", "readonly A='/a'b"],
        ["an unclosed literal", "readonly A='/a"],
        ["a space", 'readonly A="/a b"'],
        ["a glob", "readonly A=/a/*"],
        ["a tilde", "readonly A=~/a"],
        ["a trailing comment", "readonly A=/a # x"],
        ["an unknown name", "readonly A=$B/a"],
        ["a name run on", "readonly A=/a\nreadonly B=$Ab"],
        ["a default expansion", "readonly A=${B:-/a}"],
        ["a second setting", "readonly A=/a\nreadonly A=/b"],
        ["a name of the prototype", "readonly A=$constructor"],
    ])("refuses %s", (_label, text) => {
        expect(() => parseLayout(text)).toThrow(/layout line/);
    });
});

describe("what the stack takes from the layout", () => {
    test("paths", () => {
        expect(hostPath("SYNC_SCRIPTS")).toBe("/var/sync/scripts");
        expect(hostPath("SYNC_BUILT")).toBe("/var/sync/.built");
        expect(() => hostPath("SYNC_UPLOADS")).toThrow("layout.sh does not set SYNC_UPLOADS to an absolute path");
        expect(() => hostPath("SYNC_BUNDLE_SUFFIX")).toThrow(
            "layout.sh does not set SYNC_BUNDLE_SUFFIX to an absolute path",
        );
        expect(() => hostLayoutValue("NO_SUCH_PATH")).toThrow("layout.sh does not set NO_SUCH_PATH");
        expect(() => hostLayoutValue("constructor")).toThrow("layout.sh does not set constructor");
    });

    test("the bundle's members are named from it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "layout-bundle-"));
        try {
            fs.mkdirSync(path.join(dir, "wheels"));
            fs.writeFileSync(path.join(dir, "wheels", "six-1.16.0-py2.py3-none-any.whl"), "w");
            addUvWheel(path.join(dir, "wheels"));
            fs.writeFileSync(path.join(dir, sdistFileName("1.2")), "s");
            expect(sdistFileName("1.2")).toBe("WeaveServer-1.2.tar.gz");
            const release = releaseArtifactFrom("1.2", path.join(dir, sdistFileName("1.2")), path.join(dir, "wheels"));
            const members = execFileSync("tar", ["-tf", release.bundlePath], { encoding: "utf8" })
                .trimEnd()
                .split("\n");
            // in byte order of name (artifacts.ts ustar)
            expect(members).toEqual([
                "SHA256SUMS",
                "WeaveServer-1.2.tar.gz",
                ...hostScripts().map((s) => `scripts/${s.name}`),
                "wheelhouse/six-1.16.0-py2.py3-none-any.whl",
                `wheelhouse/${hostLayoutValue("SYNC_UV_WHEEL")}`,
            ]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    const accepted = ["1.1.4", "1.10", "2.0rc1", "1.0.post1", "0", "1" + "0".repeat(63)];
    const versions = [
        ...accepted,
        "1" + "0".repeat(64),
        "",
        "a1",
        "1.0;id",
        "1.0\n",
        "1.0-1",
        "1.0 ",
        "1.0+local",
        "1.0A",
    ];
    test("the version pattern: bash and JavaScript accept the same versions", () => {
        const pattern = hostPattern("SYNC_VERSION_RE");
        expect(versions.map((v) => pattern.test(v))).toEqual(bashMatches("SYNC_VERSION_RE", versions));
        expect(versions.filter((v) => pattern.test(v))).toEqual(accepted);
    });

    test("the config refuses what install.sh would refuse, before any connection", () => {
        for (const v of versions.filter((v) => !hostPattern("SYNC_VERSION_RE").test(v))) {
            expect(versionProblem("sync:version", v)).toMatch(/^sync:version: .* must be a PEP 440 public version/);
        }
    });

    test("the WSGI count pattern: bash and JavaScript agree", () => {
        const counts = ["1", "2", "15", "99", "0", "100", "01", "-1", "1.5", ""];
        const pattern = hostPattern("SYNC_WSGI_COUNT_RE");
        expect(counts.map((c) => pattern.test(c))).toEqual(bashMatches("SYNC_WSGI_COUNT_RE", counts));
        expect(counts.filter((c) => pattern.test(c))).toEqual(["1", "2", "15", "99"]);
    });

    test("a pattern the two languages could read differently is refused", () => {
        expect(() => hostPattern("SYNC_ROOT")).toThrow(
            "layout.sh: SYNC_ROOT is not an anchored pattern both bash and JavaScript read alike",
        );
    });
});
