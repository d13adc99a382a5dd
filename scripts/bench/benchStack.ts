// A local stack of one layout in a work directory of the bench's own, operated one process per
// operation exactly as scripts/local-stack.ts runs it (that layout's scripts/bench/engineOp.ts:
// the Automation API, the program inline), with the process tree's memory watched.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { runnerEnv } from "../../test/engine/engineHarness";
import { STACK_NAME, localStackEnv } from "../lib/localStack";
import { OpTimes } from "./engineOp";
import { Layout } from "./layouts";
import { watchTree } from "./procTree";
import { OpResult, round } from "./upAnalysis";

/** Operations run so far by this process (every stack's, so that no two share a timings file). */
let operations = 0;

export class BenchStack {
    constructor(
        readonly layout: Layout,
        readonly workDir: string,
        readonly artifactDir: string,
        /** Run the layout's compiled tree (tsc output) instead of ts-node. */
        readonly compiled = false,
    ) {
        if (compiled && !layout.compiledDir) {
            throw new Error(`layout ${layout.name} has no compiled tree`);
        }
    }

    /** The runner's environment: the stack's, the layout's engine and home, then `extra`. */
    env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
        return { ...runnerEnv(this.workDir, this.artifactDir), ...this.layout.env, ...extra };
    }

    async op(operation: "open" | "up" | "preview", extraEnv: Record<string, string> = {}): Promise<OpResult> {
        // Kept per operation (for a look at what each step did): <work dir>-op-<n>.json
        const out = path.join(path.dirname(this.workDir), `${path.basename(this.workDir)}-op-${++operations}.json`);
        fs.rmSync(out, { force: true });
        const tree = this.compiled ? (this.layout.compiledDir as string) : this.layout.tree;
        const args = this.compiled
            ? [path.join(tree, "scripts/bench/engineOp.js"), operation, out]
            : ["-r", "ts-node/register", path.join(tree, "scripts/bench/engineOp.ts"), operation, out];
        const began = Date.now();
        const child = spawn(process.execPath, args, {
            cwd: tree,
            env: this.env(extraEnv),
            stdio: ["ignore", "pipe", "pipe"],
        });
        const watch = watchTree(child.pid as number);
        let output = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
        const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
        const wallSeconds = (Date.now() - began) / 1000;
        const peak = watch.stop();
        if (!fs.existsSync(out)) {
            throw new Error(`${operation} in ${this.workDir} exited ${code} without timings: ${output}`);
        }
        const times = JSON.parse(fs.readFileSync(out, "utf8")) as OpTimes;
        if (code !== 0 || !times.ok) {
            throw new Error(`${operation} in ${this.workDir} failed: ${times.error ?? ""}\n${output}`);
        }
        return { wallSeconds: round(wallSeconds), peak, times, output };
    }

    /** The engine's CLI against this stack, directly (no runner process): config changes. */
    pulumi(...args: string[]): string {
        const result = spawnSync(this.layout.pulumiBinary, [...args, "--stack", STACK_NAME], {
            cwd: this.workDir,
            encoding: "utf8",
            env: { ...process.env, ...localStackEnv(this.workDir), PULUMI_HOME: this.layout.pulumiHome },
        });
        if (result.status !== 0) {
            throw new Error(`pulumi ${args.join(" ")}: ${result.stderr}`);
        }
        return result.stdout;
    }

    set(key: string, value: string): void {
        this.pulumi("config", "set", "--path", key, value);
    }

    remove(key: string): void {
        this.pulumi("config", "rm", key);
    }

    /** Replace sync:servers in the stack file (the stack must exist: run op("open") first). */
    setServers(servers: Record<string, unknown>[]): void {
        const file = path.join(this.workDir, `Pulumi.${STACK_NAME}.yaml`);
        const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
        doc.config["sync:servers"] = servers;
        fs.writeFileSync(file, yaml.dump(doc, { lineWidth: 200, quotingType: '"' }));
    }
}
