import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
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
import { loadReleaseArtifact } from "../../components/artifacts";
import { renderCloudInit } from "../../components/ec2Host";
import { hostScriptsHash } from "../../components/hostScripts";
import { keyFingerprint, renderStepStdin } from "../../components/hostStep";
import { renderActivateCommand, renderIniCommand, renderStageCommand } from "../../components/remoteCommand";
import { shellQuote } from "../../components/shellQuote";

const LOCAL = "command:local:Command";
const SERVERS = ["sync1", "sync2", "sync3"];
/** A server's steps, in the order they run. */
const STAGE_STEPS = ["stage"];
const ACTIVATE_STEPS = ["ini", "activate"];
const STEPS = [...STAGE_STEPS, ...ACTIVATE_STEPS];
/** The host a preview names for each prod server (the pinned keys' fingerprints as `ssh-keygen -l` prints them). */
const PROD_HOSTS: Record<string, string> = {
    sync1: "deploy@sync1.prod.example.com:22",
    sync2: "deploy@sync2.prod.example.com:22",
    sync3: "deploy@sync3.prod.example.com:2222",
};

/** One server entry of Pulumi.prod.yaml. */
function prodServer(name: string): { name: string; host: string; port?: number; hostKey: string } {
    const file = fs.readFileSync(path.join(__dirname, "../../Pulumi.prod.yaml"), "utf8");
    const servers = (yaml.load(file) as { config: Record<string, unknown> }).config["sync:servers"] as {
        name: string;
        host: string;
        port?: number;
        hostKey: string;
    }[];
    const found = servers.find((s) => s.name === name);
    if (!found) {
        throw new Error(`Pulumi.prod.yaml has no server ${name}`);
    }
    return found;
}

/** The bytes a step's stdin carries for its host command (the `base64:` input of on_host). */
function stepInputBytes(stdin: string): string {
    const match = / 'base64:([A-Za-z0-9+/=]+)' /.exec(stdin);
    if (!match) {
        throw new Error("the step carries no bytes for its host command");
    }
    return Buffer.from(match[1], "base64").toString("utf8");
}

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
            "pulumi:providers:command": 1,
            "sync:fleet:SyncFleet": 1,
            "sync:server:SyncServer": 3,
            // three steps a server, and the barrier
            [LOCAL]: 10,
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
            ).toEqual(STEPS.map((step) => `sync-${server}-${step}`));
        }
        expect(named(run, "sync-staged").opts.parent).toBe("sync:fleet:SyncFleet::sync");
        // the barrier runs nothing: it only orders what depends on it
        expect(named(run, "sync-staged").inputs).toEqual({});
        // every command runs on the stack's own, named provider (a preview names it in a few bytes)
        for (const resource of byType(run, LOCAL)) {
            expect([resource.name, resource.opts.provider]).toEqual([resource.name, "sync"]);
        }
        // nothing of the provider's own SSH transport is left
        expect(run.resources.filter((r) => r.type.startsWith("command:remote:"))).toEqual([]);
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

    test("each step is a short, constant command; what it runs is on its secret stdin; a preview sees host and release by name", () => {
        for (const server of SERVERS) {
            const spec = prodServer(server);
            for (const step of STEPS) {
                const resource = named(run, `sync-${server}-${step}`);
                expect(resource.inputs.create).toBe(`bash -s 'sync-${step}' '${server}'`);
                expect(resource.inputs.update).toBe(resource.inputs.create);
                expect(resource.inputs.delete).toBeUndefined();
                expect(resource.inputs.addPreviousOutputInEnv).toBe(false);
                expect(isSecretInput(resource.inputs.stdin)).toBe(true);
                expect(resource.opts.hideDiffs).toEqual(["stdin"]);
                expect(resource.opts.additionalSecretOutputs).toContain("stdin");
                const shown = {
                    host: `${PROD_HOSTS[server]} (ssh-ed25519 ${keyFingerprint(spec.hostKey)})`,
                    scripts: hostScriptsHash(),
                    ...(step === "ini" ? {} : { release: `1.1.4 (sha256 ${sdistSha.slice(0, 8)})` }),
                };
                expect([resource.name, resource.inputs.environment]).toEqual([resource.name, shown]);
            }
        }
    });

    test("each step runs on-host.sh with its host, pinned key, input and host command, the deploy key last", () => {
        const onHost = fs.readFileSync(path.join(__dirname, "../../components/local/on-host.sh"), "utf8");
        const release = loadReleaseArtifact(artifactDir, "1.1.4");
        const options = { user: "deploy", timeoutSeconds: 600 };
        for (const server of SERVERS) {
            const spec = prodServer(server);
            const target = { server, user: "deploy", host: spec.host, port: spec.port ?? 22, hostKey: spec.hostKey };
            const stage = unwrap(named(run, `sync-${server}-stage`).inputs.stdin) as string;
            expect(stage).toBe(
                renderStepStdin(
                    target,
                    { kind: "bundle", sha256: release.bundleSha256 },
                    renderStageCommand(release, "deploy", options),
                    DEPLOY_KEY.privateKey,
                ),
            );
            const activate = unwrap(named(run, `sync-${server}-activate`).inputs.stdin) as string;
            expect(activate).toBe(
                renderStepStdin(
                    target,
                    { kind: "none" },
                    renderActivateCommand(release, 5, options),
                    DEPLOY_KEY.privateKey,
                ),
            );
            const ini = unwrap(named(run, `sync-${server}-ini`).inputs.stdin) as string;
            expect(ini).toContain(` ${shellQuote(renderIniCommand(options))} <<'SYNC_ON_HOST_KEY'\n`);
            for (const stdin of [stage, activate, ini]) {
                expect(stdin.startsWith(onHost)).toBe(true);
                expect(stdin.endsWith(`<<'SYNC_ON_HOST_KEY'\n${DEPLOY_KEY.privateKey}SYNC_ON_HOST_KEY\n`)).toBe(true);
            }
        }
    });

    test("the provider's deadline is a margin past the host's own bound (sync:commandTimeout)", () => {
        for (const server of SERVERS) {
            for (const step of STEPS) {
                expect([step, named(run, `sync-${server}-${step}`).opts.customTimeouts]).toEqual([
                    step,
                    { create: "660s", update: "660s", delete: "660s" },
                ]);
            }
        }
    });

    test("no step has a delete: destroy and removing a server never need the host", () => {
        for (const resource of byType(run, LOCAL)) {
            expect([resource.name, resource.inputs.delete]).toEqual([resource.name, undefined]);
        }
    });

    test("non-root users go through sudo -n, under a timeout", () => {
        const stdin = unwrap(named(run, "sync-sync1-activate").inputs.stdin) as string;
        expect(stdin).toMatch(
            /'sudo -n timeout --kill-after=10 600 bash \/var\/sync\/scripts\/[0-9a-f]{16}\/activate\.sh /,
        );
    });

    test("without observation no step carries a drift note, and each keeps the note the state has", () => {
        for (const server of SERVERS) {
            for (const step of STEPS) {
                const resource = named(run, `sync-${server}-${step}`);
                expect(resource.inputs.environment.observed).toBeUndefined();
                expect(resource.opts.ignoreChanges).toEqual(["environment.observed"]);
            }
        }
    });

    test("secrets: the settings travel only in the ini step's secret stdin; no secret in any plaintext input or output", () => {
        for (const server of SERVERS) {
            const write = named(run, `sync-${server}-ini`);
            expect(isSecretInput(write.inputs.stdin)).toBe(true);
            const settings = stepInputBytes(unwrap(write.inputs.stdin));
            expect(settings).toContain(`secret_key = ${SENTINEL}`);
            expect(settings).toMatch(/\n# sync-release end \d+ [0-9a-f]{64}\n$/);
            expect(write.inputs.logging).toBe("none");
            expect(write.opts.additionalSecretOutputs).toEqual(["stdin", "stdout", "stderr"]);
        }
        for (const resource of run.resources) {
            const plaintext = JSON.stringify(plaintextOf(resource.inputs));
            expect(plaintext).not.toContain(SENTINEL);
            expect(plaintext).not.toContain("PRIVATE KEY");
        }
        expect(JSON.stringify(run.outputs)).not.toContain(SENTINEL);
        expect(JSON.stringify(run.outputs)).not.toContain("PRIVATE KEY");
    });

    test("app text stays encrypted: the activation's stderr (the health check quotes the app) is a secret output", () => {
        for (const server of SERVERS) {
            expect(named(run, `sync-${server}-activate`).opts.additionalSecretOutputs).toEqual(["stdin", "stderr"]);
            expect(named(run, `sync-${server}-activate`).inputs.logging).toBe("stdoutAndStderr");
        }
    });

    test("stack outputs: per server address and batch, host key, served version; release key and sha256", () => {
        expect(run.outputs.version).toBe("1.1.4");
        expect(run.outputs.servers).toEqual({
            sync1: { address: "sync1.prod.example.com", batch: 1 },
            sync2: { address: "sync2.prod.example.com", batch: 2 },
            sync3: { address: "sync3.prod.example.com", batch: 3 },
        });
        expect(run.outputs.hostKeys).toEqual(
            Object.fromEntries(SERVERS.map((server) => [server, prodServer(server).hostKey])),
        );
        // what the mocks' activations print: nothing, so no version
        expect(run.outputs.serves).toEqual({ sync1: "", sync2: "", sync3: "" });
        // nothing was read before planning
        expect(run.outputs.observed).toEqual({});
        expect(run.outputs.releaseArchive).toEqual({
            "1.1.4": { objectKey: "releases/WeaveServer-1.1.4.tar.gz", sha256: sdistSha },
        });
        expect(run.outputs.releaseBucketName).toBe("sync-releases-1234567");
    });

    test("changing only the ini changes only the ini steps", async () => {
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
        expect(differing).toEqual(SERVERS.map((s) => `sync-${s}-ini`));
    });

    test("a version bump changes each host's stage and activate steps, not its settings; the preview reads the release", async () => {
        const bumped = await runProgram(prodConfig(artifactDir, { "sync:version": "1.1.5" }), SECRET_KEYS);
        const before = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, JSON.stringify(r.inputs)]));
        const differing = bumped.resources
            .filter((r) => before.get(`${r.type}::${r.name}`) !== JSON.stringify(r.inputs))
            .map((r) => r.name);
        expect(differing.sort()).toEqual(
            ["sync-releases-1.1.5", ...SERVERS.flatMap((s) => [`sync-${s}-stage`, `sync-${s}-activate`])].sort(),
        );
        const newSha = loadReleaseArtifact(artifactDir, "1.1.5").sha256;
        for (const server of SERVERS) {
            for (const step of ["stage", "activate"]) {
                const shownBefore = named(run, `sync-${server}-${step}`).inputs.environment;
                const shownAfter = named(bumped, `sync-${server}-${step}`).inputs.environment;
                // one value of what a preview shows changes: the release
                expect(shownAfter).toEqual({ ...shownBefore, release: `1.1.5 (sha256 ${newSha.slice(0, 8)})` });
            }
        }
    });

    test("a canary override gives one server its own release", async () => {
        const parsed = JSON.parse(prodConfig(artifactDir)["sync:servers"]);
        parsed[0].version = "1.1.5";
        const canary = await runProgram(prodConfig(artifactDir, { "sync:servers": parsed }), SECRET_KEYS);
        // the canary stages and activates only its own release, on its own host
        for (const step of ["stage", "activate"]) {
            const release = (server: string): string =>
                named(canary, `sync-${server}-${step}`).inputs.environment.release as string;
            expect([release("sync1"), release("sync2"), release("sync3")].map((r) => r.split(" ")[0])).toEqual([
                "1.1.5",
                "1.1.4",
                "1.1.4",
            ]);
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

    test("a deploy key set in plaintext still reaches every step as a secret only", async () => {
        const plain = await runProgram(prodConfig(artifactDir), ["sync:iniSecrets"]);
        for (const resource of byType(plain, LOCAL).filter((r) => r.name !== "sync-staged")) {
            expect([resource.name, isSecretInput(resource.inputs.stdin)]).toEqual([resource.name, true]);
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
        for (const step of STEPS) {
            const resource = named(run, `sync-cloud1-${step}`);
            expect(unwrap(resource.inputs.stdin)).toContain(
                `on_host 'admin' '${publicIp}' '22' '${hostKey.publicKey}' `,
            );
            // the instance is part of the host's identity: a new one behind the name is a new machine
            expect(resource.inputs.environment.machine).toBe("sync-cloud1-instance-id");
        }
        expect(run.outputs.servers).toEqual({ cloud1: { address: publicIp, batch: 1 } });
        expect(run.outputs.hostKeys).toEqual({ cloud1: hostKey.publicKey });
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
            [...waitsFor(run, `${LOCAL}::sync-host${i}-stage`)].map((k) => k.split("::")[1]).sort();
        expect([0, 1, 2, 3, 4].map(stageWaitsFor)).toEqual([
            [],
            [],
            ["sync-host0-stage"],
            ["sync-host1-stage"],
            ["sync-host0-stage", "sync-host2-stage"],
        ]);
    });
});

describe("hosts read before planning (observations fed to the program)", () => {
    const IN_SYNC = {
        current: "1.1.4",
        sealed: "yes",
        deployed: "1.1.4",
        switching: "no",
        serves: "1.1.4",
        staged: "yes",
        scripts: "yes",
        ini: "applied",
    };
    let artifactDir: string;

    /** The program with observation on, every host answering as `answers` says (by server name). */
    async function observed(
        answers: Record<string, Partial<typeof IN_SYNC> | { error: string }>,
        overrides: Record<string, unknown> = {},
    ): Promise<ProgramRun> {
        jest.doMock("../../components/observe", () => {
            const actual = jest.requireActual("../../components/observe");
            return {
                ...actual,
                observeFleet: async (targets: { server: string }[]) =>
                    targets.map(({ server }) => {
                        const answer = answers[server] ?? {};
                        return "error" in answer
                            ? { server, at: "2026-12-07T20:00:00Z", error: answer.error }
                            : { server, at: "2026-12-07T20:00:00Z", observed: { ...IN_SYNC, ...answer } };
                    }),
            };
        });
        try {
            return await runProgram(prodConfig(artifactDir, { "sync:observe": true, ...overrides }), SECRET_KEYS);
        } finally {
            jest.dontMock("../../components/observe");
        }
    }

    beforeAll(() => {
        artifactDir = makeArtifactDir(["1.1.4", "1.1.5"]);
    });

    test("a host in sync: no step carries a note, each keeps the state's (a no-op plans nothing); the outputs say what it served and when", async () => {
        const run = await observed({});
        for (const server of SERVERS) {
            for (const step of ["ini", "activate"]) {
                const resource = named(run, `sync-${server}-${step}`);
                expect([step, resource.inputs.environment.observed, resource.opts.ignoreChanges]).toEqual([
                    step,
                    undefined,
                    ["environment.observed"],
                ]);
            }
        }
        expect(run.outputs.observed).toEqual(
            Object.fromEntries(SERVERS.map((server) => [server, "1.1.4 at 2026-12-07T20:00:00Z"])),
        );
    });

    test("drift gives only that host's repairing steps a note with why and when, and lets them change", async () => {
        const run = await observed({
            sync2: { current: "1.1.5", serves: "1.1.5" },
            sync3: { ini: "changed" },
        });
        const notes = Object.fromEntries(
            run.resources
                .filter((r) => r.type === LOCAL && r.inputs.environment?.observed !== undefined)
                .map((r) => [r.name, [r.inputs.environment.observed, r.opts.ignoreChanges]]),
        );
        expect(notes).toEqual({
            "sync-sync2-activate": [
                "current 1.1.5, serves 1.1.5, expected 1.1.4 (the last deploy) (observed 2026-12-07T20:00:00Z)",
                [],
            ],
            "sync-sync3-ini": ["/etc/sync.ini changed on the host (observed 2026-12-07T20:00:00Z)", []],
        });
    });

    test("a host that could not be read: one warning naming it and why; planned from the state alone", async () => {
        const run = await observed({ sync3: { error: "no answer within 30s (frozen, overloaded or cut off?)" } });
        expect(run.warnings.filter((w) => w.includes("not observed"))).toEqual([
            expect.stringContaining(
                "sync3: not observed (no answer within 30s (frozen, overloaded or cut off?)); planned from the state alone",
            ),
        ]);
        expect(run.outputs.observed).toMatchObject({
            sync3: "not observed at 2026-12-07T20:00:00Z: no answer within 30s (frozen, overloaded or cut off?)",
        });
        for (const step of STEPS) {
            expect(named(run, `sync-sync3-${step}`).inputs.environment.observed).toBeUndefined();
        }
    });

    test("a rollback to a release the host holds built is a swap: its stage keeps what the state has and does not run", async () => {
        // 1.1.5 pinned, and every host was seen holding it built (and the stack's scripts)
        const run = await observed({}, { "sync:version": "1.1.5" });
        for (const server of SERVERS) {
            expect(named(run, `sync-${server}-stage`).opts.ignoreChanges).toEqual(["environment", "stdin"]);
            // the activation switches: its inputs change as usual
            expect(named(run, `sync-${server}-activate`).opts.ignoreChanges).toEqual(["environment.observed"]);
        }
        // not built on a host (or its scripts gone): that host's stage runs
        const partly = await observed(
            { sync1: { staged: "no" }, sync2: { scripts: "no" } },
            { "sync:version": "1.1.5" },
        );
        expect(SERVERS.map((server) => [server, named(partly, `sync-${server}-stage`).opts.ignoreChanges])).toEqual([
            ["sync1", ["environment.observed"]],
            // the scripts gone from a deployed host is drift: the note says so, and the stage runs
            ["sync2", []],
            ["sync3", ["environment", "stdin"]],
        ]);
    });
});
