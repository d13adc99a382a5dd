// EC2 servers under mocks: host keys made on the instance and read from its console output through
// the EC2 API, user data with nothing secret in it, and no change that replaces the fleet in one
// update. The host-key script itself runs for real against a fake AWS CLI.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MOCK_HOST_KEY_LINE, ProgramRun, Recorded, isSecretInput, runProgram, unwrap, waitsFor } from "./harness";
import { DEPLOY_KEY, SECRET_KEYS, makeArtifactDir, prodConfig } from "./fixtures";
import { LAUNCH_ONLY_INPUTS, pinnedHostKeyOf, renderCloudInit, renderHostKeyStep } from "../../components/ec2Host";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";

const LOCAL = "command:local:Command";
const INSTANCE = "aws:ec2/instance:Instance";
const OTHER_DEPLOY_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 8), "deploy-2");

function named(run: ProgramRun, name: string): Recorded {
    const found = run.resources.find((r) => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${run.resources.map((r) => r.name).join(", ")}`);
    }
    return found;
}

/** The host key a step's on-host.sh call pins (its stdin is secret: the deploy key is in it). */
function pinnedBy(resource: Recorded): string | undefined {
    return /\non_host '[^']*' '[^']*' '[0-9]+' '([^']*)' /.exec(unwrap(resource.inputs.stdin) as string)?.[1];
}

/** `<type> <base64>` of a .pub line. */
function pinned(line: string): string {
    return line.trim().split(" ").slice(0, 2).join(" ");
}

/** Remote resources (commands and uploads) below the SyncServer `sync-<server>`. */
function remoteOf(run: ProgramRun, server: string): Recorded[] {
    const byKey = new Map(run.resources.map((r) => [r.key, r]));
    const under = (r: Recorded): boolean => {
        for (let p = r.opts.parent ? byKey.get(r.opts.parent) : undefined; p; ) {
            if (p.type === "sync:server:SyncServer") {
                return p.name === `sync-${server}`;
            }
            p = p.opts.parent ? byKey.get(p.opts.parent) : undefined;
        }
        return false;
    };
    return run.resources.filter((r) => r.type === LOCAL && under(r));
}

function ec2Servers(names: string[]): unknown[] {
    return names.map((name) => ({ name, ec2: { instanceType: "t3.small", sshCidrs: ["203.0.113.0/24"] } }));
}

describe("an EC2 server", () => {
    let artifactDir: string;
    let run: ProgramRun;

    beforeAll(async () => {
        artifactDir = makeArtifactDir(["1.1.4"]);
        run = await runProgram(prodConfig(artifactDir, { "sync:servers": ec2Servers(["cloud1"]) }), SECRET_KEYS);
    });

    test("is an Ec2Host below its SyncServer, parent of every EC2 resource and of the host-key step", () => {
        const ec2Host = run.resources.find((r) => r.type === "sync:server:Ec2Host");
        expect(ec2Host?.opts.parent).toBe("sync:server:SyncServer::sync-cloud1");
        const aws = run.resources.filter((r) => r.type.startsWith("aws:ec2/"));
        expect(aws.map((r) => [r.name, r.opts.parent])).toEqual(
            ["sync-cloud1-sg", "sync-cloud1-key", "sync-cloud1-instance"].map((n) => [
                n,
                "sync:server:Ec2Host::sync-cloud1",
            ]),
        );
        expect(named(run, "sync-cloud1-hostkey").opts.parent).toBe("sync:server:Ec2Host::sync-cloud1");
    });

    test("user data holds no private key and nothing secret: only the template", () => {
        const userData = named(run, "sync-cloud1-instance").inputs.userData;
        expect(isSecretInput(userData)).toBe(false);
        expect(userData).toBe(renderCloudInit());
        expect(userData).not.toContain("PRIVATE KEY");
        expect(userData).not.toContain("ssh_keys");
        // Fresh host keys made on the instance, the image's deleted.
        expect(userData).toContain("ssh_deletekeys: true\nssh_genkeytypes: [ed25519]\n");
    });

    test("a new deploy key changes no instance input (only the key pair), so it replaces no instance", async () => {
        const other = await runProgram(
            prodConfig(artifactDir, {
                "sync:servers": ec2Servers(["cloud1"]),
                "sync:sshPrivateKey": OTHER_DEPLOY_KEY.privateKey,
            }),
            SECRET_KEYS,
        );
        expect(named(other, "sync-cloud1-instance").inputs).toEqual(named(run, "sync-cloud1-instance").inputs);
        expect(named(other, "sync-cloud1-instance").inputs.userData).toBe(renderCloudInit());
        expect(named(other, "sync-cloud1-key").inputs.publicKey).toBe(OTHER_DEPLOY_KEY.publicKey);
        // nor does the host key get read again: the step's inputs do not hold the deploy key
        expect(named(other, "sync-cloud1-hostkey").inputs).toEqual(named(run, "sync-cloud1-hostkey").inputs);
    });

    test("the instance never replaces on user data; AMI, user data and key name are read at launch only", () => {
        const instance = named(run, "sync-cloud1-instance");
        expect(instance.inputs.userDataReplaceOnChange).toBeUndefined();
        expect(instance.opts.ignoreChanges).toEqual(["ami", "userData", "keyName"]);
        expect(LAUNCH_ONLY_INPUTS).toEqual(["ami", "userData", "keyName"]);
        expect(instance.inputs).toMatchObject({
            ami: "ami-0debian12",
            keyName: "sync-cloud1-key-kp",
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
            rootBlockDevice: { encrypted: true },
        });
    });

    test("the key pair is the public half of the deploy key, not secret", () => {
        const publicKey = named(run, "sync-cloud1-key").inputs.publicKey;
        expect(isSecretInput(publicKey)).toBe(false);
        expect(publicKey).toBe(DEPLOY_KEY.publicKey);
    });

    test("the security group allows SSH from sshCidrs only, HTTP from httpCidrs", () => {
        const sg = named(run, "sync-cloud1-sg");
        expect(
            sg.inputs.ingress.map((rule: { fromPort: number; toPort: number; cidrBlocks: string[] }) => [
                rule.fromPort,
                rule.toPort,
                rule.cidrBlocks,
            ]),
        ).toEqual([
            [22, 22, ["203.0.113.0/24"]],
            [80, 80, ["0.0.0.0/0"]],
        ]);
    });

    test("the host-key step reads the instance's console output through the EC2 API, once per instance", () => {
        const step = named(run, "sync-cloud1-hostkey");
        // a command on the deployer: no SSH connection trusts an unpinned key, ever
        expect(step.type).toBe(LOCAL);
        expect(step.inputs).not.toHaveProperty("connection");
        const rendered = renderHostKeyStep("cloud1", "sync-cloud1-instance-id", "eu-west-1", 600);
        expect(step.inputs.create).toBe(rendered.command);
        expect(step.inputs.create).toBe(
            "bash -s sync-console-key 'cloud1' 'sync-cloud1-instance-id' 'eu-west-1' '600'",
        );
        expect(step.inputs.stdin).toBe(rendered.stdin);
        // The mock's id of the instance: a new instance is the only reason to read the key again
        // (no address, no deploy key among its inputs).
        expect(step.inputs.triggers).toEqual(["sync-cloud1-instance-id"]);
        expect(Object.keys(step.inputs).sort()).toEqual(["addPreviousOutputInEnv", "create", "stdin", "triggers"]);
        expect(step.inputs.update).toBeUndefined();
        expect(step.inputs.delete).toBeUndefined();
        expect(step.opts.retainOnDelete ?? false).toBe(false);
    });

    test("every other remote step pins the key the host-key step printed and waits for it", () => {
        const others = remoteOf(run, "cloud1").filter((r) => r.name !== "sync-cloud1-hostkey");
        expect(others.map((r) => r.name).sort()).toEqual([
            "sync-cloud1-activate",
            "sync-cloud1-ini",
            "sync-cloud1-stage",
        ]);
        for (const resource of others) {
            expect([resource.name, pinnedBy(resource)]).toEqual([resource.name, pinned(MOCK_HOST_KEY_LINE)]);
            expect([resource.name, waitsFor(run, resource.key).has(`${LOCAL}::sync-cloud1-hostkey`)]).toEqual([
                resource.name,
                true,
            ]);
        }
        // The instance id and the pinned key are the host's identity: a new one runs every step again.
        expect(named(run, "sync-cloud1-stage").inputs.environment).toMatchObject({
            machine: "sync-cloud1-instance-id",
            host: expect.stringMatching(/^admin@203\.0\.113\.10:22 \(ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\)$/),
        });
        expect(run.outputs.servers).toMatchObject({ cloud1: { address: "203.0.113.10" } });
    });
});

describe("EC2 fleets", () => {
    test("each server pins the key its own instance reported", async () => {
        const keys = {
            cloud1: `${ed25519KeyPairFromSeed(Buffer.alloc(32, 21), "").publicKey} root@ip-10-0-0-21`,
            cloud2: `${ed25519KeyPairFromSeed(Buffer.alloc(32, 22), "").publicKey} root@ip-10-0-0-22\n`,
        };
        const run = await runProgram(
            prodConfig(makeArtifactDir(["1.1.4"]), { "sync:servers": ec2Servers(["cloud1", "cloud2"]) }),
            SECRET_KEYS,
            { commandStdout: { "sync-cloud1-hostkey": keys.cloud1, "sync-cloud2-hostkey": keys.cloud2 } },
        );
        for (const [server, line] of Object.entries(keys)) {
            const others = remoteOf(run, server).filter((r) => !r.name.endsWith("-hostkey"));
            expect(others).toHaveLength(3);
            for (const resource of others) {
                expect([resource.name, pinnedBy(resource)]).toEqual([resource.name, pinned(line)]);
            }
        }
    });

    test("instances launch in the stage phase, at most stageParallel at once, never behind an activation", async () => {
        const config = (stageParallel: number) =>
            prodConfig(makeArtifactDir(["1.1.4"]), {
                "sync:servers": ec2Servers(["cloud1", "cloud2"]),
                "sync:rollout": { batchSize: 1, stageParallel },
            });
        const bounded = await runProgram(config(1), SECRET_KEYS);
        const second = waitsFor(bounded, `${INSTANCE}::sync-cloud2-instance`);
        // with stageParallel 1: after the first server's stage phase, before any activation
        for (const step of ["stage"]) {
            expect([...second].some((key) => key.endsWith(`::sync-cloud1-${step}`))).toBe(true);
        }
        for (const step of ["ini", "activate"]) {
            expect([...second].some((key) => key.endsWith(`::sync-cloud1-${step}`))).toBe(false);
        }
        const parallel = await runProgram(config(16), SECRET_KEYS);
        expect([...waitsFor(parallel, `${INSTANCE}::sync-cloud2-instance`)]).toEqual([]);
        const first = waitsFor(parallel, `${INSTANCE}::sync-cloud1-instance`);
        expect([...first].filter((key) => key.includes("cloud2"))).toEqual([]);
    });

    test("pulumi destroy terminates the instances and needs no host: no step has a delete", async () => {
        const run = await runProgram(
            prodConfig(makeArtifactDir(["1.1.4"]), { "sync:servers": ec2Servers(["cloud1"]) }),
            SECRET_KEYS,
        );
        for (const resource of run.resources.filter((r) => r.type.startsWith("aws:ec2/") || r.type === LOCAL)) {
            expect([
                resource.name,
                resource.opts.retainOnDelete ?? false,
                resource.opts.protect ?? false,
                resource.inputs.delete,
            ]).toEqual([resource.name, false, false, undefined]);
        }
    });
});

describe("pinnedHostKeyOf", () => {
    const key = ed25519KeyPairFromSeed(Buffer.alloc(32, 4), "").publicKey;

    test.each([
        ["the .pub line with its comment", `${key} root@ip-10-0-0-10`],
        ["with the trailing newline", `${key} root@ip-10-0-0-10\n`],
        ["without a comment", key],
    ])("accepts %s, pinned as <type> <base64>", (_, stdout) => {
        expect(pinnedHostKeyOf("cloud1", stdout)).toBe(key);
    });

    test("accepts what ssh-keygen writes for a host key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-hostkey-"));
        const file = path.join(dir, "ssh_host_ed25519_key");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "root@ip-10-0-0-10", "-f", file]);
        const line = fs.readFileSync(`${file}.pub`, "utf8");
        expect(pinnedHostKeyOf("cloud1", line)).toBe(pinned(line));
    });

    test.each([
        ["nothing", ""],
        ["two lines", `${key}\n${key}`],
        ["an ecdsa key", pinned(execKeygenPub("ecdsa"))],
        ["a key cut short", key.slice(0, -8)],
        ["an error message", "cat: /etc/ssh/ssh_host_ed25519_key.pub: No such file or directory"],
    ])("refuses %s with a message naming the server", (_, stdout) => {
        expect(() => pinnedHostKeyOf("cloud1", stdout)).toThrow(
            /^server cloud1: the host key read from the instance's console is not one ed25519 public key line: /,
        );
    });
});

function execKeygenPub(type: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-hostkey-"));
    const file = path.join(dir, "key");
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", file]);
    return fs.readFileSync(`${file}.pub`, "utf8");
}

describe("the host-key script, run by bash against a fake AWS CLI", () => {
    const keyLine = `${ed25519KeyPairFromSeed(Buffer.alloc(32, 6), "").publicKey} root@ip-10-0-0-10`;
    const ecdsaLine = pinned(execKeygenPub("ecdsa"));
    const console = (keys: string[]) =>
        [
            "[   12.3] cloud-init[512]: Cloud-init v. 23.1 finished",
            "-----BEGIN SSH HOST KEY KEYS-----",
            ...keys,
            "-----END SSH HOST KEY KEYS-----",
            "Debian GNU/Linux 12 ip-10-0-0-10 ttyS0",
        ].join("\r\n");

    /**
     * Run the step as the provider would (its command line, the script on stdin) with `aws` a script
     * that answers from `answers` in turn (the last one again and again) and logs its arguments.
     */
    function runWith(answers: { stdout?: string; status?: number }[], seconds = 5, instance = "i-0123456789abcdef0") {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-aws-"));
        answers.forEach((a, i) => fs.writeFileSync(path.join(dir, `answer${i}`), a.stdout ?? ""));
        const statuses = answers.map((a) => a.status ?? 0).join(" ");
        fs.writeFileSync(
            path.join(dir, "aws"),
            [
                "#!/bin/bash",
                `printf '%s\\n' "$*" >>"${dir}/calls"`,
                `n=$(wc -l <"${dir}/calls"); i=$((n - 1)); last=${answers.length - 1}; ((i <= last)) || i=$last`,
                `statuses=(${statuses}); cat "${dir}/answer$i"; exit "\${statuses[$i]}"`,
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const step = renderHostKeyStep("cloud1", instance, "eu-west-1", seconds);
        const result = spawnSync("bash", ["-c", step.command], {
            input: step.stdin,
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
            encoding: "utf8",
            timeout: 60000,
        });
        const calls = fs.existsSync(path.join(dir, "calls"))
            ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n")
            : [];
        return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
    }

    test("prints the ed25519 line cloud-init put on the console, asking the EC2 API for that instance", () => {
        const result = runWith([{ stdout: console([ecdsaLine, keyLine]) }]);
        expect(result.stdout).toBe(`${keyLine}\n`);
        expect(result.status).toBe(0);
        expect(result.calls).toEqual([
            "ec2 get-console-output --instance-id i-0123456789abcdef0 --query Output --output text --region eu-west-1 --latest",
        ]);
        expect(pinnedHostKeyOf("cloud1", result.stdout)).toBe(pinned(keyLine));
    });

    test("an instance without --latest support, answering base64, is read from its buffered output", () => {
        const result = runWith([
            { status: 254, stdout: "--latest is only supported on Nitro instances" },
            { stdout: Buffer.from(console([keyLine])).toString("base64") },
        ]);
        expect(result.stdout).toBe(`${keyLine}\n`);
        expect(result.calls.map((c) => c.endsWith("--latest"))).toEqual([true, false]);
    });

    test("keys not on the console yet: polled until they are", () => {
        const result = runWith([{ stdout: "booting" }, { stdout: "booting" }, { stdout: console([keyLine]) }], 60);
        expect(result.stdout).toBe(`${keyLine}\n`);
        expect(result.calls.length).toBeGreaterThanOrEqual(3);
    }, 60_000);

    test("no key within the bound: fails naming the instance and the check to run by hand", () => {
        const started = Date.now();
        const result = runWith([{ stdout: "booting" }], 1);
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(result.status).toBe(1);
        expect(result.stdout).toBe("");
        expect(result.stderr.trim()).toBe(
            "[sync cloud1 hostkey] ERROR: no host key for i-0123456789abcdef0 within 1s: its console output shows no ssh-ed25519 host key yet (check: aws ec2 get-console-output --instance-id i-0123456789abcdef0)",
        );
    });

    test("a key outside cloud-init's markers is not taken (anyone can print to a console)", () => {
        const result = runWith([{ stdout: `${keyLine}\nno markers here` }], 1);
        expect(result.status).toBe(1);
        expect(result.stdout).toBe("");
    });

    test("a hostile instance id is refused before the API is asked", () => {
        const result = runWith([{ stdout: console([keyLine]) }], 5, "i-0123; touch /tmp/p");
        expect(result.status).toBe(1);
        expect(result.stderr.trim()).toBe("[sync cloud1 hostkey] ERROR: bad instance id 'i-0123; touch /tmp/p'");
        expect(result.calls).toEqual([]);
    });
});
