// The local stack's operations under the real Pulumi engine (see scripts/lib/localStack.ts).
//
//   local-stack.ts up [--quiet] [--summary FILE]
//                                       pulumi up; then a table: host → version it serves (read from the host);
//                                       --summary: the update's result and resource changes as JSON
//   local-stack.ts preview [--json]     pulumi preview; --json: one {op, type, name} per resource step on stdout
//   local-stack.ts refresh [--clear-pending-creates]
//   local-stack.ts destroy
//   local-stack.ts pulumi ARGS...       the engine's CLI with this stack's environment, in its work dir
//                                       (config set, stack output, stack export, cancel, …)
//
// Environment: SYNC_FLEET_STATE (default /run/sync-fleet), SYNC_LOCAL_STACK_DIR (default
// <fleet state>/stack), SYNC_LOCAL_ARTIFACT_DIR (default <repo>/.artifacts; read when the stack is
// first created), SYNC_RELEASE_CACHE. Pulumi's own output is streamed as it comes.
import { EngineEvent, OpType, OutputMap, UpResult } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as fs from "fs";
import { LocalStack, openLocalStack, servedVersion } from "./lib/localStack";

/** One step of a preview, as `preview --json` prints it. */
export interface PreviewStep {
    op: OpType;
    type: string;
    name: string;
}

function write(text: string): void {
    process.stdout.write(text);
}

async function reportHosts(local: LocalStack, known?: OutputMap): Promise<void> {
    const outputs = known ?? (await local.stack.outputs());
    const activated = (outputs.serves?.value ?? {}) as Record<string, string>;
    const rows = await Promise.all(
        local.fleet.servers.map(async (server) => {
            const left = server.name in activated ? activated[server.name] || "nothing" : "(not declared)";
            return [server.name, server.host, left, (await servedVersion(server.host)) || "nothing"];
        }),
    );
    // "activated": what the stack's last activation of the host reported; "serves": asked now.
    const table = [["host", "address", "activated", "serves"], ...rows];
    const widths = table[0].map((_, column) => Math.max(...table.map((row) => row[column].length)));
    write("\n");
    for (const row of table) {
        write(
            `${row
                .map((cell, column) => cell.padEnd(widths[column]))
                .join("  ")
                .trimEnd()}\n`,
        );
    }
}

function describePlugin(local: LocalStack): string {
    switch (local.commandPlugin) {
        case "released": {
            // Built from pulumi-command's released source elsewhere, or Pulumi's own binary: not ours.
            const from = local.pluginsRecord
                ? ` (SYNC_RELEASE_PLUGINS: ${local.pluginsRecord.replace(/\n/g, "; ")})`
                : "";
            return `command plugin: a released pulumi-resource-command, not the stand-in: ${local.commandPluginPath}${from}`;
        }
        case "stand-in":
            return `command plugin: the sync-release STAND-IN for pulumi-command (tools/command-standin; the released plugin is not installed): ${local.commandPluginPath}`;
        default:
            return `command plugin: none installed at ${local.commandPluginPath} (run scripts/build-engine.sh)`;
    }
}

async function main(argv: string[]): Promise<number> {
    const [operation, ...rest] = argv;
    const flags = new Set(rest);
    const summaryIndex = rest.indexOf("--summary");
    const summaryFile = summaryIndex >= 0 ? rest[summaryIndex + 1] : undefined;
    const local = await openLocalStack({
        workDir: process.env.SYNC_LOCAL_STACK_DIR,
        artifactDir: process.env.SYNC_LOCAL_ARTIFACT_DIR,
    });
    const quiet = flags.has("--quiet");
    const onOutput = quiet ? undefined : write;
    switch (operation) {
        case "up": {
            process.stderr.write(`${describePlugin(local)}\nstack: ${local.workDir}\n`);
            let failed: unknown;
            let done: UpResult | undefined;
            try {
                done = await local.stack.up({ onOutput, color: "never" });
            } catch (error) {
                failed = error;
            }
            await reportHosts(local, done?.outputs);
            if (summaryFile) {
                // Only these fields: the summary also holds the stack's config, secrets in
                // plaintext (the Automation API reads it with --show-secrets).
                const last = done?.summary ?? (await local.stack.history(1))[0];
                const { kind, result, startTime, endTime, resourceChanges } = last;
                fs.writeFileSync(summaryFile, JSON.stringify({ kind, result, startTime, endTime, resourceChanges }));
            }
            if (failed) {
                // Pulumi already printed the failure above; only the exit status is left to give.
                if (quiet) {
                    process.stderr.write(`${String(failed)}\n`);
                }
                return 1;
            }
            return 0;
        }
        case "preview": {
            const json = flags.has("--json");
            const steps: PreviewStep[] = [];
            const onEvent = (event: EngineEvent): void => {
                const metadata = event.resourcePreEvent?.metadata;
                if (metadata) {
                    steps.push({ op: metadata.op, type: metadata.type, name: metadata.urn.split("::").pop() ?? "" });
                }
            };
            try {
                await local.stack.preview({
                    onOutput: json ? undefined : onOutput,
                    onEvent,
                    diff: flags.has("--diff"),
                });
            } catch (error) {
                // Pulumi printed the failure above unless its output was not shown.
                if (json || quiet) {
                    process.stderr.write(`${String(error)}\n`);
                }
                return 1;
            }
            if (json) {
                write(`${JSON.stringify(steps, null, 2)}\n`);
            }
            return 0;
        }
        case "refresh":
            await local.stack.refresh({ onOutput, clearPendingCreates: flags.has("--clear-pending-creates") });
            return 0;
        case "destroy":
            await local.stack.destroy({ onOutput });
            return 0;
        case "pulumi": {
            const result = spawnSync(local.pulumiBinary, [...rest, "--stack", "local"], {
                cwd: local.workDir,
                env: { ...process.env, ...local.env },
                stdio: "inherit",
            });
            return result.status ?? 1;
        }
        default:
            process.stderr.write("usage: local-stack.ts up|preview [--json]|refresh|destroy|pulumi ARGS...\n");
            return 2;
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
        process.stderr.write(`local-stack: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
    },
);
