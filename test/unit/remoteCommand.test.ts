import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact } from "../../components/artifacts";
import { bundleRemotePath } from "../../components/hostLayout";
import {
    hostScripts,
    hostScriptsHash,
    renderBootstrapProgram,
    renderIniCommand,
    renderInstallCommand,
    renderRuntimeStep,
    scriptsHash,
    shellQuote,
} from "../../components/remoteCommand";

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

    test("covers every script but the bootstrap; forget.sh is gone", () => {
        expect(hostScripts().map((s) => s.name)).toEqual([
            "build_requires.py",
            "ini.sh",
            "install.sh",
            "layout.sh",
            "lib.sh",
            "prune_order.py",
            "runtime.sh",
        ]);
    });

    test("a changed script changes the hash (and so every step's command line)", () => {
        const scripts = hostScripts();
        const changed = scripts.map((s) => (s.name === "lib.sh" ? { ...s, content: `${s.content}# changed\n` } : s));
        expect(scriptsHash(changed)).not.toBe(scriptsHash(scripts));
        expect(scriptsHash([...scripts].reverse())).toBe(scriptsHash(scripts));
    });
});

describe("renderRuntimeStep", () => {
    test("one short line; the scripts travel on stdin", () => {
        const step = renderRuntimeStep("deploy", 2, 15, { user: "deploy", timeoutSeconds: 300 });
        expect(step.command).toBe(
            `sudo -n timeout --kill-after=10 300 bash -s sync-runtime '${hostScriptsHash()}' 'deploy' '2' '15'`,
        );
        // the layout first, so the bootstrap knows the paths the scripts use
        const layout = fs.readFileSync(path.join(REMOTE, "layout.sh"), "utf8");
        const bootstrap = fs.readFileSync(path.join(REMOTE, "bootstrap.sh"), "utf8");
        expect(step.stdin.startsWith(layout + bootstrap)).toBe(true);
        const terminator = `SYNC_EOF_${hostScriptsHash()}`;
        for (const s of hostScripts()) {
            expect(step.stdin).toContain(`sync_put ${s.name} <<'${terminator}'\n${s.content}${terminator}\n`);
        }
        expect(step.stdin.endsWith(`sync_finish "$@"\n`)).toBe(true);
    });

    test("bash reads back every script byte for byte from the here-documents", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-bootstrap-"));
        try {
            // A stand-in bootstrap that only collects what sync_put receives.
            const fake = `set -eu\nsync_put() { cat >"${dir}/$1"; }\nsync_finish() { printf '%s\\n' "$@" >"${dir}/args"; }\n`;
            const program = renderBootstrapProgram(hostScripts(), fake);
            execFileSync("bash", ["-s", "sync-runtime", "h", "u", "2", "15"], { input: program });
            for (const s of hostScripts()) {
                expect(fs.readFileSync(path.join(dir, s.name), "utf8")).toBe(s.content);
            }
            expect(fs.readFileSync(path.join(dir, "args"), "utf8")).toBe("sync-runtime\nh\nu\n2\n15\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a hostile deploy user stays one quoted word; the script refuses it", () => {
        const step = renderRuntimeStep("x'; touch /tmp/p #", 2, 15, { user: "root", timeoutSeconds: 60 });
        expect(step.command).toBe(
            `timeout --kill-after=10 60 bash -s sync-runtime '${hostScriptsHash()}' 'x'\\''; touch /tmp/p #' '2' '15'`,
        );
    });

    test.each([
        [0, 15, "wsgiProcesses must be a whole number matching ^[1-9][0-9]?$, got 0"],
        [2, 100, "wsgiThreads must be a whole number matching ^[1-9][0-9]?$, got 100"],
        [1.5, 15, "wsgiProcesses must be a whole number matching ^[1-9][0-9]?$, got 1.5"],
    ])("WSGI counts %p × %p are refused with runtime.sh's own pattern", (processes, threads, message) => {
        expect(() => renderRuntimeStep("root", processes, threads, { user: "root", timeoutSeconds: 60 })).toThrow(
            message,
        );
    });

    test("a script that would break its here-document is refused", () => {
        const scripts = [{ name: "a.sh", content: "echo hi" }];
        expect(() => renderBootstrapProgram(scripts, "")).toThrow("remote script a.sh must end with a newline");
        expect(() => renderBootstrapProgram([{ name: "../a.sh", content: "x\n" }], "")).toThrow(/is not/);
    });
});

describe("renderInstallCommand / renderIniCommand", () => {
    test("root runs the installed script directly under a timeout, every argument quoted", () => {
        expect(renderInstallCommand(RELEASE, 5, { user: "root", timeoutSeconds: 600 })).toBe(
            `timeout --kill-after=10 600 bash /var/sync/scripts/${hostScriptsHash()}/install.sh '1.1.4' '${"a".repeat(64)}' '${"b".repeat(64)}' '5'`,
        );
    });

    test("other users go through sudo -n", () => {
        expect(renderIniCommand({ user: "deploy", timeoutSeconds: 60 })).toBe(
            `sudo -n timeout --kill-after=10 60 bash /var/sync/scripts/${hostScriptsHash()}/ini.sh`,
        );
    });

    test("a hostile version stays one word; install.sh refuses it before anything else", () => {
        const command = renderInstallCommand({ ...RELEASE, version: "1.0;touch /tmp/p" }, 5, {
            user: "root",
            timeoutSeconds: 30,
        });
        expect(command.endsWith(` '1.0;touch /tmp/p' '${"a".repeat(64)}' '${"b".repeat(64)}' '5'`)).toBe(true);
        // run the real script locally (it refuses before it needs root or the host layout)
        const script = path.join(REMOTE, "install.sh");
        let stderr = "";
        try {
            execFileSync("bash", [script, "1.0;touch /tmp/p", "a".repeat(64), "b".repeat(64), "5"], {
                stdio: ["ignore", "pipe", "pipe"],
            });
        } catch (error) {
            stderr = String((error as { stderr: Buffer }).stderr);
        }
        expect(stderr).toContain("ERROR: bad version '1.0;touch /tmp/p'");
        expect(fs.existsSync("/tmp/p")).toBe(false);
    });

    test("a bad timeout is refused", () => {
        expect(() => renderIniCommand({ user: "root", timeoutSeconds: 0 })).toThrow(
            "timeoutSeconds must be a positive integer, got 0",
        );
    });

    test("bundles are uploaded to one file per version", () => {
        expect(bundleRemotePath("1.10")).toBe("/var/sync/dist/incoming/WeaveServer-1.10.release.tar");
    });
});
