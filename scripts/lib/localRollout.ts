// Roll the local stack out to the local fleet without the Pulumi engine (which can't be built
// here, see README): evaluate index.ts under Pulumi's mocks with the local stack config, then run
// exactly the remote commands and uploads it declares, server by server, batch by batch, over SSH
// with the host keys the program pins. No diffing, no state: a demo and a harness, not `pulumi up`.
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { Declared, evaluateProgram } from "./mockProgram";

const REPO = path.resolve(__dirname, "../..");
const FLEET_STATE = process.env.SYNC_FLEET_STATE ?? "/run/sync-fleet";

interface Connection {
    host: string;
    port: number;
    user: string;
    privateKey: string;
    hostKey: string;
}

function localStackConfig(): Record<string, string> {
    const fleet = JSON.parse(fs.readFileSync(path.join(FLEET_STATE, "config.json"), "utf8")) as {
        servers: unknown[];
        sshPrivateKeyPath: string;
    };
    const stack = yaml.load(fs.readFileSync(path.join(REPO, "Pulumi.local.yaml"), "utf8")) as {
        config: Record<string, unknown>;
    };
    // Stable per machine, never printed: the demo's own secrets.
    const secretFile = path.join(FLEET_STATE, "demo-secret");
    if (!fs.existsSync(secretFile)) {
        fs.writeFileSync(secretFile, crypto.randomBytes(24).toString("hex"), { mode: 0o600 });
    }
    const secret = fs.readFileSync(secretFile, "utf8");
    const values: Record<string, unknown> = {
        ...stack.config,
        "sync:artifactDir": path.resolve(REPO, String(stack.config["sync:artifactDir"])),
        "sync:servers": fleet.servers,
        "sync:sshPrivateKey": fs.readFileSync(fleet.sshPrivateKeyPath, "utf8"),
        "sync:iniSecrets": {
            sync: { secret_key: secret, database_url: `sqlite:////var/sync/${secret.slice(0, 8)}.db` },
        },
    };
    if (process.env.SYNC_VERSION) {
        values["sync:version"] = process.env.SYNC_VERSION;
    }
    return Object.fromEntries(
        Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
    );
}

function sshArgs(connection: Connection, knownHosts: string, keyFile: string): string[] {
    return [
        "-i", keyFile,
        "-p", String(connection.port),
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`,
        "-o", "ConnectTimeout=10",
        `${connection.user}@${connection.host}`,
    ]; // prettier-ignore
}

function ssh(connection: Connection, command: string, stdin: string | Buffer, scratch: string): Promise<string> {
    const knownHosts = path.join(scratch, `known_hosts-${connection.host}`);
    fs.writeFileSync(knownHosts, `${connection.host} ${connection.hostKey}\n`);
    const keyFile = path.join(scratch, "key");
    fs.writeFileSync(keyFile, connection.privateKey, { mode: 0o600 });
    return new Promise((resolve, reject) => {
        const child = execFile(
            "ssh",
            [...sshArgs(connection, knownHosts, keyFile), command],
            { maxBuffer: 64 * 1024 * 1024 },
            (error, stdout, stderr) => {
                if (error) {
                    reject(new Error(`${connection.host}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
                } else {
                    resolve(stdout);
                }
            },
        );
        child.stdin?.end(stdin);
    });
}

/** CopyToRemote's effect: a file at remotePath, or a folder's files under remotePath. */
async function upload(connection: Connection, source: string, remotePath: string, scratch: string): Promise<void> {
    const quoted = `'${remotePath.replace(/'/g, `'\\''`)}'`;
    if (fs.statSync(source).isDirectory()) {
        const tar = await new Promise<Buffer>((resolve, reject) =>
            execFile(
                "tar",
                ["-C", source, "-cf", "-", "."],
                { encoding: "buffer", maxBuffer: 512 * 1024 * 1024 },
                (e, out) => (e ? reject(e) : resolve(out)),
            ),
        );
        await ssh(connection, `mkdir -p ${quoted} && tar -C ${quoted} -xf -`, tar, scratch);
    } else {
        await ssh(connection, `cat > ${quoted}`, fs.readFileSync(source), scratch);
    }
}

function log(message: string): void {
    process.stderr.write(`[local-rollout ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function rollOutServer(name: string, declared: Declared[], scratch: string): Promise<void> {
    const prefix = `sync-${name}-`;
    const find = (suffix: string) => declared.find((d) => d.name === `${prefix}${suffix}`);
    const steps = ["runtime-setup", "ini-write", "release-sdist", "release-wheelhouse", "release-install"];
    for (const step of steps) {
        const resource = find(step);
        if (!resource) {
            continue;
        }
        const connection = resource.inputs.connection as Connection;
        log(`${name}: ${step}`);
        if (resource.type === "command:remote:CopyToRemote") {
            // A FileAsset or FileArchive; its path is a promise.
            const source = resource.inputs.source as { path: string | Promise<string> };
            await upload(connection, await source.path, String(resource.inputs.remotePath), scratch);
        } else {
            await ssh(connection, String(resource.inputs.create), String(resource.inputs.stdin ?? ""), scratch);
        }
    }
}

async function main(): Promise<void> {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sync-local-rollout-"));
    try {
        const { declared, outputs } = await evaluateProgram(
            localStackConfig(),
            ["sync:sshPrivateKey", "sync:iniSecrets"],
            "local",
        );
        const servers = outputs.servers as Record<string, { address: string; version: string; batch: number }>;
        const batches = new Map<number, string[]>();
        for (const [name, report] of Object.entries(servers)) {
            batches.set(report.batch, [...(batches.get(report.batch) ?? []), name]);
        }
        for (const batch of [...batches.keys()].sort((a, b) => a - b)) {
            const names = batches.get(batch) ?? [];
            log(`batch ${batch}: ${names.join(", ")}`);
            await Promise.all(names.map((name) => rollOutServer(name, declared, scratch)));
        }
        console.log("server\taddress\tshould serve\tserves");
        for (const [name, report] of Object.entries(servers)) {
            const connection = declared.find((d) => d.name === `sync-${name}-release-install`)?.inputs
                .connection as Connection;
            const served = await ssh(
                connection,
                "curl -fsS --max-time 5 http://127.0.0.1/__version__",
                "",
                scratch,
            ).catch((error: Error) => `error: ${error.message}`);
            console.log(`${name}\t${report.address}\t${report.version}\t${served}`);
        }
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

main().catch((error: Error) => {
    log(`FAILED: ${error.message}`);
    process.exit(1);
});
