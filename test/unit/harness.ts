// Runs index.ts under Pulumi mocks, inside a stack resource as `pulumi up` does, and records every
// resource it declares: its inputs (from the mocks) and its resource options (from a stack
// transformation, since mocks never see options).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type * as pulumiType from "@pulumi/pulumi";
import { isSecretInput, programMocks, valueOf } from "../../scripts/lib/mockProgram";

export { isSecretInput, MOCK_HOST_KEY_LINE, unwrap, valueOf } from "../../scripts/lib/mockProgram";

/** The resource options that matter here, with resources named by their `type::name` key. */
export interface RecordedOptions {
    /** The parent's key (undefined for children of the stack). */
    parent?: string;
    /** Keys of the resources in `dependsOn`, as declared (components not expanded). */
    dependsOn: string[];
    retainOnDelete?: boolean;
    protect?: boolean;
    deleteBeforeReplace?: boolean;
    ignoreChanges?: string[];
    hideDiffs?: string[];
    customTimeouts?: pulumiType.CustomTimeouts;
    additionalSecretOutputs?: string[];
    /** The explicit provider's name, when the resource (or an ancestor) names one. */
    provider?: string;
}

/** One resource the program declared. */
export interface Recorded {
    type: string;
    name: string;
    /** `type::name`: unique within a stack. */
    key: string;
    /** Whether Pulumi manages it directly (as opposed to a component). */
    custom: boolean;
    inputs: Record<string, any>;
    opts: RecordedOptions;
    /** The inputs as the program passed them, before the SDK serialized them (assets as objects). */
    props: Record<string, any>;
}

/** The outcome of one program run. */
export interface ProgramRun {
    resources: Recorded[];
    outputs: Record<string, unknown>;
    program: Record<string, unknown>;
    pulumi: typeof pulumiType;
    /** What the Pulumi runtime warned about (e.g. undefined stack outputs). */
    warnings: string[];
}

/** Options of a program run. */
export interface RunOptions {
    /**
     * Text of the stack file Pulumi.prod.yaml the program finds in its working directory (a temp
     * project directory). Default: the program runs in the checkout, beside the shipped stack files.
     */
    stackFile?: string;
    /**
     * stdout of remote commands, by resource name. Default: MOCK_HOST_KEY_LINE for an EC2 host's
     * `-hostkey` step (what `cat /etc/ssh/ssh_host_ed25519_key.pub` prints), "" for every other.
     */
    commandStdout?: Record<string, string>;
}

const REPO = path.resolve(__dirname, "../..");

/** Every resource of a type, by name. */
export function byType(run: ProgramRun, type: string): Recorded[] {
    return run.resources.filter((r) => r.type === type);
}

/** Run the program with the given stack config (keys like "sync:version", values JSON or plain). */
export async function runProgram(
    config: Record<string, string>,
    secretKeys: string[] = [],
    options: RunOptions = {},
): Promise<ProgramRun> {
    jest.resetModules();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi: typeof pulumiType = require("@pulumi/pulumi");
    const inputs = new Map<string, Record<string, any>>();
    const declared: {
        resource: pulumiType.Resource;
        type: string;
        name: string;
        opts: pulumiType.ResourceOptions;
        props: Record<string, any>;
    }[] = [];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        programMocks((type, name, args) => inputs.set(`${type}::${name}`, args), options.commandStdout),
        "sync",
        "prod",
        false,
    );
    let projectDir = REPO;
    if (options.stackFile !== undefined) {
        projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-project-"));
        fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(projectDir, "Pulumi.yaml"));
        fs.writeFileSync(path.join(projectDir, "Pulumi.prod.yaml"), options.stackFile);
    }
    const warnings: string[] = [];
    const warn = jest.spyOn(console, "warn").mockImplementation((...args: unknown[]) => {
        warnings.push(args.map(String).join(" "));
    });
    const cwd = process.cwd();
    // The program shortens stack traces for the SDK's sake (components/sdkTuning.ts); jest's own
    // reports keep theirs.
    const stackTraceLimit = Error.stackTraceLimit;
    let program: Record<string, unknown> = {};
    let failure: unknown = undefined;
    try {
        // As under `pulumi up`: the program runs in the project directory, inside the stack resource.
        process.chdir(projectDir);
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                declared.push({
                    resource: args.resource,
                    type: args.type,
                    name: args.name,
                    opts: args.opts,
                    props: args.props,
                });
                return undefined;
            });
            try {
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                program = require("../../index");
            } catch (error) {
                // Rethrown below: a stack whose init rejects leaves an unhandled rejection behind.
                failure = error;
            }
            return program;
        });
    } finally {
        process.chdir(cwd);
        warn.mockRestore();
        Error.stackTraceLimit = stackTraceLimit;
    }
    if (failure !== undefined) {
        await pulumi.runtime.disconnect();
        throw failure;
    }
    const outputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(program)) {
        outputs[key] = await valueOf(pulumi.output(value as pulumiType.Input<unknown>));
    }
    // Wait for every registration to reach the mocks (their inputs are recorded there).
    await pulumi.runtime.disconnect();
    const keyOf = new Map(declared.map((d) => [d.resource, `${d.type}::${d.name}`]));
    const nameOf = (resource: unknown): string => {
        const key = keyOf.get(resource as pulumiType.Resource);
        if (key === undefined) {
            throw new Error("a resource option names a resource the program did not declare");
        }
        return key;
    };
    const resources: Recorded[] = [];
    for (const d of declared) {
        const dependsOn = (await valueOf(pulumi.output(d.opts.dependsOn ?? []))) as unknown;
        const key = `${d.type}::${d.name}`;
        resources.push({
            type: d.type,
            name: d.name,
            key,
            custom: pulumi.CustomResource.isInstance(d.resource),
            inputs: inputs.get(key) ?? {},
            props: d.props,
            opts: {
                parent: d.opts.parent && keyOf.has(d.opts.parent) ? nameOf(d.opts.parent) : undefined,
                dependsOn: (Array.isArray(dependsOn) ? dependsOn : [dependsOn]).map(nameOf),
                retainOnDelete: d.opts.retainOnDelete,
                protect: d.opts.protect,
                deleteBeforeReplace: (d.opts as pulumiType.CustomResourceOptions).deleteBeforeReplace,
                ignoreChanges: d.opts.ignoreChanges,
                hideDiffs: (d.opts as pulumiType.CustomResourceOptions).hideDiffs,
                customTimeouts: d.opts.customTimeouts,
                additionalSecretOutputs: (d.opts as pulumiType.CustomResourceOptions).additionalSecretOutputs,
                provider: providerName(d.resource),
            },
        });
    }
    return { resources, outputs, program, pulumi, warnings };
}

/** The name of the provider a custom resource was given (through its own options or its parents'). */
function providerName(resource: pulumiType.Resource): string | undefined {
    // The SDK keeps the chosen provider on the resource; undefined means a default provider.
    const provider = (resource as unknown as { __prov?: { __name?: string } }).__prov;
    return provider?.__name;
}

/**
 * Every custom resource `key` waits for before Pulumi creates, updates or replaces it: its
 * `dependsOn`, where a component stands for every custom resource below it (as the SDK expands
 * it), then what those wait for, transitively. Dependencies through inputs are not followed.
 */
export function waitsFor(run: ProgramRun, key: string): Set<string> {
    const byKey = new Map(run.resources.map((r) => [r.key, r]));
    const children = new Map<string, string[]>();
    for (const r of run.resources) {
        if (r.opts.parent) {
            children.set(r.opts.parent, [...(children.get(r.opts.parent) ?? []), r.key]);
        }
    }
    const customBelow = (k: string): string[] => {
        const r = byKey.get(k);
        if (r?.custom) {
            return [k];
        }
        return (children.get(k) ?? []).flatMap(customBelow);
    };
    const seen = new Set<string>();
    const pending = [key];
    while (pending.length > 0) {
        const current = byKey.get(pending.pop() as string);
        for (const dependency of current?.opts.dependsOn.flatMap(customBelow) ?? []) {
            if (!seen.has(dependency)) {
                seen.add(dependency);
                pending.push(dependency);
            }
        }
    }
    return seen;
}

/** The inputs with every secret replaced by "[secret]": what may be shown or stored in plaintext. */
export function plaintextOf(value: unknown): unknown {
    if (isSecretInput(value)) {
        return "[secret]";
    }
    if (Array.isArray(value)) {
        return value.map(plaintextOf);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plaintextOf(v)]));
    }
    return value;
}
