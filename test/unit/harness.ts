// Runs index.ts under Pulumi mocks and records every resource it declares.
import type * as pulumiType from "@pulumi/pulumi";

/** One resource the program declared. */
export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

/** The outcome of one program run. */
export interface ProgramRun {
    resources: Recorded[];
    outputs: Record<string, unknown>;
    program: Record<string, unknown>;
    pulumi: typeof pulumiType;
}

/** Plain-value resolution of an Output (mocks resolve everything). */
export function valueOf<T>(output: pulumiType.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Every resource of a type, by name. */
export function byType(run: ProgramRun, type: string): Recorded[] {
    return run.resources.filter((r) => r.type === type);
}

/** Run the program with the given stack config (keys like "sync:version", values JSON or plain). */
export async function runProgram(config: Record<string, string>, secretKeys: string[] = []): Promise<ProgramRun> {
    jest.resetModules();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi: typeof pulumiType = require("@pulumi/pulumi");
    const resources: Recorded[] = [];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                resources.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "command:remote:Command") {
                    state.stdout = "";
                    state.stderr = "";
                }
                if (args.type === "aws:ec2/instance:Instance") {
                    state.publicIp = "203.0.113.10";
                    state.privateIp = "10.0.0.10";
                }
                if (args.type === "aws:s3/bucket:Bucket") {
                    state.bucket = `${args.name}-1234567`;
                    state.arn = `arn:aws:s3:::${args.name}-1234567`;
                }
                if (args.type === "aws:ec2/keyPair:KeyPair") {
                    state.keyName = `${args.name}-kp`;
                }
                return { id: `${args.name}-id`, state };
            },
            call(args) {
                if (args.token === "aws:ec2/getAmi:getAmi") {
                    return { id: "ami-0debian12", name: "debian-12-amd64-20260101" };
                }
                if (args.token === "aws:ec2/getSubnet:getSubnet") {
                    return { id: args.inputs.id, vpcId: "vpc-0abc" };
                }
                return args.inputs;
            },
        },
        "sync",
        "prod",
        false,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../../index");
    const outputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(program)) {
        outputs[key] = await valueOf(pulumi.output(value as pulumiType.Input<unknown>));
    }
    await pulumi.runtime.disconnect();
    return { resources, outputs, program, pulumi };
}

/** Pulumi's marker for a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** True when a serialized input is a secret. */
export function isSecretInput(value: unknown): boolean {
    return (
        typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE
    );
}

/** The value inside a secret (or the value itself). */
export function unwrap(value: unknown): any {
    return isSecretInput(value) ? (value as Record<string, unknown>).value : value;
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
