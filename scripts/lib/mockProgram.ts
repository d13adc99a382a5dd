// Evaluate index.ts under Pulumi's mocks (no engine): what the scripts use to see the exact
// resources and inputs the program declares for a given stack config.
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** One resource the program declared, with secrets unwrapped. */
export interface Declared {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

/** The program's exports, resolved. */
export type Outputs = Record<string, unknown>;

function unwrapSecrets(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    // Only plain objects: assets and archives keep their class (their path is a promise).
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        const record = value as Record<string, unknown>;
        if (SECRET_SIG in record) {
            return unwrapSecrets(record.value);
        }
        return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Run the program once with `config` (values as Pulumi passes them: strings or JSON). */
export async function evaluateProgram(
    config: Record<string, string>,
    secretKeys: string[],
    stack: string,
): Promise<{ declared: Declared[]; outputs: Outputs }> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const declared: Declared[] = [];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                declared.push({
                    type: args.type,
                    name: args.name,
                    inputs: unwrapSecrets(args.inputs) as Record<string, unknown>,
                });
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout: "", stderr: "" } };
            },
            call(args) {
                return args.inputs;
            },
        },
        "sync",
        stack,
        false,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(REPO, "index")) as Record<string, unknown>;
    const outputs: Outputs = {};
    for (const [key, value] of Object.entries(program)) {
        outputs[key] = await new Promise<unknown>((resolve) =>
            pulumi.output(value as import("@pulumi/pulumi").Input<object>).apply((resolved) => resolve(resolved)),
        );
    }
    await pulumi.runtime.disconnect();
    return { declared, outputs };
}
