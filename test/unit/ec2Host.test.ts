// EC2 servers under mocks: host keys made on the instance and pinned by trust on first use, user
// data with nothing secret in it, and no change that replaces the fleet in one update.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MOCK_HOST_KEY_LINE, ProgramRun, Recorded, isSecretInput, runProgram, unwrap, waitsFor } from "./harness";
import { DEPLOY_KEY, SECRET_KEYS, makeArtifactDir, prodConfig } from "./fixtures";
import {
    HOST_KEY_FILE,
    LAUNCH_ONLY_INPUTS,
    pinnedHostKeyOf,
    renderCloudInit,
    renderHostKeyCommand,
} from "../../components/ec2Host";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";

const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const INSTANCE = "aws:ec2/instance:Instance";
const OTHER_DEPLOY_KEY = ed25519KeyPairFromSeed(Buffer.alloc(32, 8), "deploy-2");

function named(run: ProgramRun, name: string): Recorded {
    const found = run.resources.find((r) => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${run.resources.map((r) => r.name).join(", ")}`);
    }
    return found;
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
    return run.resources.filter((r) => (r.type === COMMAND || r.type === COPY) && under(r));
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
        expect(named(other, "sync-cloud1-hostkey").inputs.triggers).toEqual(
            named(run, "sync-cloud1-hostkey").inputs.triggers,
        );
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

    test("the host-key step: no pinned key, a bounded wait for cloud-init, read again only for a new instance", () => {
        const step = named(run, "sync-cloud1-hostkey");
        expect(step.type).toBe(COMMAND);
        const connection = unwrap(step.inputs.connection);
        expect(connection).toMatchObject({ host: "203.0.113.10", port: 22, user: "admin" });
        expect(connection).not.toHaveProperty("hostKey");
        expect(unwrap(connection.privateKey)).toBe(DEPLOY_KEY.privateKey);
        expect(step.inputs.create).toBe(renderHostKeyCommand(600));
        expect(step.inputs.create).toContain(`cat ${HOST_KEY_FILE}`);
        // The mock's id of the instance: a new instance id is the only reason to read the key again.
        expect(step.inputs.triggers).toEqual(["sync-cloud1-instance-id"]);
        expect(step.inputs.update).toBeUndefined();
        expect(step.inputs.delete).toBeUndefined();
        expect(step.opts.retainOnDelete ?? false).toBe(false);
    });

    test("every other remote step pins the key the host-key step printed and waits for it", () => {
        const others = remoteOf(run, "cloud1").filter((r) => r.name !== "sync-cloud1-hostkey");
        expect(others.map((r) => r.name).sort()).toEqual([
            "sync-cloud1-ini-write",
            "sync-cloud1-release-bundle",
            "sync-cloud1-release-install",
            "sync-cloud1-runtime-setup",
        ]);
        for (const resource of others) {
            expect([resource.name, unwrap(resource.inputs.connection).hostKey]).toEqual([
                resource.name,
                pinned(MOCK_HOST_KEY_LINE),
            ]);
            expect([resource.name, waitsFor(run, resource.key).has(`${COMMAND}::sync-cloud1-hostkey`)]).toEqual([
                resource.name,
                true,
            ]);
        }
        // The instance id and the pinned key are the host's identity: a new one re-sends the upload.
        const identity = named(run, "sync-cloud1-release-bundle").inputs.triggers[2];
        expect(identity).toBe(`sync-cloud1-instance-id 203.0.113.10:22 ${pinned(MOCK_HOST_KEY_LINE)}`);
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
            expect(others).toHaveLength(4);
            for (const resource of others) {
                expect([resource.name, unwrap(resource.inputs.connection).hostKey]).toEqual([
                    resource.name,
                    pinned(line),
                ]);
            }
        }
    });

    test("batchSize 1: the second instance is launched (or replaced) only after the first server is done", async () => {
        const run = await runProgram(
            prodConfig(makeArtifactDir(["1.1.4"]), {
                "sync:servers": ec2Servers(["cloud1", "cloud2"]),
                "sync:rollout": { batchSize: 1 },
            }),
            SECRET_KEYS,
        );
        const second = waitsFor(run, `${INSTANCE}::sync-cloud2-instance`);
        for (const resource of [...remoteOf(run, "cloud1"), named(run, "sync-cloud1-instance")]) {
            expect([resource.name, second.has(resource.key)]).toEqual([resource.name, true]);
        }
        const first = waitsFor(run, `${INSTANCE}::sync-cloud1-instance`);
        expect([...first].filter((key) => key.includes("cloud2"))).toEqual([]);
    });

    test("pulumi destroy terminates the instances and needs no host: no step has a delete", async () => {
        const run = await runProgram(
            prodConfig(makeArtifactDir(["1.1.4"]), { "sync:servers": ec2Servers(["cloud1"]) }),
            SECRET_KEYS,
        );
        for (const resource of run.resources.filter((r) => r.type.startsWith("aws:ec2/") || r.type === COMMAND)) {
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
    ])("refuses %s with a message naming the server and the file", (_, stdout) => {
        expect(() => pinnedHostKeyOf("cloud1", stdout)).toThrow(
            /^server cloud1: \/etc\/ssh\/ssh_host_ed25519_key\.pub is not one ed25519 public key line: /,
        );
    });
});

function execKeygenPub(type: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-hostkey-"));
    const file = path.join(dir, "key");
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", file]);
    return fs.readFileSync(`${file}.pub`, "utf8");
}

describe("the host-key command, run by a real shell against a fake cloud-init", () => {
    const keyLine = `${ed25519KeyPairFromSeed(Buffer.alloc(32, 6), "").publicKey} root@h`;

    /** Run the command with `cloud-init` replaced by a script and the key file by a temp file. */
    function runWith(
        cloudInit: string,
        shell: string,
        timeoutSeconds = 5,
    ): { status: number | null; stdout: string; stderr: string } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-cloudinit-"));
        fs.writeFileSync(path.join(dir, "cloud-init"), `#!/bin/sh\n${cloudInit}\n`, { mode: 0o755 });
        const keyFile = path.join(dir, "ssh_host_ed25519_key.pub");
        fs.writeFileSync(keyFile, `${keyLine}\n`);
        const commandLine = renderHostKeyCommand(timeoutSeconds).replace(HOST_KEY_FILE, keyFile);
        const result = spawnSync(shell, ["-c", commandLine], {
            env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
            encoding: "utf8",
            timeout: 30000,
        });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    }

    test.each(["bash", "sh"])("%s: cloud-init done → stdout is exactly the key line", (shell) => {
        const result = runWith('echo "status: done"', shell);
        expect(result).toEqual({ status: 0, stdout: `${keyLine}\n`, stderr: "status: done\n" });
    });

    test.each(["bash", "sh"])(
        "%s: cloud-init finished with errors → the key is still read (the runtime preflight judges the platform)",
        (shell) => {
            const result = runWith('echo "status: error"; exit 1', shell);
            expect(result).toEqual({ status: 0, stdout: `${keyLine}\n`, stderr: "status: error\n" });
        },
    );

    test.each(["bash", "sh"])("%s: cloud-init never finishes → fails within the bound, key not read", (shell) => {
        const started = Date.now();
        const result = runWith("exec sleep 60", shell, 1);
        expect(Date.now() - started).toBeLessThan(15000);
        expect(result).toEqual({ status: 1, stdout: "", stderr: "no cloud-init result within 1 s\n" });
    });
});
