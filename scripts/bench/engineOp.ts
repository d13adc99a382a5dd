// One operation of the local stack under the real Pulumi engine, exactly as scripts/local-stack.ts
// runs it (scripts/lib/localStack.ts: the program inline through the Automation API, the CLI that
// scripts/build-engine.sh built, a file backend), with the times the benchmark needs: when this
// process started, when the runner's modules were loaded, when the stack was open, and every engine
// event as it arrived. The `command` plugin is the stand-in unless the released one is installed.
//   usage: node -r ts-node/register scripts/bench/engineOp.ts open|up|preview OUT.json
// (One operation per process: the inline program is a module, imported once per process.)
// Environment as for scripts/local-stack.ts (SYNC_FLEET_ID or SYNC_FLEET_STATE, SYNC_LOCAL_STACK_DIR,
// SYNC_LOCAL_ARTIFACT_DIR).
import { EngineEvent } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import { performance } from "perf_hooks";
import { openLocalStack } from "../lib/localStack";

/** One engine event, reduced to what the report uses; `at` is epoch ms when it reached us. */
export interface OpEvent {
    at: number;
    kind: string;
    op?: string;
    type?: string;
    name?: string;
}

/** What one operation took, epoch ms throughout. */
export interface OpTimes {
    operation: string;
    commandPlugin: string;
    processStart: number;
    modulesLoaded: number;
    stackOpen: number;
    phases: { name: string; start: number; end: number }[];
    end: number;
    ok: boolean;
    error?: string;
    events: OpEvent[];
}

const modulesLoaded = Date.now();

function reduce(event: EngineEvent): OpEvent {
    const at = Date.now();
    const metadata =
        event.resourcePreEvent?.metadata ?? event.resOutputsEvent?.metadata ?? event.resOpFailedEvent?.metadata;
    const kind = Object.keys(event).find((key) => key !== "sequence" && key !== "timestamp") ?? "unknown";
    if (metadata) {
        return { at, kind, op: metadata.op, type: metadata.type, name: metadata.urn.split("::").pop() };
    }
    return { at, kind };
}

async function main(operation: string, out: string): Promise<number> {
    const times: OpTimes = {
        operation,
        commandPlugin: "",
        processStart: Math.round(performance.timeOrigin),
        modulesLoaded,
        stackOpen: 0,
        phases: [],
        end: 0,
        ok: true,
        events: [],
    };
    const save = (): void => fs.writeFileSync(out, JSON.stringify(times));
    const local = await openLocalStack({
        workDir: process.env.SYNC_LOCAL_STACK_DIR,
        artifactDir: process.env.SYNC_LOCAL_ARTIFACT_DIR,
    });
    times.commandPlugin = local.commandPlugin;
    times.stackOpen = Date.now();
    const onEvent = (event: EngineEvent): void => {
        times.events.push(reduce(event));
    };
    const phase = async (name: string, work: () => Promise<unknown>): Promise<void> => {
        const start = Date.now();
        try {
            await work();
        } finally {
            times.phases.push({ name, start, end: Date.now() });
        }
    };
    try {
        if (operation === "preview") {
            await phase("preview", () => local.stack.preview({ onEvent, color: "never" }));
        } else if (operation === "up") {
            await phase("up", () => local.stack.up({ onEvent, color: "never" }));
        }
    } catch (error) {
        times.ok = false;
        times.error = String(error).slice(-4000);
    }
    times.end = Date.now();
    save();
    return times.ok ? 0 : 1;
}

const [operation, out] = process.argv.slice(2);
if (!["open", "up", "preview"].includes(operation) || !out) {
    process.stderr.write("usage: engineOp.ts open|up|preview OUT.json\n");
    process.exit(2);
}
main(operation, out).then(
    (code) => process.exit(code),
    (error: unknown) => {
        process.stderr.write(`engineOp: ${error instanceof Error ? error.stack : String(error)}\n`);
        process.exit(1);
    },
);
