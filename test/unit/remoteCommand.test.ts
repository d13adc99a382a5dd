import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact, ustar } from "../../components/artifacts";
import { sha256 } from "../../components/digest";
import { hostScriptMembers, hostScripts, hostScriptsHash, scriptsHash } from "../../components/hostScripts";
import {
    renderActivateCommand,
    renderIniCommand,
    renderStageCommand,
    stageEntry,
} from "../../components/remoteCommand";
import { shellQuote } from "../../components/shellQuote";

const REMOTE = path.join(__dirname, "../../components/remote");

const HOSTILE = [
    "1.0;touch /tmp/p",
    "$(id)",
    "`id`",
    "a\nb",
    "../x",
    "'",
    "''\\'",
    "",
    "x".repeat(10 * 1024),
    "${HOME}",
    "-e",
    "* ?",
    "é 🚀",
];

const RELEASE: ReleaseArtifact = {
    version: "1.1.4",
    sdistPath: "/artifacts/WeaveServer-1.1.4.tar.gz",
    sha256: "a".repeat(64),
    bundlePath: "/tmp/b.tar",
    bundleSha256: "b".repeat(64),
    bundleBytes: 4096,
};

describe("shellQuote", () => {
    test.each(HOSTILE.map((w) => [w.slice(0, 20), w]))("bash receives %j verbatim", (_label, word) => {
        const out = execFileSync("bash", ["-c", `printf '%s' ${shellQuote(word)}`]).toString("utf8");
        expect(out).toBe(word);
    });

    test("dash (Debian's sh) receives the same words", () => {
        const words = HOSTILE.filter((w) => w.length < 100);
        const out = execFileSync("sh", ["-c", `printf '%s\\0' ${words.map(shellQuote).join(" ")}`]).toString("utf8");
        expect(out.split("\0").slice(0, -1)).toEqual(words);
    });

    test("NUL is refused", () => {
        expect(() => shellQuote("a\0b")).toThrow("a shell word cannot contain a NUL byte");
    });
});

describe("the scripts' hash", () => {
    test("is what bash computes over the installed files (sha256sum in name order, first 16 hex)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-scripts-"));
        try {
            for (const s of hostScripts()) {
                fs.writeFileSync(path.join(dir, s.name), s.content);
            }
            const bash = execFileSync("bash", [
                "-c",
                'cd "$1" && LC_ALL=C; sha256sum -- * | sha256sum | cut -c1-16',
                "-",
                dir,
            ])
                .toString()
                .trim();
            expect(hostScriptsHash()).toBe(bash);
            expect(hostScriptsHash()).toMatch(/^[0-9a-f]{16}$/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("covers every script of components/remote, the bootstrap included; nothing of the pip era is left", () => {
        expect(hostScripts().map((s) => s.name)).toEqual([
            "activate.sh",
            "bootstrap.sh",
            "ini.sh",
            "layout.sh",
            "lib.sh",
            "lib_build.sh",
            "lib_serve.sh",
            "prune_order.py",
            "stage.sh",
        ]);
        expect(hostScriptMembers().map((m) => m.name)).toEqual(hostScripts().map((s) => `scripts/${s.name}`));
    });

    test("a changed script changes the hash (and so every step's command line)", () => {
        const scripts = hostScripts();
        const changed = scripts.map((s) => (s.name === "lib.sh" ? { ...s, content: `${s.content}# changed\n` } : s));
        expect(scriptsHash(changed)).not.toBe(scriptsHash(scripts));
        expect(scriptsHash([...scripts].reverse())).toBe(scriptsHash(scripts));
    });
});

describe("renderStageCommand", () => {
    test("one line: the entry, then every argument quoted; the bundle goes on stdin", () => {
        expect(renderStageCommand(RELEASE, "deploy", { user: "deploy", timeoutSeconds: 300 })).toBe(
            `sudo -n timeout --kill-after=10 300 bash -c ${shellQuote(stageEntry())} sync-stage ` +
                `'${hostScriptsHash()}' 'deploy' '1.1.4' '${"a".repeat(64)}' '${"b".repeat(64)}' '4096'`,
        );
    });

    /**
     * The entry as a host runs it, with /var/sync moved under a temp dir: `scripts` holds installed
     * scripts, `bundle` is what the stage step streams on stdin.
     */
    function runEntry(options: {
        bundle: Buffer;
        declared?: { sha256: string; bytes: number };
        installed?: { name: string; content: string }[];
    }): { status: number | null; stderr: string; root: string; seen: string } {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "sync-stage-entry-"));
        const seen = path.join(root, "seen");
        const hash = options.installed ? scriptsHash(options.installed) : "0123456789abcdef";
        if (options.installed) {
            const dir = path.join(root, "scripts", hash);
            fs.mkdirSync(dir, { recursive: true });
            for (const s of options.installed) {
                fs.writeFileSync(path.join(dir, s.name), s.content);
            }
            fs.writeFileSync(path.join(dir, ".complete"), "");
        }
        const declared = options.declared ?? { sha256: sha256(options.bundle), bytes: options.bundle.length };
        const result = spawnSync(
            "bash",
            [
                "-c",
                stageEntry().split("/var/sync").join(root),
                "sync-stage",
                hash,
                "deploy",
                "1.1.4",
                "a".repeat(64),
                declared.sha256,
                String(declared.bytes),
            ],
            { input: options.bundle, env: { ...process.env, SEEN: seen }, encoding: "utf8" },
        );
        return { status: result.status, stderr: result.stderr, root, seen };
    }

    /** A script that records its arguments and what it reads on stdin (3 bytes), then exits 0. */
    const RECORDER = `printf '%s\\n' "$0" "$@" >"$SEEN.args"; head -c 3 >"$SEEN.stdin"; ls -l "$1" >"$SEEN.file" 2>&1 || true\n`;

    test("a host without the scripts: the whole bundle lands in a root-only file, matches its sha256, and only then runs bootstrap.sh on it", () => {
        const bundle = ustar([{ name: "scripts/bootstrap.sh", data: Buffer.from(RECORDER) }]);
        const { status, stderr, root, seen } = runEntry({ bundle });
        expect([status, stderr]).toEqual([0, ""]);
        const args = fs.readFileSync(`${seen}.args`, "utf8").trim().split("\n");
        expect(args[1]).toMatch(new RegExp(`^${root}/dist/\\.incoming\\.[A-Za-z0-9]{6}$`));
        expect(args.slice(2)).toEqual([
            "0123456789abcdef",
            "deploy",
            "1.1.4",
            "a".repeat(64),
            sha256(bundle),
            String(bundle.length),
        ]);
        // 0600 while bootstrap read it; gone afterwards, nothing else left in dist
        expect(fs.readFileSync(`${seen}.file`, "utf8")).toMatch(/^-rw------- /);
        expect(fs.readdirSync(path.join(root, "dist"))).toEqual([]);
    });

    test.each([
        ["other bytes", (b: Buffer) => Buffer.concat([b.subarray(0, 100), Buffer.from("x"), b.subarray(101)])],
        ["the stream cut short", (b: Buffer) => b.subarray(0, b.length - 512)],
    ])("a bundle that arrives with %s is refused before anything in it runs", (_label, damage) => {
        const bundle = ustar([{ name: "scripts/bootstrap.sh", data: Buffer.from(`: >"$SEEN.ran"\n`) }]);
        const declared = { sha256: sha256(bundle), bytes: bundle.length };
        const { status, stderr, root, seen } = runEntry({ bundle: damage(bundle), declared });
        expect(status).toBe(1);
        expect(stderr).toBe(
            `[sync ${os.hostname()} stage] ERROR: the release bundle arrived with another size or sha256 than ${bundle.length} bytes, sha256 ${sha256(bundle)} (cut short?); host unchanged\n`,
        );
        expect(fs.existsSync(`${seen}.ran`)).toBe(false);
        expect(fs.readdirSync(path.join(root, "dist"))).toEqual([]);
    });

    test("installed scripts that still hash to theirs run stage.sh directly, the bundle left on stdin for it", () => {
        const installed = [
            { name: "stage.sh", content: RECORDER },
            { name: "lib.sh", content: "# lib\n" },
        ];
        const { status, seen } = runEntry({ bundle: Buffer.from("BUNDLE"), installed });
        expect(status).toBe(0);
        const args = fs.readFileSync(`${seen}.args`, "utf8").trim().split("\n");
        expect(args.slice(1)).toEqual(["deploy", "-", "1.1.4", "a".repeat(64), sha256(Buffer.from("BUNDLE")), "6"]);
        expect(fs.readFileSync(`${seen}.stdin`, "utf8")).toBe("BUN");
    });

    test("installed scripts that no longer hash to theirs are not run: the bundle's are", () => {
        const installed = [{ name: "stage.sh", content: `: >"$SEEN.ran"\n` }];
        const bundle = ustar([{ name: "scripts/bootstrap.sh", data: Buffer.from(RECORDER) }]);
        const root = runEntry({ bundle, installed });
        // damage the installed copy after hashing it: run again against the same tree
        fs.appendFileSync(path.join(root.root, "scripts", scriptsHash(installed), "stage.sh"), "# changed\n");
        const again = spawnSync(
            "bash",
            [
                "-c",
                stageEntry().split("/var/sync").join(root.root),
                "sync-stage",
                scriptsHash(installed),
                "deploy",
                "1.1.4",
                "a".repeat(64),
                sha256(bundle),
                String(bundle.length),
            ],
            { input: bundle, env: { ...process.env, SEEN: root.seen }, encoding: "utf8" },
        );
        expect(again.status).toBe(0);
        expect(fs.readFileSync(`${root.seen}.args`, "utf8")).toContain("/dist/.incoming.");
    });

    test.each(HOSTILE.map((w) => [w.slice(0, 20), w]))(
        "a hostile deploy user %j is refused before any command exists",
        (_label, user) => {
            expect(() => renderStageCommand(RELEASE, user, { user: "root", timeoutSeconds: 30 })).toThrow(
                /is not a Debian user name/,
            );
        },
    );

    test("stage.sh refuses a hostile version itself, before anything else", () => {
        let stderr = "";
        try {
            execFileSync(
                "bash",
                [path.join(REMOTE, "stage.sh"), "root", "-", "1.0;touch /tmp/p", "a".repeat(64), "b".repeat(64), "10"],
                { stdio: ["ignore", "pipe", "pipe"] },
            );
        } catch (error) {
            stderr = String((error as { stderr: Buffer }).stderr);
        }
        expect(stderr).toContain("ERROR: bad version '1.0;touch /tmp/p'");
        expect(fs.existsSync("/tmp/p")).toBe(false);
    });
});

describe("renderActivateCommand / renderIniCommand", () => {
    test("root runs the installed script directly under a timeout, every argument quoted", () => {
        expect(renderActivateCommand(RELEASE, 5, { user: "root", timeoutSeconds: 600 })).toBe(
            `timeout --kill-after=10 600 bash /var/sync/scripts/${hostScriptsHash()}/activate.sh '1.1.4' '${"a".repeat(64)}' '5' '2' '15'`,
        );
    });

    test("other users go through sudo -n", () => {
        expect(renderIniCommand({ user: "deploy", timeoutSeconds: 60 })).toBe(
            `sudo -n timeout --kill-after=10 60 bash /var/sync/scripts/${hostScriptsHash()}/ini.sh`,
        );
    });

    test("activate.sh refuses a hostile version itself, before anything else", () => {
        let stderr = "";
        try {
            execFileSync("bash", [path.join(REMOTE, "activate.sh"), "$(id)", "a".repeat(64), "5", "2", "15"], {
                stdio: ["ignore", "pipe", "pipe"],
            });
        } catch (error) {
            stderr = String((error as { stderr: Buffer }).stderr);
        }
        expect(stderr).toContain("ERROR: bad version '$(id)'");
    });

    test("a bad timeout or keep is refused", () => {
        expect(() => renderIniCommand({ user: "root", timeoutSeconds: 0 })).toThrow(
            "timeoutSeconds must be a positive integer, got 0",
        );
        expect(() => renderActivateCommand(RELEASE, 1, { user: "root", timeoutSeconds: 60 })).toThrow(
            "keepReleases must be a whole number from 2 to 999, got 1",
        );
    });
});
