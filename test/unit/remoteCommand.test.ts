import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { remoteProgram, renderRemoteCommand, shellQuote } from "../../components/remoteCommand";

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

describe("renderRemoteCommand", () => {
    test("root runs the program directly under a timeout; arguments arrive as $1..", () => {
        const command = renderRemoteCommand("forget", ["1.0;touch /tmp/p"], { user: "root", timeoutSeconds: 30 });
        expect(command.startsWith("timeout --kill-after=10 30 bash -c '")).toBe(true);
        expect(command.endsWith(" sync-forget '1.0;touch /tmp/p'")).toBe(true);
        // run the real program locally: the script refuses the hostile version itself, before touching anything
        let stderr = "";
        try {
            execFileSync("bash", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
        } catch (error) {
            stderr = String((error as { stderr: Buffer }).stderr);
        }
        expect(stderr).toContain("ERROR: bad version '1.0;touch /tmp/p'");
        expect(fs.existsSync("/tmp/p")).toBe(false);
    });

    test("other users go through sudo -n", () => {
        expect(
            renderRemoteCommand("ini", [], { user: "deploy", timeoutSeconds: 60 }).startsWith(
                "sudo -n timeout --kill-after=10 60 bash -c '",
            ),
        ).toBe(true);
    });

    test("the program is lib.sh followed by the script", () => {
        const dir = path.join(__dirname, "../../components/remote");
        expect(remoteProgram("install")).toBe(
            `${fs.readFileSync(path.join(dir, "lib.sh"), "utf8")}\n${fs.readFileSync(path.join(dir, "install.sh"), "utf8")}`,
        );
    });

    test("a bad timeout is refused", () => {
        expect(() => renderRemoteCommand("ini", [], { user: "root", timeoutSeconds: 0 })).toThrow(
            "timeoutSeconds must be a positive integer, got 0",
        );
    });
});
