// The reachability probe (components/local/reach.sh) as the stack runs it: its command line and
// stdin from components/hostProbe.ts, run by bash with `ssh` replaced by a fake that records what
// it was given. A real sshd, frozen, is the engine tier's test.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROBE_SECONDS, renderProbeCommand, renderProbeStdin } from "../../components/hostProbe";
import { DEPLOY_KEY } from "./fixtures";

const TARGET = {
    server: "sync-2",
    host: "198.18.1.12",
    port: 2222,
    user: "deploy",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy1QAWCjH0vSrwQhHfFLI0WOzPGa+15dm7JrKzJtqt9",
};

/** Run the probe with a fake `ssh` whose body is `fake` (bash); returns what it saw too. */
function probeWith(fake: string, seconds = 5, target = TARGET) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-probe-"));
    const seen = path.join(dir, "seen");
    fs.writeFileSync(
        path.join(dir, "ssh"),
        [
            "#!/bin/bash",
            `printf '%s\\n' "$@" >"${seen}.args"`,
            // the key file and known_hosts ssh was pointed at, as ssh would read them
            'key=""; prev=""; for a; do [[ $prev == -i ]] && key=$a; prev=$a; done',
            `stat -c %a "$key" >"${seen}.mode"; cat "$key" >"${seen}.key"`,
            `for a; do [[ $a == UserKnownHostsFile=* ]] && cat "\${a#*=}" >"${seen}.known"; done; true`,
            fake,
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    const scratch = path.join(dir, "tmp");
    fs.mkdirSync(scratch);
    const started = Date.now();
    const result = spawnSync("bash", ["-c", renderProbeCommand(target, seconds)], {
        input: renderProbeStdin(DEPLOY_KEY.privateKey),
        // TMPDIR is only used where /dev/shm is missing; the fake ssh shows which directory was used
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, TMPDIR: scratch },
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
        args: read(".args").trim().split("\n"),
        mode: read(".mode").trim(),
        key: read(".key"),
        known: read(".known"),
    };
}

test("a host that answers: ssh logs in with the deploy key (0600, gone afterwards), the host key pinned", () => {
    const r = probeWith("exit 0");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^sync-2 answers SSH \(\d+s\)\n$/);
    expect(r.key).toBe(DEPLOY_KEY.privateKey.endsWith("\n") ? DEPLOY_KEY.privateKey : `${DEPLOY_KEY.privateKey}\n`);
    expect(r.mode).toBe("600");
    expect(r.known).toBe(`[198.18.1.12]:2222 ${TARGET.hostKey}\n`);
    const keyFile = r.args[r.args.indexOf("-i") + 1];
    expect(fs.existsSync(keyFile)).toBe(false);
    expect(fs.existsSync(path.dirname(keyFile))).toBe(false);
    // no config, agent or other identity; strict host key checking; a trivial command
    for (const option of [
        "IdentitiesOnly=yes",
        "IdentityAgent=none",
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        "GlobalKnownHostsFile=/dev/null",
    ]) {
        expect(r.args).toContain(option);
    }
    expect(r.args.slice(0, 2)).toEqual(["-F", "/dev/null"]);
    expect(r.args.slice(-3)).toEqual(["--", "deploy@198.18.1.12", "true"]);
});

test("port 22 is pinned under the bare host name, as known_hosts writes it", () => {
    expect(probeWith("exit 0", 5, { ...TARGET, port: 22 }).known).toBe(`198.18.1.12 ${TARGET.hostKey}\n`);
});

test("a host that accepts the connection and never answers (frozen sshd): fails within the bound, naming it", () => {
    const r = probeWith("exec sleep 60", 2);
    expect(r.status).toBe(1);
    expect(r.seconds).toBeLessThan(10);
    expect(r.stderr).toBe(
        "[sync sync-2 probe] ERROR: 198.18.1.12:2222 accepts connections but its sshd does not answer within 2s (frozen or overloaded?): no answer; later hosts are not started",
    );
    const keyFile = r.args[r.args.indexOf("-i") + 1];
    expect(fs.existsSync(path.dirname(keyFile))).toBe(false);
});

test("ssh's own failure (a changed host key) is passed on as its last line, after its banner", () => {
    const r = probeWith(
        [
            "echo '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@' >&2",
            "echo '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @' >&2",
            "echo 'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!' >&2",
            "echo 'Host key verification failed.' >&2",
            "exit 255",
        ].join("; "),
        PROBE_SECONDS,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
        "[sync sync-2 probe] ERROR: ssh to 198.18.1.12:2222 failed: Host key verification failed.; later hosts are not started",
    );
});

test("a frozen sshd that ssh itself gives up on (its connect bound covers the banner) reads as frozen", () => {
    const r = probeWith("echo 'Connection timed out during banner exchange' >&2; exit 255", 2);
    expect(r.stderr).toBe(
        "[sync sync-2 probe] ERROR: 198.18.1.12:2222 accepts connections but its sshd does not answer within 2s (frozen or overloaded?): Connection timed out during banner exchange; later hosts are not started",
    );
});

test("a failure with nothing on stderr still says how ssh exited", () => {
    expect(probeWith("exit 255", 5).stderr).toBe(
        "[sync sync-2 probe] ERROR: ssh to 198.18.1.12:2222 failed: exit status 255; later hosts are not started",
    );
});

test("hostile values stay single words; the key never appears on a command line", () => {
    const hostile = { ...TARGET, host: "h'; touch /tmp/p #", user: "$(id)" };
    const command = renderProbeCommand(hostile);
    expect(command).toBe(
        `bash -s sync-reach 'sync-2' 'h'\\''; touch /tmp/p #' '2222' '$(id)' '${TARGET.hostKey}' '30'`,
    );
    expect(command).not.toContain("PRIVATE KEY");
    expect(() => renderProbeCommand(TARGET, 0)).toThrow("probe seconds must be a whole number from 1 to 9999, got 0");
    expect(() => renderProbeStdin("x\nSYNC_REACH_KEY\ny")).toThrow("the deploy key contains the line SYNC_REACH_KEY");
});
