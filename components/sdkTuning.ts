// What the Pulumi Node SDK spends per resource that this program does not need, turned off once
// before any resource is declared (profiled, see BENCHMARKS.md "Scale"): the SDK captures a stack
// trace for every promise it makes (about four per output property) and, with
// Error.stackTraceLimit = Infinity, the source position of every resource; and it sends the engine
// a debug message for most steps, one at a time, which the program then waits to drain. At 200
// servers these are about half of a preview's CPU. SYNC_PROGRAM_DEBUG=1 keeps all of it, for
// debugging the program itself (`pulumi up -v=9 --logflow`).
import type * as pulumiType from "@pulumi/pulumi";

/** What was turned off (empty when SYNC_PROGRAM_DEBUG=1). */
export function tunePulumiSdk(pulumi: typeof pulumiType): string[] {
    if (process.env.SYNC_PROGRAM_DEBUG === "1") {
        return [];
    }
    const done: string[] = [];
    // One frame: error messages keep their first line and where they were thrown.
    Error.stackTraceLimit = 1;
    done.push("stack traces");
    const resource = pulumi.Resource as unknown as { callsites?: () => unknown[] };
    if (typeof resource.callsites === "function") {
        // Only the engine's record of where each resource was declared in the source is lost.
        resource.callsites = () => [];
        done.push("source positions");
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const log = require("@pulumi/pulumi/log") as { debug?: unknown };
    if (typeof log.debug === "function") {
        log.debug = () => Promise.resolve();
        done.push("debug messages");
    }
    return done;
}
