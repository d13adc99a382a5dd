// P5 (part): wall time and memory to evaluate the whole program under Pulumi's mocks for N
// servers — what every preview/up costs in the language host before any remote work.
//   usage: npx ts-node --transpile-only scripts/bench/programScale.ts [N]
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";
import { evaluateProgram } from "../lib/mockProgram";

async function main(): Promise<void> {
    const count = Number(process.argv[2] ?? 1000);
    const artifactDir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-bench-"));
    fs.writeFileSync(path.join(artifactDir, "WeaveServer-1.1.4.tar.gz"), "sdist");
    fs.mkdirSync(path.join(artifactDir, "wheelhouse"));
    fs.writeFileSync(path.join(artifactDir, "wheelhouse", "packaging-24.2-py3-none-any.whl"), "wheel");
    // The stack refuses a wheelhouse without uv's pinned wheel (the hosts build with it).
    const uv = execFileSync("bash", [path.resolve("scripts/uv-wheel.sh")], { encoding: "utf8" }).trim();
    fs.symlinkSync(uv, path.join(artifactDir, "wheelhouse", path.basename(uv)));
    const hostKey = ed25519KeyPairFromSeed(Buffer.alloc(32, 3), "h").publicKey;
    const servers = Array.from({ length: count }, (_, i) => ({
        name: `sync${i}`,
        host: `sync${i}.example.com`,
        hostKey,
    }));
    const config: Record<string, string> = {
        "sync:version": "1.1.4",
        "sync:artifactDir": artifactDir,
        "sync:releaseBucket": "false",
        "sync:rollout": JSON.stringify({ batchSize: 10 }),
        "sync:servers": JSON.stringify(servers),
        "sync:sshPrivateKey": ed25519KeyPairFromSeed(Buffer.alloc(32, 9), "d").privateKey,
        "sync:iniSecrets": JSON.stringify({ sync: { secret_key: "s", database_url: "d" } }),
        // Mocks have no hosts to read before planning (the read's cost is the engine bench's).
        "sync:observe": "false",
    };
    const started = process.hrtime.bigint();
    const { declared } = await evaluateProgram(config, ["sync:sshPrivateKey", "sync:iniSecrets"], "bench");
    const resources = declared.length;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rssMb = process.memoryUsage().rss / 1024 / 1024;
    console.log(
        JSON.stringify({
            servers: count,
            resources,
            seconds: Number(seconds.toFixed(2)),
            goalSeconds: 5,
            ratioToGoal: Number((seconds / 5).toFixed(2)),
            rssMb: Math.round(rssMb),
        }),
    );
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
