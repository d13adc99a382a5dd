import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact } from "../../components/artifacts";
import { bundleRemotePath } from "../../components/hostLayout";
import { ustar } from "../../components/artifacts";
import {
    hostScriptMembers,
    hostScripts,
    hostScriptsHash,
    renderActivateCommand,
    renderIniCommand,
    renderStageCommand,
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
    const entry = `'set -o pipefail; tar -xOf "$1" --occurrence scripts/bootstrap.sh | bash -s "$@"'`;

    test("one short line: bootstrap.sh read out of the uploaded bundle, every argument quoted", () => {
        expect(renderStageCommand(RELEASE, "deploy", { user: "deploy", timeoutSeconds: 300 })).toBe(
            `sudo -n timeout --kill-after=10 300 bash -c ${entry} sync-stage '.sync-release/WeaveServer-1.1.4.release.tar' ` +
                `'${hostScriptsHash()}' 'deploy' '1.1.4' '${"a".repeat(64)}' '${"b".repeat(64)}'`,
        );
        expect(renderStageCommand(RELEASE, "root", { user: "root", timeoutSeconds: 300 }).length).toBeLessThan(400);
    });

    test("bash runs the bundle's bootstrap.sh with the bundle and the rest as its arguments", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-stage-entry-"));
        try {
            fs.mkdirSync(path.join(dir, ".sync-release"));
            const fake = Buffer.from(`printf '%s\\n' "$@" >"${dir}/args"\n`);
            fs.writeFileSync(
                path.join(dir, bundleRemotePath("1.1.4")),
                ustar([
                    { name: "scripts/bootstrap.sh", data: fake },
                    { name: "SHA256SUMS", data: Buffer.from("") },
                ]),
            );
            const command = renderStageCommand(RELEASE, "root", { user: "root", timeoutSeconds: 30 });
            execFileSync("bash", ["-c", command], { cwd: dir });
            expect(fs.readFileSync(path.join(dir, "args"), "utf8")).toBe(
                [".sync-release/WeaveServer-1.1.4.release.tar", hostScriptsHash(), "root", "1.1.4", "a".repeat(64)]
                    .concat("b".repeat(64), "")
                    .join("\n"),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a bundle without bootstrap.sh fails the step (pipefail), it does not run an empty script", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-stage-entry-"));
        try {
            fs.mkdirSync(path.join(dir, ".sync-release"));
            fs.writeFileSync(path.join(dir, bundleRemotePath("1.1.4")), ustar([{ name: "x", data: Buffer.from("") }]));
            const command = renderStageCommand(RELEASE, "root", { user: "root", timeoutSeconds: 30 });
            expect(() => execFileSync("bash", ["-c", command], { cwd: dir, stdio: "pipe" })).toThrow();
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test.each(HOSTILE.map((w) => [w.slice(0, 20), w]))(
        "a hostile deploy user %j is refused before any command exists",
        (_label, user) => {
            expect(() => renderStageCommand(RELEASE, user, { user: "root", timeoutSeconds: 30 })).toThrow(
                /is not a Debian user name/,
            );
        },
    );

    test("a hostile version never becomes an upload path; stage.sh refuses it itself, before anything else", () => {
        expect(() => bundleRemotePath("1.0;touch /tmp/p")).toThrow('bad release version "1.0;touch /tmp/p"');
        // run the real script locally (it refuses before it needs root or the host layout)
        let stderr = "";
        try {
            execFileSync(
                "bash",
                [
                    path.join(REMOTE, "stage.sh"),
                    "root",
                    "/root/.sync-release/WeaveServer-1.0;touch.release.tar",
                    "1.0;touch /tmp/p",
                    "a".repeat(64),
                    "b".repeat(64),
                ],
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

    test("bundles are uploaded to one file per version, relative to the deploy user's home", () => {
        expect(bundleRemotePath("1.10")).toBe(".sync-release/WeaveServer-1.10.release.tar");
    });
});
