import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    MOCK_HOST_KEY_LINE,
    ProgramRun,
    Recorded,
    byType,
    isSecretInput,
    plaintextOf,
    runProgram,
    unwrap,
    waitsFor,
} from "./harness";
import { DEPLOY_KEY, SECRET_KEYS, SENTINEL, makeArtifactDir, prodConfig } from "./fixtures";
import { renderCloudInit } from "../../components/ec2Host";

const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const LOCAL = "command:local:Command";
const SERVERS = ["sync1", "sync2", "sync3"];
/** A server's steps, in the order they run. */
const STAGE_STEPS = ["probe-stage", "bundle", "stage"];
const ACTIVATE_STEPS = ["probe-activate", "ini", "activate"];

function named(run: ProgramRun, name: string): Recorded {
    const found = run.resources.find((r) => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${run.resources.map((r) => r.name).join(", ")}`);
    }
    return found;
}

describe("the prod stack under mocks", () => {
    let artifactDir: string;
    let run: ProgramRun;
    let sdistSha: string;

    beforeAll(async () => {
        artifactDir = makeArtifactDir(["1.1.4", "1.1.5"]);
        sdistSha = crypto
            .createHash("sha256")
            .update(fs.readFileSync(path.join(artifactDir, "WeaveServer-1.1.4.tar.gz")))
            .digest("hex");
        run = await runProgram(prodConfig(artifactDir), SECRET_KEYS);
    });

    test("declares exactly the expected resources", () => {
        const counts: Record<string, number> = {};
        for (const r of run.resources) {
            counts[r.type] = (counts[r.type] ?? 0) + 1;
        }
        expect(counts).toEqual({
            "sync:release:ReleaseBucket": 1,
            "aws:s3/bucket:Bucket": 1,
            "aws:s3/bucketVersioning:BucketVersioning": 1,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
            "aws:s3/bucketPolicy:BucketPolicy": 1,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
            "aws:s3/bucketObjectv2:BucketObjectv2": 1,
            "sync:fleet:SyncFleet": 1,
            "sync:server:SyncServer": 3,
            [LOCAL]: 7,
            [COMMAND]: 9,
            [COPY]: 3,
        });
        expect(byType(run, "sync:server:SyncServer").map((r) => r.name)).toEqual([
            "sync-sync1",
            "sync-sync2",
            "sync-sync3",
        ]);
        // fleet → server → its steps, each step a direct child of its server
        for (const server of SERVERS) {
            expect(
                run.resources
                    .filter((r) => r.opts.parent === `sync:server:SyncServer::sync-${server}`)
                    .map((r) => r.name),
            ).toEqual([...STAGE_STEPS, ...ACTIVATE_STEPS].map((step) => `sync-${server}-${step}`));
        }
        expect(named(run, "sync-staged").opts.parent).toBe("sync:fleet:SyncFleet::sync");
        // the barrier runs nothing: it only orders what depends on it
        expect(named(run, "sync-staged").inputs).toEqual({});
    });

    test("bucket is private, versioned, encrypted, owner-enforced, TLS-only, with a lifecycle", () => {
        expect(byType(run, "aws:s3/bucketVersioning:BucketVersioning")[0].inputs.versioningConfiguration).toEqual({
            status: "Enabled",
        });
        expect(byType(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].inputs).toMatchObject({
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        expect(byType(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")[0].inputs.rule).toEqual({
            objectOwnership: "BucketOwnerEnforced",
        });
        const sse = byType(
            run,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )[0];
        expect(sse.inputs.rules[0].applyServerSideEncryptionByDefault).toEqual({ sseAlgorithm: "AES256" });
        const policy = JSON.parse(byType(run, "aws:s3/bucketPolicy:BucketPolicy")[0].inputs.policy);
        expect(policy.Statement[0]).toMatchObject({
            Effect: "Deny",
            Action: "s3:*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
        });
        const lifecycle = byType(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0];
        expect(lifecycle.inputs.rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 90 });
    });

    test("one release object with its sha256", () => {
        const object = byType(run, "aws:s3/bucketObjectv2:BucketObjectv2")[0];
        expect(object.name).toBe("sync-releases-1.1.4");
        expect(object.inputs.key).toBe("releases/WeaveServer-1.1.4.tar.gz");
        expect(object.inputs.metadata).toEqual({ sha256: sdistSha, version: "1.1.4" });
        expect(object.inputs.checksumAlgorithm).toBe("SHA256");
    });

    test("stages and activations are keyed on the host, version and sha256s, each one short command", async () => {
        for (const server of SERVERS) {
            const stage = named(run, `sync-${server}-stage`);
            const upload = named(run, `sync-${server}-bundle`);
            const activate = named(run, `sync-${server}-activate`);
            const bundleSha = upload.inputs.triggers[3];
            expect(bundleSha).toMatch(/^[0-9a-f]{64}$/);
            for (const step of [stage, upload, activate]) {
                expect([step.name, step.inputs.triggers.slice(1)]).toEqual([step.name, ["1.1.4", sdistSha, bundleSha]]);
                expect(step.inputs.triggers[0]).toMatch(new RegExp(`^existing sync${server.slice(-1)}\\.prod\\.`));
            }
            expect(stage.inputs.create).toMatch(
                new RegExp(
                    `^sudo -n timeout --kill-after=10 600 bash -c '.*' sync-stage '\\.sync-release/WeaveServer-1\\.1\\.4\\.release\\.tar' '[0-9a-f]{16}' 'deploy' '1\\.1\\.4' '${sdistSha}' '${bundleSha}'$`,
                ),
            );
            expect(stage.inputs.update).toBe(stage.inputs.create);
            expect(activate.inputs.create).toMatch(
                new RegExp(
                    `^sudo -n timeout --kill-after=10 600 bash /var/sync/scripts/[0-9a-f]{16}/activate\\.sh '1\\.1\\.4' '${sdistSha}' '5' '2' '15'$`,
                ),
            );
            expect(upload.inputs.remotePath).toBe(".sync-release/WeaveServer-1.1.4.release.tar");
            // the asset carries its sha256: the engine does not read and hash the bundle per server
            const asset = upload.props.source;
            expect(asset.hash).toBe(bundleSha);
            const serialized = await run.pulumi.runtime.serializeProperty("source", asset, new Set());
            expect(serialized).toMatchObject({
                hash: bundleSha,
                path: asset.path instanceof Promise ? await asset.path : asset.path,
            });
            for (const step of [stage, activate, named(run, `sync-${server}-ini`)]) {
                expect([step.name, step.inputs.create.length < 400]).toEqual([step.name, true]);
            }
        }
    });

    test("each probe logs in with the deployer's OpenSSH under a bound, keyed like its phase's steps", () => {
        for (const server of SERVERS) {
            const probeStage = named(run, `sync-${server}-probe-stage`);
            const probeActivate = named(run, `sync-${server}-probe-activate`);
            const stage = named(run, `sync-${server}-stage`);
            const activate = named(run, `sync-${server}-activate`);
            for (const probe of [probeStage, probeActivate]) {
                expect(probe.inputs.create).toMatch(
                    new RegExp(
                        `^bash -s sync-reach '${server}' '${server}\\.prod\\.example\\.com' '(22|2222)' 'deploy' 'ssh-ed25519 [A-Za-z0-9+/]+' '30'$`,
                    ),
                );
                expect(probe.inputs.update).toBe(probe.inputs.create);
                expect(isSecretInput(probe.inputs.stdin)).toBe(true);
                expect(unwrap(probe.inputs.stdin)).toContain(`sync_reach <<'SYNC_REACH_KEY'\n${DEPLOY_KEY.privateKey}`);
            }
            // keyed on everything its phase's remote steps are keyed on: when they run, it runs first
            expect(probeStage.inputs.triggers).toEqual([
                stage.inputs.triggers[0],
                stage.inputs.create,
                ...stage.inputs.triggers.slice(1),
            ]);
            // the settings' fingerprint makes the activate probe's triggers secret, like the settings
            expect(isSecretInput(probeActivate.inputs.triggers)).toBe(true);
            const settings = named(run, `sync-${server}-ini`);
            const ini = unwrap(settings.inputs.stdin).replace(/# sync-release end .*\n$/, "");
            expect(unwrap(probeActivate.inputs.triggers)).toEqual([
                activate.inputs.triggers[0],
                activate.inputs.create,
                settings.inputs.create,
                crypto.createHash("sha256").update(ini).digest("hex"),
            ]);
        }
    });

    test("no step has a delete: destroy and removing a server never need the host", () => {
        for (const resource of run.resources.filter((r) => r.type === COMMAND || r.type === LOCAL)) {
            expect([resource.name, resource.inputs.delete]).toEqual([resource.name, undefined]);
        }
    });

    test("every connection pins the host key, bounds dialing and is secret (it holds the key)", () => {
        const expected: Record<string, { host: string; port: number; user: string; hostKey: string }> = {
            sync1: {
                host: "sync1.prod.example.com",
                port: 22,
                user: "deploy",
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN/j/",
            },
            sync2: {
                host: "sync2.prod.example.com",
                port: 22,
                user: "deploy",
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDlI3fMhu54jRXcBrNGWsdzErvpkKb6qqM+8nw8CYg/T",
            },
            sync3: {
                host: "sync3.prod.example.com",
                port: 2222,
                user: "deploy",
                hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLD8E5vRz0oR6OUzZqGj8d5lw7OXyb+Q7L2qpo7o/eb",
            },
        };
        const remote = run.resources.filter((r) => r.type === COMMAND || r.type === COPY);
        expect(remote).toHaveLength(12);
        for (const resource of remote) {
            const server = resource.name.split("-")[1];
            expect(isSecretInput(resource.inputs.connection)).toBe(true);
            expect(unwrap(resource.inputs.connection)).toEqual({
                ...expected[server],
                privateKey: DEPLOY_KEY.privateKey,
                perDialTimeout: 10,
                dialErrorLimit: 3,
            });
        }
    });

    test("non-root users go through sudo -n, under a timeout", () => {
        for (const step of ["stage", "ini", "activate"]) {
            expect(named(run, `sync-sync1-${step}`).inputs.create).toMatch(
                /^sudo -n timeout --kill-after=10 600 bash /,
            );
        }
    });

    test("secrets: the ini's stdin is secret; no secret in any plaintext input, command line or output", () => {
        for (const server of SERVERS) {
            const write = named(run, `sync-${server}-ini`);
            expect(isSecretInput(write.inputs.stdin)).toBe(true);
            expect(unwrap(write.inputs.stdin)).toContain(`secret_key = ${SENTINEL}`);
            expect(unwrap(write.inputs.stdin)).toMatch(/\n# sync-release end \d+ [0-9a-f]{64}\n$/);
            expect(write.inputs.logging).toBe("none");
            expect(write.inputs.create).toBe(write.inputs.update);
            expect(write.inputs.create).not.toContain(SENTINEL);
        }
        for (const resource of run.resources) {
            const plaintext = JSON.stringify(plaintextOf(resource.inputs));
            expect(plaintext).not.toContain(SENTINEL);
            expect(plaintext).not.toContain("PRIVATE KEY");
        }
        expect(JSON.stringify(run.outputs)).not.toContain(SENTINEL);
        expect(JSON.stringify(run.outputs)).not.toContain("PRIVATE KEY");
    });

    test("stack outputs: per server address, version and batch; release key and sha256", () => {
        expect(run.outputs.version).toBe("1.1.4");
        expect(run.outputs.servers).toMatchObject({
            sync1: { address: "sync1.prod.example.com", version: "1.1.4", batch: 1 },
            sync2: { address: "sync2.prod.example.com", version: "1.1.4", batch: 2 },
            sync3: { address: "sync3.prod.example.com", version: "1.1.4", batch: 3 },
        });
        expect(run.outputs.releaseArchive).toEqual({
            "1.1.4": { objectKey: "releases/WeaveServer-1.1.4.tar.gz", sha256: sdistSha },
        });
        expect(run.outputs.releaseBucketName).toBe("sync-releases-1234567");
    });

    test("changing only the ini changes only the ini steps (and the probes keyed on them)", async () => {
        const changed = await runProgram(
            prodConfig(artifactDir, {
                "sync:ini": { sync: { public_url: "https://sync2.example.com", quota_mb: 25 } },
            }),
            SECRET_KEYS,
        );
        expect(changed.resources.map((r) => r.name)).toEqual(run.resources.map((r) => r.name));
        const differing = changed.resources
            .filter((r, i) => JSON.stringify(r.inputs) !== JSON.stringify(run.resources[i].inputs))
            .map((r) => r.name);
        expect(differing).toEqual(SERVERS.flatMap((s) => [`sync-${s}-probe-activate`, `sync-${s}-ini`]));
    });

    test("a version bump changes each host's stage and activate phases, not its settings", async () => {
        const bumped = await runProgram(prodConfig(artifactDir, { "sync:version": "1.1.5" }), SECRET_KEYS);
        const before = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, JSON.stringify(r.inputs)]));
        const differing = bumped.resources
            .filter((r) => before.get(`${r.type}::${r.name}`) !== JSON.stringify(r.inputs))
            .map((r) => r.name);
        expect(differing.sort()).toEqual(
            [
                "sync-releases-1.1.5",
                ...SERVERS.flatMap((s) => [
                    `sync-${s}-probe-stage`,
                    `sync-${s}-bundle`,
                    `sync-${s}-stage`,
                    `sync-${s}-probe-activate`,
                    `sync-${s}-activate`,
                ]),
            ].sort(),
        );
        expect(named(bumped, "sync-sync2-activate").inputs.triggers[1]).toBe("1.1.5");
    });

    test("a canary override gives one server its own release", async () => {
        const servers = prodConfig(artifactDir)["sync:servers"];
        const parsed = JSON.parse(servers);
        parsed[0].version = "1.1.5";
        const canary = await runProgram(prodConfig(artifactDir, { "sync:servers": parsed }), SECRET_KEYS);
        // the canary stages and activates only its own release, on its own host
        for (const step of ["bundle", "stage", "activate"]) {
            expect(named(canary, `sync-sync1-${step}`).inputs.triggers[1]).toBe("1.1.5");
            expect(named(canary, `sync-sync2-${step}`).inputs.triggers[1]).toBe("1.1.4");
            expect(named(canary, `sync-sync3-${step}`).inputs.triggers[1]).toBe("1.1.4");
        }
        expect(
            byType(canary, "aws:s3/bucketObjectv2:BucketObjectv2")
                .map((r) => r.inputs.key)
                .sort(),
        ).toEqual(["releases/WeaveServer-1.1.4.tar.gz", "releases/WeaveServer-1.1.5.tar.gz"]);
    });

    test("a missing release file is a clear error naming the path", async () => {
        await expect(runProgram(prodConfig(artifactDir, { "sync:version": "9.9" }), SECRET_KEYS)).rejects.toThrow(
            `sync:version 9.9: release file ${path.join(artifactDir, "WeaveServer-9.9.tar.gz")} is missing; build it or fix sync:artifactDir`,
        );
    });

    test("a hostile version is refused before any resource is declared", async () => {
        let declared = -1;
        await expect(
            runProgram(prodConfig(artifactDir, { "sync:version": "1.0;touch /tmp/p" }), SECRET_KEYS).then((r) => {
                declared = r.resources.length;
            }),
        ).rejects.toThrow('sync:version: "1.0;touch /tmp/p" must be a PEP 440 public version such as 1.1.4 or 1.2rc1');
        expect(declared).toBe(-1);
    });

    test("a version the stack file holds as a YAML number is refused before any resource is declared", async () => {
        // The CLI hands `sync:version: 1.10` to the program as "1.1" — a release that exists here.
        const withOneOne = makeArtifactDir(["1.1", "1.10"]);
        const shipped = fs.readFileSync(path.join(__dirname, "../../Pulumi.prod.yaml"), "utf8");
        const pinned = /^ {2}sync:version: .*$/m;
        const stackFile = shipped.replace(pinned, "  sync:version: 1.10");
        expect(stackFile).toContain("\n  sync:version: 1.10\n");
        let declared = -1;
        await expect(
            runProgram(prodConfig(withOneOne, { "sync:version": "1.1" }), SECRET_KEYS, { stackFile }).then((r) => {
                declared = r.resources.length;
            }),
        ).rejects.toThrow(
            'sync:version: 1.10 in Pulumi.prod.yaml is a YAML number, which reaches the program as "1.1"; quote it: sync:version: "1.10"',
        );
        expect(declared).toBe(-1);
        // Quoted, the same file deploys 1.10.
        const quoted = await runProgram(prodConfig(withOneOne, { "sync:version": "1.10" }), SECRET_KEYS, {
            stackFile: shipped.replace(pinned, '  sync:version: "1.10"'),
        });
        expect(quoted.outputs.version).toBe("1.10");
    });

    test("a missing deploy key is refused with the program's message, before Pulumi's own", async () => {
        const config = prodConfig(artifactDir);
        delete config["sync:sshPrivateKey"];
        await expect(runProgram(config, SECRET_KEYS)).rejects.toThrow(
            "sync:sshPrivateKey: missing or not a private key; set it with: pulumi config set --secret sync:sshPrivateKey < ~/.ssh/deploy_ed25519",
        );
    });

    test("config errors end the program as one RunError: the message once, no stack, no 'Unhandled exception'", async () => {
        const error = await runProgram(prodConfig(artifactDir, { "sync:version": "$(id)" }), SECRET_KEYS).then(
            () => undefined,
            (e: unknown) => e,
        );
        // the SDK's own marker: its runtime prints a RunError's message and nothing else
        expect((error as { __pulumiRunError?: boolean }).__pulumiRunError).toBe(true);
        expect((error as Error).message).toBe(
            'invalid stack config:\n  sync:version: "$(id)" must be a PEP 440 public version such as 1.1.4 or 1.2rc1',
        );
    });

    test("a mistyped sync: key ends the program as one RunError naming it and its neighbour; other namespaces pass", async () => {
        let declared = -1;
        const error = await runProgram(
            prodConfig(artifactDir, { "sync:verison": "1.1.5", "aws:region": "eu-west-1" }),
            SECRET_KEYS,
        ).then(
            (r) => {
                declared = r.resources.length;
            },
            (e: unknown) => e,
        );
        expect((error as { __pulumiRunError?: boolean }).__pulumiRunError).toBe(true);
        expect((error as Error).message).toBe(
            "invalid stack config:\n  sync:verison: unknown key; did you mean sync:version?",
        );
        expect(declared).toBe(-1);
        const withOtherNamespace = await runProgram(
            prodConfig(artifactDir, { "aws:region": "eu-west-1", "sync:observe": "false" }),
            SECRET_KEYS,
        );
        expect(withOtherNamespace.resources.length).toBeGreaterThan(0);
    });

    test("sync:iniSecrets set as one string that is not JSON is refused naming the key, never the value", async () => {
        const error = await runProgram(
            prodConfig(artifactDir, { "sync:iniSecrets": "hunter2-not-json" }),
            SECRET_KEYS,
        ).then(
            () => undefined,
            (e: unknown) => e as Error,
        );
        expect(error?.message).toBe(
            "invalid stack config:\n  sync:iniSecrets: (value not shown: secret) is not an object of sections; set each value with pulumi config set --secret --path 'sync:iniSecrets.<section>.<key>' (the value on stdin)",
        );
        expect(String(error?.stack)).not.toContain("hunter2");
    });

    test("a deploy key set in plaintext still reaches every connection as a secret only", async () => {
        const plain = await runProgram(prodConfig(artifactDir), ["sync:iniSecrets"]);
        for (const resource of plain.resources.filter((r) => r.type === COMMAND || r.type === COPY)) {
            expect([resource.name, isSecretInput(resource.inputs.connection)]).toEqual([resource.name, true]);
        }
    });

    test("a plaintext value under sync:iniSecrets in the stack file is refused without showing it", async () => {
        const shipped = fs.readFileSync(path.join(__dirname, "../../Pulumi.prod.yaml"), "utf8");
        const stackFile = `${shipped}  sync:iniSecrets:\n    sync:\n      secret_key: hunter2-plain\n`;
        const attempt = runProgram(
            prodConfig(artifactDir, { "sync:iniSecrets": { sync: { secret_key: "hunter2-plain" } } }),
            SECRET_KEYS,
            { stackFile },
        );
        await expect(attempt).rejects.toThrow(
            "sync:iniSecrets.sync.secret_key: stored in plaintext in Pulumi.prod.yaml (value not shown); remove it from the file and set it encrypted: pulumi config set --secret --path 'sync:iniSecrets.sync.secret_key' <value>",
        );
        await expect(attempt).rejects.not.toThrow("hunter2-plain");
    });

    test("releaseBucket false declares no AWS resource; releaseBucketName is null, without a warning", async () => {
        const local = await runProgram(prodConfig(artifactDir, { "sync:releaseBucket": "false" }), SECRET_KEYS);
        expect(local.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
        expect(local.program.releaseBucketName).toBeNull();
        expect(local.outputs.releaseBucketName).toBeNull();
        expect(local.warnings).toEqual([]);
    });

    test("pulumi destroy keeps the release archive: every S3 resource is retained, none protected", () => {
        const s3 = run.resources.filter((r) => r.type.startsWith("aws:s3/"));
        expect(s3.map((r) => r.type).sort()).toEqual([
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:s3/bucketObjectv2:BucketObjectv2",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
        ]);
        for (const resource of s3) {
            // retainOnDelete: destroy forgets it (no delete call, so no BucketNotEmpty failure);
            // protect would make destroy fail instead.
            expect([resource.name, resource.opts.retainOnDelete, resource.opts.protect ?? false]).toEqual([
                resource.name,
                true,
                false,
            ]);
        }
        expect(byType(run, "aws:s3/bucket:Bucket")[0].inputs.forceDestroy).toBe(false);
    });

    test("no remote step is protected (destroy and removing a server never stop on one)", () => {
        for (const resource of run.resources) {
            expect([resource.name, resource.opts.protect ?? false]).toEqual([resource.name, false]);
        }
    });
});

describe("EC2 servers", () => {
    test("declare instance + security group + key pair, pin the host key the instance reported, connect to the instance", async () => {
        const artifactDir = makeArtifactDir(["1.1.4"]);
        const run = await runProgram(
            prodConfig(artifactDir, {
                "sync:servers": [{ name: "cloud1", ec2: { instanceType: "t3.medium", sshCidrs: ["203.0.113.0/24"] } }],
            }),
            SECRET_KEYS,
        );
        const types = run.resources.map((r) => r.type);
        expect(types.filter((t) => t.startsWith("aws:ec2")).sort()).toEqual([
            "aws:ec2/instance:Instance",
            "aws:ec2/keyPair:KeyPair",
            "aws:ec2/securityGroup:SecurityGroup",
        ]);
        const instance = named(run, "sync-cloud1-instance");
        expect(instance.inputs).toMatchObject({
            ami: "ami-0debian12",
            instanceType: "t3.medium",
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        });
        // The key the instance reported at first boot (see ec2Host.test.ts), pinned as `<type> <base64>`.
        const hostKey = { publicKey: MOCK_HOST_KEY_LINE.split(" ").slice(0, 2).join(" ") };
        expect(unwrap(instance.inputs.userData)).toBe(renderCloudInit());
        expect(unwrap(instance.inputs.userData)).toContain("packages: [apache2, libapache2-mod-wsgi-py3, curl]");
        expect(named(run, "sync-cloud1-key").inputs.publicKey).toBe(DEPLOY_KEY.publicKey);
        const sg = named(run, "sync-cloud1-sg");
        expect(
            sg.inputs.ingress.map((rule: { fromPort: number; cidrBlocks: string[] }) => [
                rule.fromPort,
                rule.cidrBlocks,
            ]),
        ).toEqual([
            [22, ["203.0.113.0/24"]],
            [80, ["0.0.0.0/0"]],
        ]);
        const publicIp = "203.0.113.10"; // the mock's address of every instance
        for (const resource of run.resources.filter(
            (r) => (r.type === COMMAND || r.type === COPY) && r.name !== "sync-cloud1-hostkey",
        )) {
            expect(unwrap(resource.inputs.connection)).toMatchObject({
                host: publicIp,
                user: "admin",
                port: 22,
                hostKey: hostKey.publicKey,
            });
        }
        expect(run.outputs.servers).toMatchObject({ cloud1: { address: publicIp, version: "1.1.4", batch: 1 } });
    });

    test("pulumi destroy terminates the instances the stack created, with their security group and key pair", async () => {
        const artifactDir = makeArtifactDir(["1.1.4"]);
        const run = await runProgram(
            prodConfig(artifactDir, { "sync:servers": [{ name: "cloud1", ec2: { sshCidrs: ["203.0.113.0/24"] } }] }),
            SECRET_KEYS,
        );
        const ec2 = run.resources.filter((r) => r.type.startsWith("aws:ec2/"));
        expect(ec2.map((r) => r.name).sort()).toEqual(["sync-cloud1-instance", "sync-cloud1-key", "sync-cloud1-sg"]);
        for (const resource of ec2) {
            expect([resource.name, resource.opts.retainOnDelete ?? false, resource.opts.protect ?? false]).toEqual([
                resource.name,
                false,
                false,
            ]);
        }
    });
});

describe("rollout in two phases", () => {
    /** The server a resource belongs to: the name of its SyncServer ancestor. */
    function serverOf(run: ProgramRun, resource: Recorded): string | undefined {
        const byKey = new Map(run.resources.map((r) => [r.key, r]));
        for (let r: Recorded | undefined = resource; r; r = r.opts.parent ? byKey.get(r.opts.parent) : undefined) {
            if (r.type === "sync:server:SyncServer") {
                return r.name.replace(/^sync-/, "");
            }
        }
        return undefined;
    }
    const phaseOf = (resource: Recorded): "stage" | "activate" | undefined => {
        const step = resource.name.replace(/^sync-[a-z0-9]+-/, "");
        return STAGE_STEPS.includes(step) ? "stage" : ACTIVATE_STEPS.includes(step) ? "activate" : undefined;
    };
    function steps(run: ProgramRun, phase: "stage" | "activate"): Recorded[] {
        return run.resources.filter((r) => r.custom && serverOf(run, r) !== undefined && phaseOf(r) === phase);
    }
    const names = (resources: Recorded[]): string[] => resources.map((r) => r.name);

    test.each([
        [1, [["sync1"], ["sync2"], ["sync3"]]],
        [2, [["sync1", "sync2"], ["sync3"]]],
        [3, [["sync1", "sync2", "sync3"]]],
    ])(
        "batchSize %i: no host activates before every host staged; each batch after the previous one",
        async (batchSize, expected) => {
            const artifactDir = makeArtifactDir(["1.1.4"]);
            const run = await runProgram(prodConfig(artifactDir, { "sync:rollout": { batchSize } }), SECRET_KEYS);
            const batchOf = run.outputs.servers as Record<string, { batch: number }>;
            expect(expected.map((batch) => batch.map((s) => batchOf[s].batch))).toEqual(
                expected.map((batch, k) => batch.map(() => k + 1)),
            );
            const staging = steps(run, "stage");
            const activating = steps(run, "activate");
            for (const resource of activating) {
                const waits = waitsFor(run, resource.key);
                // every host's stage, through the barrier
                expect([resource.name, names(staging.filter((r) => !waits.has(r.key)))]).toEqual([resource.name, []]);
                expect(waits.has(`${LOCAL}::sync-staged`)).toBe(true);
                const batch = batchOf[serverOf(run, resource) as string].batch;
                const earlier = activating.filter((r) => batchOf[serverOf(run, r) as string].batch < batch);
                const sameOrLaterElsewhere = activating.filter(
                    (r) =>
                        batchOf[serverOf(run, r) as string].batch >= batch &&
                        serverOf(run, r) !== serverOf(run, resource),
                );
                expect([resource.name, names(earlier.filter((r) => !waits.has(r.key)))]).toEqual([resource.name, []]);
                expect([resource.name, names(sameOrLaterElsewhere.filter((r) => waits.has(r.key)))]).toEqual([
                    resource.name,
                    [],
                ]);
            }
            // the stage phase waits for nothing of the activate phase, and (3 hosts < 16) for no other host
            for (const resource of staging) {
                const waits = waitsFor(run, resource.key);
                expect([resource.name, [...waits].filter((k) => !k.includes(`-${serverOf(run, resource)}-`))]).toEqual([
                    resource.name,
                    [],
                ]);
            }
        },
    );

    test("stageParallel bounds the stage fan-out: host i waits for the stage of host i - stageParallel", async () => {
        const artifactDir = makeArtifactDir(["1.1.4"]);
        const servers = JSON.parse(prodConfig(artifactDir)["sync:servers"]) as { name: string }[];
        const five = [0, 1, 2, 3, 4].map((i) => ({ ...servers[i % 3], name: `host${i}` }));
        const run = await runProgram(
            prodConfig(artifactDir, { "sync:servers": five, "sync:rollout": { batchSize: 1, stageParallel: 2 } }),
            SECRET_KEYS,
        );
        const stageWaitsFor = (i: number): string[] =>
            [...waitsFor(run, `${LOCAL}::sync-host${i}-probe-stage`)]
                .filter((k) => k.startsWith(`${COMMAND}::`))
                .map((k) => k.split("::")[1])
                .sort();
        expect([0, 1, 2, 3, 4].map(stageWaitsFor)).toEqual([
            [],
            [],
            ["sync-host0-stage"],
            ["sync-host1-stage"],
            ["sync-host0-stage", "sync-host2-stage"],
        ]);
    });
});
