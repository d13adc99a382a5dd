// Evaluate index.ts under Pulumi's mocks (no engine): what the scripts use to see the exact
// resources and inputs the program declares for a given stack config. The mocks and the secret
// helpers here are the unit tier's too (test/unit/harness.ts), so nothing here needs jest.
import * as path from "path";
import type * as pulumiType from "@pulumi/pulumi";
import { ed25519KeyPairFromSeed } from "../../components/sshKeys";

const REPO = path.resolve(__dirname, "../..");

/** One resource the program declared, with secrets unwrapped. */
export interface Declared {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

/** The program's exports, resolved. */
export type Outputs = Record<string, unknown>;

/** The host key the mocks' EC2 instances report, as sshd's .pub file holds it. */
export const MOCK_HOST_KEY_LINE = `${ed25519KeyPairFromSeed(Buffer.alloc(32, 5), "").publicKey} root@ip-10-0-0-10`;

/**
 * Pulumi's marker of a secret in serialized inputs, `{ [specialSigKey]: specialSecretSig, value }`,
 * from the SDK itself. Required when first needed, not at import: loading the SDK is part of what
 * scripts/bench/programScale.ts times.
 */
let marker: { key: string; value: string } | undefined;
function secretMarker(): { key: string; value: string } {
    if (!marker) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const rpc = require("@pulumi/pulumi/runtime") as typeof import("@pulumi/pulumi/runtime");
        marker = { key: rpc.specialSigKey, value: rpc.specialSecretSig };
    }
    return marker;
}

/** True when a serialized input is a secret. */
export function isSecretInput(value: unknown): boolean {
    if (typeof value !== "object" || value === null) {
        return false;
    }
    const marker = secretMarker();
    return (value as Record<string, unknown>)[marker.key] === marker.value;
}

/** The value inside a secret (or the value itself). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function unwrap(value: unknown): any {
    return isSecretInput(value) ? (value as Record<string, unknown>).value : value;
}

/** Every secret inside replaced by its value, in arrays and plain objects. */
function unwrapSecrets(value: unknown): unknown {
    if (isSecretInput(value)) {
        return unwrapSecrets(unwrap(value));
    }
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    // Only plain objects: assets and archives keep their class (their path is a promise).
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Plain-value resolution of an Output (mocks resolve everything). */
export function valueOf<T>(output: pulumiType.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/**
 * The mocks both harnesses run the program with: every resource's state is its inputs, plus what
 * the provider would report: a remote command's output (`commandStdout` by resource name; default
 * MOCK_HOST_KEY_LINE for an EC2 host's `-hostkey` step, "" for every other), an instance's
 * addresses, a bucket's name, a key pair's name; the AMI and subnet lookups answer fixed values.
 * `declared` sees every resource's inputs as the mocks get them.
 */
export function programMocks(
    declared: (type: string, name: string, inputs: Record<string, unknown>) => void,
    commandStdout: Record<string, string> = {},
): pulumiType.runtime.Mocks {
    return {
        newResource(args) {
            declared(args.type, args.name, args.inputs);
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type === "command:remote:Command" || args.type === "command:local:Command") {
                state.stdout = commandStdout[args.name] ?? (args.name.endsWith("-hostkey") ? MOCK_HOST_KEY_LINE : "");
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
    };
}

/** Run the program once with `config` (values as Pulumi passes them: strings or JSON). */
export async function evaluateProgram(
    config: Record<string, string>,
    secretKeys: string[],
    stack: string,
): Promise<{ declared: Declared[]; outputs: Outputs }> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi = require("@pulumi/pulumi") as typeof pulumiType;
    const declared: Declared[] = [];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        programMocks((type, name, inputs) =>
            declared.push({ type, name, inputs: unwrapSecrets(inputs) as Record<string, unknown> }),
        ),
        "sync",
        stack,
        false,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(REPO, "index")) as Record<string, unknown>;
    const outputs: Outputs = {};
    for (const [key, value] of Object.entries(program)) {
        outputs[key] = await valueOf(pulumi.output(value as pulumiType.Input<unknown>));
    }
    await pulumi.runtime.disconnect();
    return { declared, outputs };
}
