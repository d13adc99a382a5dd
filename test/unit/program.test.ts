import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ProgramRun, Recorded, byType, isSecretInput, plaintextOf, runProgram, unwrap } from "./harness";
import { DEPLOY_KEY, SECRET_KEYS, SENTINEL, makeArtifactDir, prodConfig } from "./fixtures";
import { derivedHostKey } from "../../components/sshKeys";
import { renderCloudInit } from "../../components/syncServer";

const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";

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
            "sync:server:RuntimeDir": 3,
            "sync:server:SyncIni": 3,
            "sync:server:ReleaseInstall": 3,
            [COMMAND]: 9,
            [COPY]: 6,
        });
        expect(byType(run, "sync:server:SyncServer").map((r) => r.name)).toEqual([
            "sync-sync1",
            "sync-sync2",
            "sync-sync3",
        ]);
        expect(
            byType(run, COMMAND)
                .map((r) => r.name)
                .sort(),
        ).toEqual(
            ["sync1", "sync2", "sync3"]
                .flatMap((s) => [`sync-${s}-runtime-setup`, `sync-${s}-ini-write`, `sync-${s}-release-install`])
                .sort(),
        );
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

    test("installs are keyed on version + sha256 and upload the exact release", () => {
        for (const server of ["sync1", "sync2", "sync3"]) {
            const install = named(run, `sync-${server}-release-install`);
            expect(install.inputs.triggers).toEqual(["1.1.4", sdistSha]);
            expect(install.inputs.create).toContain(`sync-install '1.1.4' '${sdistSha}' '5'`);
            expect(install.inputs.delete).toContain("sync-forget '1.1.4'");
            expect(install.inputs.stdin).toMatch(/^[0-9a-f]{64} {2}six-1\.16\.0-py2\.py3-none-any\.whl\n$/);
            const sdist = named(run, `sync-${server}-release-sdist`);
            expect(sdist.inputs.remotePath).toBe("/var/sync/dist/incoming/WeaveServer-1.1.4.tar.gz");
            expect(sdist.inputs.triggers).toEqual(["1.1.4", sdistSha]);
            expect(named(run, `sync-${server}-release-wheelhouse`).inputs.remotePath).toBe(
                "/var/sync/dist/incoming/wheelhouse-1.1.4",
            );
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
        expect(remote).toHaveLength(15);
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
        const setup = named(run, "sync-sync1-runtime-setup");
        expect(setup.inputs.create.startsWith("sudo -n timeout --kill-after=10 600 bash -c '")).toBe(true);
        expect(setup.inputs.create.endsWith(" sync-runtime 'deploy' '2' '15'")).toBe(true);
    });

    test("secrets: the ini's stdin is secret; no secret in any plaintext input, command line or output", () => {
        for (const server of ["sync1", "sync2", "sync3"]) {
            const write = named(run, `sync-${server}-ini-write`);
            expect(isSecretInput(write.inputs.stdin)).toBe(true);
            expect(unwrap(write.inputs.stdin)).toContain(`secret_key = ${SENTINEL}`);
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
        expect(run.outputs.servers).toEqual({
            sync1: { address: "sync1.prod.example.com", version: "1.1.4", batch: 1 },
            sync2: { address: "sync2.prod.example.com", version: "1.1.4", batch: 2 },
            sync3: { address: "sync3.prod.example.com", version: "1.1.4", batch: 3 },
        });
        expect(run.outputs.releaseArchive).toEqual({
            "1.1.4": { objectKey: "releases/WeaveServer-1.1.4.tar.gz", sha256: sdistSha },
        });
        expect(run.outputs.releaseBucketName).toBe("sync-releases-1234567");
    });

    test("changing only the ini changes only the SyncIni inputs", async () => {
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
        expect(differing).toEqual(["sync-sync1-ini-write", "sync-sync2-ini-write", "sync-sync3-ini-write"]);
    });

    test("a version bump changes install triggers and uploads, nothing else", async () => {
        const bumped = await runProgram(prodConfig(artifactDir, { "sync:version": "1.1.5" }), SECRET_KEYS);
        const before = new Map(run.resources.map((r) => [`${r.type}::${r.name}`, JSON.stringify(r.inputs)]));
        const differing = bumped.resources
            .filter((r) => before.get(`${r.type}::${r.name}`) !== JSON.stringify(r.inputs))
            .map((r) => r.name);
        expect(differing.sort()).toEqual(
            [
                "sync-releases-1.1.5",
                ...["sync1", "sync2", "sync3"].flatMap((s) => [
                    `sync-${s}-release-install`,
                    `sync-${s}-release-sdist`,
                    `sync-${s}-release-wheelhouse`,
                ]),
            ].sort(),
        );
        expect(named(bumped, "sync-sync2-release-install").inputs.triggers[0]).toBe("1.1.5");
    });

    test("a canary override gives one server its own release", async () => {
        const servers = prodConfig(artifactDir)["sync:servers"];
        const parsed = JSON.parse(servers);
        parsed[0].version = "1.1.5";
        const canary = await runProgram(prodConfig(artifactDir, { "sync:servers": parsed }), SECRET_KEYS);
        expect(named(canary, "sync-sync1-release-install").inputs.triggers[0]).toBe("1.1.5");
        expect(named(canary, "sync-sync2-release-install").inputs.triggers[0]).toBe("1.1.4");
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

    test("releaseBucket false declares no AWS resource", async () => {
        const local = await runProgram(prodConfig(artifactDir, { "sync:releaseBucket": "false" }), SECRET_KEYS);
        expect(local.resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
        expect(local.outputs.releaseBucketName).toBeUndefined();
    });
});

describe("EC2 servers", () => {
    test("declare instance + security group + key pair, pin a stack-made host key, connect to the instance", async () => {
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
            userDataReplaceOnChange: true,
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        });
        const hostKey = derivedHostKey(DEPLOY_KEY.privateKey, "prod", "cloud1");
        expect(isSecretInput(instance.inputs.userData)).toBe(true);
        expect(unwrap(instance.inputs.userData)).toBe(renderCloudInit(hostKey));
        expect(unwrap(instance.inputs.userData)).toContain(
            "packages: [apache2, libapache2-mod-wsgi-py3, python3-venv, curl]",
        );
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
        for (const resource of run.resources.filter((r) => r.type === COMMAND || r.type === COPY)) {
            expect(unwrap(resource.inputs.connection)).toMatchObject({
                host: publicIp,
                user: "admin",
                port: 22,
                hostKey: hostKey.publicKey,
            });
        }
        expect(run.outputs.servers).toEqual({ cloud1: { address: publicIp, version: "1.1.4", batch: 1 } });
    });
});

describe("rollout batches", () => {
    test("each batch waits for the previous batch's settings and installs", async () => {
        const artifactDir = makeArtifactDir(["1.1.4"]);
        const run = await runProgram(prodConfig(artifactDir, { "sync:rollout": { batchSize: 2 } }), SECRET_KEYS);
        expect(run.outputs.servers).toMatchObject({ sync1: { batch: 1 }, sync2: { batch: 1 }, sync3: { batch: 2 } });
        const fleet = run.program as { servers: Record<string, { batch: number }> };
        expect(fleet.servers).toBeDefined();
    });
});
