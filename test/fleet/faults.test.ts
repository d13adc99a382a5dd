// Faults on sync-2 (and sync-3 for the Python mod_wsgi was built for): every failure leaves the
// host as it was, or switches it back, and says so in its last line. A fault in a release is
// found by its stage step, before anything served changes; one in serving it by its activate step.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ReleaseArtifact } from "../../components/artifacts";
import { hostLayoutValue } from "../../components/hostLayout";
import { shellQuote } from "../../components/shellQuote";
import { bootstrap, brokenRelease, buildReleases, Host, hosts, release, REPO, run } from "./hostHarness";
import { error, expectRefused, expectServing, killedAt, lastLine, staged } from "./steps";

let dir: string;
let h: Host;
let h3: Host;
let scratch: string;

beforeAll(async () => {
    [, h, h3] = hosts();
    dir = await buildReleases();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sync-faults-"));
    await bootstrap(h, dir, "1.1.4");
    await bootstrap(h3, dir, "1.1.4");
    // Re-runnable on a used fleet: only 1.1.4 built on sync-2 (the tests below build the others).
    await h.sh(
        'cd /var/sync/releases && for d in * .trash.*; do [ "$d" = 1.1.4 ] || rm -rf -- "$d" "../.built/$d"; done; rm -f ../previous',
    );
});

afterAll(() => {
    fs.rmSync(scratch, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** A release whose bundle is the given bytes (in a bundle folder of its own, streamed like any other). */
function withBundle(r: ReleaseArtifact, bytes: Buffer): ReleaseArtifact {
    const file = path.join(scratch, `${sha256(bytes)}.tar`);
    fs.writeFileSync(file, bytes);
    return { ...r, bundlePath: file, bundleSha256: sha256(bytes), bundleBytes: bytes.length };
}

/**
 * A bundle crafted with Python's tarfile, as an attacker could: the 1.9 sdist and the host scripts
 * (the stage reads its entry point from the bundle) plus one hostile member.
 */
async function hostileBundle(kind: string): Promise<ReleaseArtifact> {
    const file = path.join(scratch, `hostile-${kind}.tar`);
    const craft = await run("python3", [
        "-c",
        `
import io, os, sys, tarfile
kind, out, sdist, scripts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    t.add(sdist, arcname="WeaveServer-1.9.tar.gz")
    for name in sorted(os.listdir(scripts)):
        if name.endswith((".sh", ".py")):
            t.add(os.path.join(scripts, name), arcname="scripts/" + name)
    def put(name, data=b"x", **kw):
        info = tarfile.TarInfo(name); info.size = len(data)
        for k, v in kw.items(): setattr(info, k, v)
        t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    if kind == "link": put("wheelhouse/evil.whl", type=tarfile.SYMTYPE, linkname="/etc/shadow", size=0)
    if kind == "dotdot": put("../../../../var/sync-escape")
    if kind == "absolute": put("/var/sync-escape")
    if kind == "hardlink": put("wheelhouse/evil.whl", type=tarfile.LNKTYPE, linkname="/etc/shadow", size=0)
`,
        kind,
        file,
        release(dir, "1.9").sdistPath,
        path.join(REPO, "components/remote"),
    ]);
    expect(craft.code).toBe(0);
    return withBundle(release(dir, "1.9"), fs.readFileSync(file));
}

const NOT_REGULAR = "holds something other than regular files (links, devices, directories); host unchanged";

describe("sync-2: refused before the switch, host unchanged", () => {
    // Each row: the release to stage (its bundle streamed as the stack streams it, other bytes
    // in its place if the fault needs it), and the exact last line of the refusal.
    test.each<[string, () => Promise<[ReleaseArtifact, string, Buffer?]>]>([
        [
            "case 1: a bundle corrupted in transit: its sha256 does not match",
            async () => {
                const r = release(dir, "1.9");
                // one byte flipped on the way (padding after SHA256SUMS: tar would read on)
                const sent = Buffer.from(fs.readFileSync(r.bundlePath));
                sent[2000] ^= 0xff;
                return [
                    r,
                    error(
                        h,
                        "verify",
                        `sha256 of the release bundle is ${sha256(sent)}, expected ${r.bundleSha256} (cut short?); host unchanged`,
                    ),
                    sent,
                ];
            },
        ],
        [
            "case 1: a truncated bundle (whose sha256 matches) is not unpacked",
            async () => {
                const whole = fs.readFileSync(release(dir, "1.9").bundlePath);
                const r = withBundle(release(dir, "1.9"), whole.subarray(0, Math.floor(whole.length / 2) + 100));
                return [r, error(h, "verify", "the release bundle is not a readable tar; host unchanged")];
            },
        ],
        [
            "case 1: a truncated sdist inside a sound bundle: the gzip/tar check refuses it",
            async () => {
                const r = brokenRelease(dir, "3.3");
                return [r, error(h, "verify", "WeaveServer-3.3.tar.gz is not a readable tar.gz; host unchanged")];
            },
        ],
        [
            "the sdist in the bundle is not the one the stack names",
            async () => {
                const r = { ...release(dir, "1.9"), sha256: release(dir, "1.10").sha256 };
                const actual = release(dir, "1.9").sha256;
                return [
                    r,
                    error(
                        h,
                        "verify",
                        `the sdist in the release bundle has sha256 ${actual}, expected ${r.sha256}; host unchanged`,
                    ),
                ];
            },
        ],
        ...(
            [
                ["link", NOT_REGULAR],
                ["dotdot", "holds an unexpected member '../../../../var/sync-escape'; host unchanged"],
                ["absolute", "holds an unexpected member '/var/sync-escape'; host unchanged"],
                ["hardlink", NOT_REGULAR],
            ] as const
        ).map(([kind, why]): [string, () => Promise<[ReleaseArtifact, string]>] => [
            `a bundle with a hostile member (${kind}) is refused before anything is unpacked`,
            async () => {
                const r = await hostileBundle(kind);
                return [r, error(h, "verify", `the release bundle ${why}`)];
            },
        ]),
        [
            "item 11: a release re-cut under the same version is refused",
            async () => {
                // 1.1.4 is built on the host from its sdist; the stack now names another sdist as 1.1.4
                const recut = { ...release(dir, "1.1.4"), sha256: release(dir, "1.1.5").sha256 };
                return [
                    recut,
                    error(
                        h,
                        "receive",
                        `release 1.1.4 on this host was built from sha256 ${release(dir, "1.1.4").sha256}, the stack has ${recut.sha256}: a re-cut release needs a new version`,
                    ),
                ];
            },
        ],
        [
            "dependency missing from the wheelhouse (3.4): uv fails offline",
            async () => {
                const r = brokenRelease(dir, "3.4");
                return [
                    r,
                    error(
                        h,
                        "pip",
                        "uv could not install 3.4 offline (missing dependency in its wheelhouse?); host unchanged",
                    ),
                ];
            },
        ],
        [
            "import error (3.0): refused before the switch",
            async () => {
                const r = brokenRelease(dir, "3.0");
                return [r, error(h, "pip", "3.0 fails to import weave.server.wsgi; host unchanged")];
            },
        ],
    ])("%s", async (_label, prepare) => {
        const [r, expected, sent] = await prepare();
        await expectRefused(h, () => h.stage(r, "", { bundle: sent }), expected);
    });

    test("item 14: a full disk while unpacking uv: clear error, nothing marked complete", async () => {
        const r = release(dir, "2.0");
        const before = await h.state();
        // a 1 MB filesystem over the tools directory (hides the uv unpacked earlier)
        const mount = await h.exec(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", "/var/sync/tools"]);
        expect(mount.code).toBe(0);
        try {
            const res = await h.stage(r);
            expect(lastLine(res)).toBe(
                error(h, "verify", "could not unpack uv into /var/sync/tools (disk full?); host unchanged"),
            );
            expect(res.code).toBe(1);
            expect(res.stdout).toBe("");
            expect((await h.sh("ls -A /var/sync/tools")).trim()).toBe("");
        } finally {
            expect((await h.exec(["umount", "/var/sync/tools"])).code).toBe(0);
        }
        expect(await h.state()).toBe(before);
        await expectServing(h);
    });

    // The stack validates versions; the scripts check again (they also run by hand).
    test.each([
        ["`1.0;touch /tmp/p`", "1.0;touch /tmp/p"],
        ["$(id)", "$(id)"],
        ["../x", "../x"],
        ["empty", ""],
    ])("hostile version %s passed straight to stage.sh and activate.sh is rejected", async (_label, version) => {
        await h.sh("rm -f /tmp/p");
        const before = await h.state();
        const r = release(dir, "1.1.4");
        // renderStageCommand refuses such a version itself (the upload path is made of it): the
        // stack's command for 1.1.4, its version word replaced
        const word = ` ${shellQuote(r.version)} ${shellQuote(r.sha256)} `;
        const command = h.stageCommand(r, 60);
        expect(command.split(word).length).toBe(2);
        const stage = await h.ssh(command.replace(word, ` ${shellQuote(version)} ${shellQuote(r.sha256)} `));
        const activate = await h.ssh(h.activateCommand({ ...r, version }, 5, { timeoutSeconds: 60 }));
        for (const res of [stage, activate]) {
            expect(res.stderr).toBe(`${error(h, "setup", `bad version '${version}'`)}\n`);
            expect(res.code).toBe(1);
            expect(res.stdout).toBe("");
        }
        expect(await h.exists("/tmp/p")).toBe(false);
        expect(await h.state()).toBe(before);
        await expectServing(h);
    });

    test("wrong host key: ssh refuses before authentication", async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sync-wrongkey-"));
        try {
            await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(tmp, "k")]);
            const pub = fs.readFileSync(path.join(tmp, "k.pub"), "utf8").split(" ").slice(0, 2).join(" ");
            const kh = path.join(tmp, "known_hosts");
            fs.writeFileSync(kh, `${h.server.host} ${pub}\n`);
            const before = (await h.sh("grep -c Accepted /var/log/sshd.log || true")).trim();
            const bad = new Host(h.server, h.fleet, kh);
            const res = await bad.ssh("touch /tmp/wrongkey-ran");
            expect(res.code).toBe(255);
            expect(res.stderr).toContain("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!");
            expect(lastLine(res)).toBe("Host key verification failed.");
            // a missing host key (empty known_hosts) is refused the same way, uploads too
            const empty = path.join(tmp, "empty_known_hosts");
            fs.writeFileSync(empty, "");
            const res2 = await new Host(h.server, h.fleet, empty).ssh("touch /tmp/wrongkey-ran");
            expect(res2.code).toBe(255);
            expect(lastLine(res2)).toBe("Host key verification failed.");
            // the stack's own steps pin the key they are given: a wrong one is refused the same way
            const wrongPin = new Host(h.server, h.fleet, kh, pub);
            const step = await wrongPin.activate(release(dir, "1.1.4"));
            expect(step.code).toBe(1);
            expect(lastLine(step)).toBe(
                error(
                    h,
                    "activate",
                    `ssh to ${h.server.host}:22 failed: Host key verification failed. (after 0s); later batches are not started`,
                ),
            );
            expect(await h.exists("/tmp/wrongkey-ran")).toBe(false);
            // only our own two later connections (exists, grep) were accepted
            const after = (await h.sh("grep -c Accepted /var/log/sshd.log || true")).trim();
            expect(Number(after)).toBe(Number(before) + 2);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    test("invalid Apache config: no switch, no reload, old release keeps serving", async () => {
        const r = release(dir, "1.1.5");
        const pids = await h.daemonPids();
        await h.sh("echo 'ThisIsNotADirective on' > /etc/apache2/conf-enabled/zz-broken.conf");
        // the last lines of `apache2ctl -t`
        const apache =
            "Invalid command 'ThisIsNotADirective', perhaps misspelled or defined by a module not included in the server configuration Action '-t' failed. The Apache error log may have more information.";
        try {
            // the stage never asks Apache: it builds (or reuses) 1.1.5 as usual
            await staged(h, r);
            const n = (await h.events()).length;
            const res = await h.activate(r);
            expect(lastLine(res)).toBe(
                error(h, "activate", `Apache config test failed; not switching to 1.1.5: ${apache}`),
            );
            expect(res.code).toBe(1);
            expect(res.stdout).toBe("1.1.4\n");
            expect((await h.eventsSince(n)).filter((e) => /^(switch|reload|health|rollback) /.test(e))).toEqual([]);
            expect(await h.daemonPids()).toEqual(pids);
            await expectServing(h);
            // a settings change is refused too, and the file stays as it was
            const ini = await h.sh("cat /etc/sync.ini");
            const w = await h.ini(`${ini}# changed\n`);
            expect(lastLine(w)).toBe(
                error(h, "ini", `Apache config test failed; /etc/sync.ini left unchanged: ${apache}`),
            );
            expect(w.code).toBe(1);
            expect(await h.sh("cat /etc/sync.ini")).toBe(ini);
            expect(await h.daemonPids()).toEqual(pids);
        } finally {
            await h.sh("rm -f /etc/apache2/conf-enabled/zz-broken.conf");
        }
    });

    test("concurrent deploy: the second one fails on the lock", async () => {
        const holder = (await h.sh("nohup flock -o /var/sync/.deploy.lock sleep 30 >/dev/null 2>&1 & echo $!")).trim();
        expect(holder).toMatch(/^\d+$/);
        try {
            await new Promise((r) => setTimeout(r, 500));
            const r = release(dir, "1.1.5");
            // both steps that change the host; refused before the script has a trap of its own:
            // nothing on stdout
            for (const step of [
                () => h.stage(r, "SYNC_LOCK_WAIT=2"),
                () => h.activate(r, 5, { prefix: "SYNC_LOCK_WAIT=2" }),
            ]) {
                const t0 = Date.now();
                await expectRefused(
                    h,
                    step,
                    error(h, "setup", "another deploy holds /var/sync/.deploy.lock (waited 2s)"),
                );
                expect(Date.now() - t0).toBeLessThan(20_000);
            }
        } finally {
            await h.sh(`kill ${holder} || true`);
        }
    });
});

describe("item 5: switched back after a failed health check, saying what failed, without waiting it out", () => {
    test.each([
        ["3.1", "wrong version served", "host serves '0.0.0', heartbeat HTTP 200"],
        [
            "3.2",
            "heartbeat fails",
            "host serves '3.2', heartbeat HTTP 503: deliberately broken release (fault: heartbeat-fail)",
        ],
    ])("%s (%s): rolls back to 1.1.4, non-zero exit, says why", async (v, _label, why) => {
        const r = brokenRelease(dir, v);
        // the fault shows only when served: the stage builds it
        await staged(h, r);
        const n = (await h.events()).length;
        const t0 = Date.now();
        const res = await h.activate(r);
        const seconds = (Date.now() - t0) / 1000;
        expect(res.code).toBe(1);
        expect(lastLine(res)).toBe(
            `[sync sync-2 rollback] ERROR: ${v} failed its health check (${why}); switched back to 1.1.4`,
        );
        expect(res.stdout).toBe("1.1.4\n");
        // a definitive answer: no waiting for the 60 s health deadline
        expect(seconds).toBeLessThan(40);
        const ev = await h.eventsSince(n);
        expect(ev.some((e) => e.startsWith(`switch 1.1.4 -> ${v}`))).toBe(true);
        expect(ev.some((e) => e.startsWith(`rollback ${v} -> 1.1.4`))).toBe(true);
        await expectServing(h);
    });
});

describe("kill mid-stage", () => {
    test("killed during pip: current unchanged, no record; the next stage converges", async () => {
        const r = release(dir, "1.9");
        await killedAt(h, () => h.stage(r), "pip 1.9");
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        expect(await h.record("1.9")).toBe("");
        expect(await h.servedVersion()).toBe("1.1.4");
        // an unfinished build is never activated
        const refused = await h.activate(r);
        expect(lastLine(refused)).toBe(
            error(
                h,
                "activate",
                "release 1.9 is not staged on this host (no record of a finished, sealed build); its stage step must run first — replace it: pulumi up --target-replace <the server's -stage URN>",
            ),
        );
        expect(refused.code).toBe(1);
        expect(refused.stdout).toBe("1.1.4\n");
        const n = (await h.events()).length;
        const res = await h.stage(r);
        expect(res.code).toBe(0);
        expect(res.stderr).toContain("[sync sync-2 receive] removing an unfinished build of 1.9\n");
        expect((await h.eventsSince(n)).filter((e) => /^(reuse|venv|pip) /.test(e))).toEqual([
            "venv 1.9",
            `pip 1.9 (uv ${hostLayoutValue("SYNC_UV_VERSION")}, offline)`,
        ]);
        expect(await h.record("1.9")).toBe(r.sha256);
        expect((await h.activate(r)).code).toBe(0);
        expect(await h.servedVersion()).toBe("1.9");
        // back to 1.1.4 (a swap) for whoever comes next
        await staged(h, release(dir, "1.1.4"));
        expect((await h.activate(release(dir, "1.1.4"))).code).toBe(0);
        await expectServing(h);
    });
});

describe("item 10: a deploy cut off between the switch and its health check", () => {
    test("a broken release left current: the next run switches back to the last good one", async () => {
        const r = brokenRelease(dir, "3.2");
        await staged(h, r);
        await killedAt(h, () => h.activate(r), "health 3.2");
        // the cut left the unchecked release current, and the switch recorded
        expect(await h.readlink("/var/sync/current")).toBe("releases/3.2");
        expect(await h.sh("cat /var/sync/.switching")).toBe("1.1.4 3.2\n");
        // the same deploy again (an interrupted `pulumi up` is run again)
        const n = (await h.events()).length;
        const again = await h.activate(r);
        expect(again.code).toBe(1);
        expect(lastLine(again)).toBe(
            error(
                h,
                "rollback",
                "3.2 failed its health check (host serves '3.2', heartbeat HTTP 503: deliberately broken release (fault: heartbeat-fail)); switched back to 1.1.4",
            ),
        );
        const ev = await h.eventsSince(n);
        expect(ev).toContain("recover finishing the interrupted switch 1.1.4 -> 3.2");
        expect(ev.filter((e) => e === "rollback 3.2 -> 1.1.4").length).toBe(2);
        expect(await h.exists("/var/sync/.switching")).toBe(false);
        await expectServing(h);
    });

    test("prune never removes the last good release after an interrupted switch (keep 2)", async () => {
        const r = brokenRelease(dir, "3.2");
        await killedAt(h, () => h.activate(r, 2), "health 3.2");
        expect(await h.readlink("/var/sync/current")).toBe("releases/3.2");
        // the operator goes on with a good release, keep 2
        const good = release(dir, "1.1.5");
        await staged(h, good);
        const res = await h.activate(good, 2);
        expect(res.code).toBe(0);
        expect(res.stdout).toBe("1.1.5\n");
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.5");
        // the release that served before the cut is the one kept to go back to
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.1.4");
        expect(await h.releases()).toEqual(["1.1.4", "1.1.5"]);
    });

    test("a good release cut off mid-reload: the next run finishes the switch (previous recorded)", async () => {
        const r = release(dir, "1.1.4");
        await killedAt(h, () => h.activate(r, 2), "reload 1.1.4");
        expect(await h.readlink("/var/sync/current")).toBe("releases/1.1.4");
        const n = (await h.events()).length;
        const res = await h.activate(r, 2);
        expect(res.code).toBe(0);
        expect(res.stdout).toBe("1.1.4\n");
        const ev = await h.eventsSince(n);
        expect(ev).toContain("recover 1.1.4 is healthy; switch 1.1.5 -> 1.1.4 finished");
        expect(await h.readlink("/var/sync/previous")).toBe("releases/1.1.5");
        expect(await h.releases()).toEqual(["1.1.4", "1.1.5"]);
        await expectServing(h);
    });
});

describe("sync-3: case 14, the Python mod_wsgi was built for is missing or broken", () => {
    // mod_wsgi (libpython3.11) stays; only the interpreter the release venvs need goes away.
    test.each([
        ["missing", "", "preflight: mod_wsgi is built for /usr/bin/python3.11, which is not installed"],
        [
            "not running",
            "printf '#!/bin/sh\\nexit 1\\n' >/usr/bin/python3.11 && chmod 0755 /usr/bin/python3.11",
            "preflight: /usr/bin/python3.11 does not run",
        ],
    ])("%s: preflight fails before any build or switch", async (_label, replace, message) => {
        const r = release(dir, "2.0");
        const mv = await h3.exec(["mv", "/usr/bin/python3.11", "/root/python3.11"]);
        expect(mv.code).toBe(0);
        try {
            if (replace) {
                expect((await h3.exec(["sh", "-c", replace])).code).toBe(0);
            }
            const n = (await h3.events()).length;
            const res = await h3.stage(r);
            expect(res.code).toBe(1);
            expect(res.stdout).toBe("");
            expect(lastLine(res)).toBe(error(h3, "preflight", message));
            const ev = await h3.eventsSince(n);
            expect(ev.some((e) => /^(verify|venv|pip|switch) /.test(e))).toBe(false);
            expect(await h3.exists("/var/sync/releases/2.0")).toBe(false);
            expect(await h3.record("2.0")).toBe("");
            await expectServing(h3);
        } finally {
            const back = await h3.exec(["mv", "-f", "/root/python3.11", "/usr/bin/python3.11"]);
            expect(back.code).toBe(0);
        }
    });
});
