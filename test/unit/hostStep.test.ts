// A host step's transport (components/local/on-host.sh) as the stack runs it: its command line and
// stdin from components/hostStep.ts, run by bash with `ssh` replaced by a fake that records what
// it was given and acts out a host (answers, refuses, hangs up). Real sshd, frozen or cut off, is
// the fleet and engine tiers' test.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    HostTarget,
    StepInput,
    STEP_DEADLINE_MARGIN_SECONDS,
    describeHost,
    describeRelease,
    keyFingerprint,
    renderStepCommand,
    renderStepStdin,
    stepDeadline,
} from "../../components/hostStep";
import { DEPLOY_KEY } from "./fixtures";

const TARGET: HostTarget = {
    server: "sync-2",
    user: "deploy",
    host: "198.18.1.12",
    port: 2222,
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy1QAWCjH0vSrwQhHfFLI0WOzPGa+15dm7JrKzJtqt9",
};
const RAM_DIR = `/dev/shm/sync-release-ssh-${process.getuid?.() ?? 0}`;

/**
 * A fake `ssh`: every call's arguments go to <seen>.calls (one call a line, NUL-separated words);
 * the session call (the one with a remote command) saves the key and known_hosts it was pointed
 * at, its stdin, then runs `session` (bash); `-O check` exits `check`; the login runs `login`.
 */
function fakeSsh(dir: string, { session = "exit 0", login = "exit 0", check = "exit 1" } = {}): string {
    const seen = path.join(dir, "seen");
    fs.writeFileSync(
        path.join(dir, "ssh"),
        [
            "#!/bin/bash",
            `printf '%s\\0' "$@" >>"${seen}.calls"; printf '\\036' >>"${seen}.calls"`,
            "for a; do [[ $a == -O ]] && { " + check + "; }; done",
            "for a; do [[ $a == -N ]] && { " + login + "; }; done",
            'key=""; prev=""; for a; do [[ $prev == -i ]] && key=$a; prev=$a; done',
            `stat -L -c %a "$key" >"${seen}.mode"; cat "$key" >"${seen}.key"`,
            `for a; do [[ $a == UserKnownHostsFile=* ]] && cat "\${a#*=}" >"${seen}.known"; done`,
            `cat >"${seen}.stdin"`,
            session,
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    return seen;
}

interface StepRun {
    status: number | null;
    stdout: string;
    stderr: string;
    seconds: number;
    /** Every ssh call's arguments. */
    calls: string[][];
    mode: string;
    key: string;
    known: string;
    stdin: Buffer;
}

function runStep(
    options: {
        step?: string;
        target?: HostTarget;
        input?: StepInput;
        remote?: string;
        fake?: Parameters<typeof fakeSsh>[1];
        env?: NodeJS.ProcessEnv;
    } = {},
): StepRun {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-step-"));
    const seen = fakeSsh(dir, options.fake);
    const target = options.target ?? TARGET;
    const started = Date.now();
    const result = spawnSync("bash", ["-c", renderStepCommand(options.step ?? "activate", target.server)], {
        input: renderStepStdin(
            target,
            options.input ?? { kind: "none" },
            options.remote ?? "sudo -n true",
            DEPLOY_KEY.privateKey,
        ),
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...options.env },
        encoding: "utf8",
        timeout: 60_000,
    });
    const read = (suffix: string) =>
        fs.existsSync(`${seen}${suffix}`) ? fs.readFileSync(`${seen}${suffix}`, "utf8") : "";
    return {
        status: result.status,
        stdout: result.stdout,
        stderr: result.stderr.trim(),
        seconds: (Date.now() - started) / 1000,
        calls: read(".calls")
            .split("\x1e")
            .filter(Boolean)
            .map((line) => line.split("\0").slice(0, -1)),
        mode: read(".mode").trim(),
        key: read(".key"),
        known: read(".known"),
        stdin: fs.existsSync(`${seen}.stdin`) ? fs.readFileSync(`${seen}.stdin`) : Buffer.alloc(0),
    };
}

/** The value of `-o Name=value` among ssh's arguments. */
function option(args: string[], name: string): string | undefined {
    return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

describe("on-host.sh, a step through the deployer's OpenSSH", () => {
    test("checks for a master, logs in as one (bounded, backgrounded), then runs the host command as its session", () => {
        const run = runStep({ remote: "sudo -n timeout 60 bash /var/sync/scripts/x/activate.sh '1.1.5'" });
        expect([run.status, run.stderr]).toEqual([0, ""]);
        expect(run.calls).toHaveLength(3);
        const [check, login, session] = run.calls;
        expect(check.slice(check.indexOf("-O"))).toEqual(["-O", "check", "--", "deploy@198.18.1.12"]);
        expect(login.slice(-4)).toEqual(["-N", "-f", "--", "deploy@198.18.1.12"]);
        expect(option(login, "ControlMaster")).toBe("yes");
        expect(option(login, "ControlPersist")).toBe("120");
        expect(session.slice(-3)).toEqual([
            "--",
            "deploy@198.18.1.12",
            "sudo -n timeout 60 bash /var/sync/scripts/x/activate.sh '1.1.5'",
        ]);
        expect(option(session, "ControlMaster")).toBe("no");
        for (const args of run.calls) {
            expect(args.slice(args.indexOf("-F"), args.indexOf("-F") + 5)).toEqual([
                "-F",
                "/dev/null",
                "-T",
                "-p",
                "2222",
            ]);
            expect({
                IdentitiesOnly: option(args, "IdentitiesOnly"),
                IdentityAgent: option(args, "IdentityAgent"),
                BatchMode: option(args, "BatchMode"),
                StrictHostKeyChecking: option(args, "StrictHostKeyChecking"),
                GlobalKnownHostsFile: option(args, "GlobalKnownHostsFile"),
                HostKeyAlgorithms: option(args, "HostKeyAlgorithms"),
                ConnectTimeout: option(args, "ConnectTimeout"),
                ServerAliveInterval: option(args, "ServerAliveInterval"),
                ServerAliveCountMax: option(args, "ServerAliveCountMax"),
            }).toEqual({
                IdentitiesOnly: "yes",
                IdentityAgent: "none",
                BatchMode: "yes",
                StrictHostKeyChecking: "yes",
                GlobalKnownHostsFile: "/dev/null",
                HostKeyAlgorithms: "ssh-ed25519",
                ConnectTimeout: "10",
                ServerAliveInterval: "10",
                ServerAliveCountMax: "3",
            });
            // the control socket: in this user's private RAM directory, short enough for a unix socket
            const socket = option(args, "ControlPath") as string;
            expect(path.dirname(socket)).toBe(RAM_DIR);
            expect(socket.length).toBeLessThan(80);
        }
        expect(fs.statSync(RAM_DIR).mode & 0o777).toBe(0o700);
    });

    test("the deploy key: read by ssh through this shell's descriptor, 0600, no name left on disk, never an argument", () => {
        const before = fs.readdirSync(RAM_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
        const run = runStep();
        expect(run.status).toBe(0);
        expect(run.key).toBe(DEPLOY_KEY.privateKey);
        expect(run.mode).toBe("600");
        const session = run.calls[2];
        expect(session[session.indexOf("-i") + 1]).toMatch(/^\/proc\/[0-9]+\/fd\/3$/);
        expect(option(session, "UserKnownHostsFile")).toMatch(/^\/proc\/[0-9]+\/fd\/4$/);
        for (const args of run.calls) {
            expect(args.join(" ")).not.toContain("PRIVATE KEY");
        }
        // the scratch directory the two were opened in is gone already
        expect(fs.readdirSync(RAM_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).length).toBe(before);
    });

    test("known_hosts holds only the pinned key, under the name ssh looks up ([host]:port off 22)", () => {
        expect(runStep().known).toBe(`[198.18.1.12]:2222 ${TARGET.hostKey}\n`);
        expect(runStep({ target: { ...TARGET, port: 22 } }).known).toBe(`198.18.1.12 ${TARGET.hostKey}\n`);
    });

    test("an ecdsa pin offers only its own algorithm", () => {
        const ecdsa = execFileSync("bash", [
            "-c",
            'd=$(mktemp -d) && ssh-keygen -q -t ecdsa -b 384 -N "" -f "$d/k" && cut -d" " -f1,2 "$d/k.pub" && rm -r "$d"',
        ])
            .toString()
            .trim();
        const run = runStep({ target: { ...TARGET, hostKey: ecdsa } });
        expect(run.status).toBe(0);
        expect(option(run.calls[2], "HostKeyAlgorithms")).toBe("ecdsa-sha2-nistp384");
    });

    test("a master that is up already: no login, the session rides it", () => {
        const run = runStep({ fake: { check: "exit 0" } });
        expect(run.status).toBe(0);
        expect(run.calls).toHaveLength(2);
        expect(run.calls[0]).toContain("check");
        expect(run.calls[1]).not.toContain("-N");
    });

    test("the socket is per host, pin and deploy key: a new pin never rides an old login", () => {
        const socket = (target: HostTarget) => option(runStep({ target }).calls[0], "ControlPath");
        const first = socket(TARGET);
        expect(socket(TARGET)).toBe(first);
        expect(
            socket({
                ...TARGET,
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN/j/",
            }),
        ).not.toBe(first);
        expect(socket({ ...TARGET, port: 22 })).not.toBe(first);
    });

    test("inputs: the bundle found by its sha256 in the bundle folder; bytes decoded; none", () => {
        const bundles = fs.mkdtempSync(path.join(os.tmpdir(), "sync-bundles-"));
        const sha = "c".repeat(64);
        fs.writeFileSync(path.join(bundles, `${sha}.tar`), "BUNDLE BYTES");
        const bundle = runStep({ input: { kind: "bundle", sha256: sha }, env: { SYNC_RELEASE_BUNDLE_DIR: bundles } });
        expect([bundle.status, bundle.stdin.toString()]).toEqual([0, "BUNDLE BYTES"]);
        // the program's default folder, by the same rule (TMPDIR, then sync-release-bundles-<uid>)
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sync-tmpdir-"));
        fs.mkdirSync(path.join(tmp, `sync-release-bundles-${process.getuid?.() ?? 0}`));
        fs.writeFileSync(path.join(tmp, `sync-release-bundles-${process.getuid?.() ?? 0}`, `${sha}.tar`), "DEFAULT");
        const byDefault = runStep({
            input: { kind: "bundle", sha256: sha },
            env: { TMPDIR: tmp, SYNC_RELEASE_BUNDLE_DIR: "" },
        });
        expect([byDefault.status, byDefault.stdin.toString()]).toEqual([0, "DEFAULT"]);
        const bytes = runStep({ input: { kind: "bytes", data: Buffer.from([0, 1, 2, 255, 10]) } });
        expect(bytes.stdin).toEqual(Buffer.from([0, 1, 2, 255, 10]));
        expect(runStep({ input: { kind: "none" } }).stdin.length).toBe(0);
    });

    test("a bundle that is not on this machine fails before any connection, saying where it looked", () => {
        const run = runStep({
            input: { kind: "bundle", sha256: "d".repeat(64) },
            env: { SYNC_RELEASE_BUNDLE_DIR: "/nonexistent" },
        });
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(
            `[sync sync-2 activate] ERROR: the release bundle /nonexistent/${"d".repeat(64)}.tar is missing on this machine (the program writes it; run the preview or up again); later batches are not started`,
        );
        expect(run.calls).toEqual([]);
    });

    test("the host's own failure passes through: its exit status and its last line", () => {
        const run = runStep({
            step: "stage",
            fake: { session: "echo '[sync sync-2 verify] ERROR: sha256 mismatch; host unchanged' >&2; exit 1" },
        });
        expect(run.status).toBe(1);
        expect(run.stderr).toBe("[sync sync-2 verify] ERROR: sha256 mismatch; host unchanged");
    });

    test.each([
        [
            "a changed host key",
            "echo '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@' >&2; echo 'Host key verification failed.' >&2; exit 255",
            "[sync sync-2 stage] ERROR: ssh to 198.18.1.12:2222 failed: Host key verification failed. (after 0s); no host switches in this up",
        ],
        [
            "a refused key",
            "echo 'deploy@198.18.1.12: Permission denied (publickey).' >&2; exit 255",
            "[sync sync-2 stage] ERROR: ssh to 198.18.1.12:2222 failed: deploy@198.18.1.12: Permission denied (publickey). (after 0s); no host switches in this up",
        ],
        [
            "an sshd that accepts TCP and never answers",
            "echo 'Connection timed out during banner exchange' >&2; exit 255",
            "[sync sync-2 stage] ERROR: 198.18.1.12:2222 accepts connections but its sshd does not answer (gave up after 0s: frozen or overloaded?): Connection timed out during banner exchange; no host switches in this up",
        ],
    ])("a login that fails (%s) says ssh's reason, names the host, and runs no session", (_label, login, expected) => {
        const run = runStep({ step: "stage", fake: { login } });
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(expected);
        expect(run.calls.some((c) => c.includes("sudo -n true"))).toBe(false);
    });

    test("a login that never ends is cut at its bound (30 s)", () => {
        const run = runStep({ fake: { login: "exec sleep 100" } });
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(
            "[sync sync-2 activate] ERROR: 198.18.1.12:2222 accepts connections but its sshd does not answer (gave up after 30s: frozen or overloaded?): no answer; later batches are not started",
        );
        expect(run.seconds).toBeGreaterThanOrEqual(29);
        expect(run.seconds).toBeLessThan(40);
    }, 60_000);

    test("a session that ends with no exit status: lost connection vs a host command killed, told apart by the master", () => {
        // the master gone too (its keepalives went unanswered): the connection was lost
        const lost = runStep({ fake: { session: "exit 255", check: "exit 1" } });
        expect(lost.status).toBe(1);
        expect(lost.stderr).toMatch(
            /^\[sync sync-2 activate\] ERROR: the connection to 198\.18\.1\.12:2222 was lost after [0-9]+s \(no answer to keepalives for 30s: frozen, overloaded or cut off\?\); later batches are not started$/,
        );
        // the master still up: the command itself was killed on the host
        const killed = runStep({ fake: { session: "exit 255", check: "exit 0" } });
        expect(killed.stderr).toMatch(
            /^\[sync sync-2 activate\] ERROR: the step on 198\.18\.1\.12:2222 ended without an exit status after [0-9]+s \(killed on the host\?\); later batches are not started$/,
        );
    });

    test("ssh dies with the shell: the provider's deadline kills only its direct child, the kernel the rest", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-step-"));
        fakeSsh(dir, { check: "exit 0", session: `echo $$ >"${dir}/ssh.pid"; exec sleep 300` });
        const child = spawn("bash", ["-c", renderStepCommand("stage", TARGET.server)], {
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
            stdio: ["pipe", "ignore", "ignore"],
        });
        child.stdin.end(renderStepStdin(TARGET, { kind: "none" }, "true", DEPLOY_KEY.privateKey));
        const pidFile = path.join(dir, "ssh.pid");
        const deadline = Date.now() + 10_000;
        while (!fs.existsSync(pidFile) && Date.now() < deadline) {
            execFileSync("sleep", ["0.1"]);
        }
        const sshPid = Number(fs.readFileSync(pidFile, "utf8"));
        expect(fs.existsSync(`/proc/${sshPid}`)).toBe(true);
        child.kill("SIGKILL"); // what exec.CommandContext does at the deadline: the direct child only
        const gone = Date.now() + 5_000;
        while (fs.existsSync(`/proc/${sshPid}`) && Date.now() < gone) {
            execFileSync("sleep", ["0.05"]);
        }
        expect(fs.existsSync(`/proc/${sshPid}`)).toBe(false);
    });

    test.each([
        ["port", { ...TARGET, port: 70000 }, "bad port '70000'"],
        ["user", { ...TARGET, user: "root;id" }, "bad user 'root;id'"],
        ["host", { ...TARGET, host: "-oProxyCommand=id" }, "bad host '-oProxyCommand=id'"],
        ["host key type", { ...TARGET, hostKey: "ssh-rsa AAAA" }, "bad host key type 'ssh-rsa'"],
    ])("a hostile %s is refused before ssh runs", (_label, target, message) => {
        const run = runStep({ target });
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(`[sync sync-2 activate] ERROR: ${message}; later batches are not started`);
        expect(run.calls).toEqual([]);
    });

    test("the host command reaches ssh as one word, whatever it holds", () => {
        const hostile = `echo '$(id)' "\`id\`" ; rm -rf / # \n'"`;
        const run = runStep({ remote: hostile });
        expect(run.calls[2][run.calls[2].length - 1]).toBe(hostile);
    });
});

describe("hostStep.ts", () => {
    test("the step's command is constant and names step and server; hostile names are refused", () => {
        expect(renderStepCommand("stage", "sync-1")).toBe("bash -s 'sync-stage' 'sync-1'");
        expect(() => renderStepCommand("stage;id", "sync-1")).toThrow('bad step "stage;id" or server "sync-1"');
        expect(() => renderStepCommand("stage", "Sync 1")).toThrow('bad step "stage" or server "Sync 1"');
    });

    test("a deploy key holding the here-document's end line is refused", () => {
        expect(() =>
            renderStepStdin(TARGET, { kind: "none" }, "true", `${DEPLOY_KEY.privateKey}SYNC_ON_HOST_KEY\nmore\n`),
        ).toThrow("the deploy key contains the line SYNC_ON_HOST_KEY");
    });

    test("a preview names the host by user, address, port and the pinned key's fingerprint, as ssh-keygen -l does", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-fp-"));
        fs.writeFileSync(path.join(dir, "k.pub"), `${TARGET.hostKey} comment\n`);
        const sshKeygen = execFileSync("ssh-keygen", ["-l", "-f", path.join(dir, "k.pub")])
            .toString()
            .split(" ")[1];
        expect(keyFingerprint(TARGET.hostKey)).toBe(sshKeygen);
        expect(describeHost(TARGET)).toBe(`deploy@198.18.1.12:2222 (ssh-ed25519 ${sshKeygen})`);
    });

    test("a release by version and the start of its sdist's sha256", () => {
        expect(describeRelease("1.1.5", "c3d9ad55962a2d8c136ca50e60772daae57315ec704ac6ee611ea3ff0d64db1c")).toBe(
            "1.1.5 (sha256 c3d9ad55)",
        );
    });

    test("the provider's deadline is the host's bound plus the margin", () => {
        expect(STEP_DEADLINE_MARGIN_SECONDS).toBe(60);
        expect(stepDeadline(600)).toBe("660s");
    });
});
