// The `ec2:` settings of a server the stack creates. Pure.
import { isObject, showValue, unknownKeys } from "./configValues";

/** Settings of an EC2 instance the stack creates. */
export interface Ec2Settings {
    /** Instance type, e.g. t3.small. */
    instanceType: string;
    /** Subnet to launch into; the default VPC's default subnet when unset. */
    subnetId?: string;
    /** CIDR blocks allowed to reach SSH (22). */
    sshCidrs: string[];
    /** CIDR blocks allowed to reach HTTP (80). */
    httpCidrs: string[];
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const CIDR4 = /^((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))\/(\d|[12]\d|3[0-2])$/;

/** The validated settings; every problem is added to `problems`. */
export function parseEc2(key: string, value: unknown, problems: string[]): Ec2Settings | undefined {
    if (!isObject(value)) {
        problems.push(
            `${key}: ${showValue(value)} must be an object { instanceType, subnetId?, sshCidrs, httpCidrs? }`,
        );
        return undefined;
    }
    unknownKeys(key, value, ["instanceType", "subnetId", "sshCidrs", "httpCidrs"], problems);
    const instanceType = value.instanceType ?? "t3.small";
    if (typeof instanceType !== "string" || !INSTANCE_TYPE.test(instanceType)) {
        problems.push(`${key}.instanceType: ${showValue(instanceType)} must be an EC2 instance type such as t3.small`);
    }
    if (value.subnetId !== undefined && (typeof value.subnetId !== "string" || !SUBNET_ID.test(value.subnetId))) {
        problems.push(
            `${key}.subnetId: ${showValue(value.subnetId)} must be a subnet id such as subnet-0123456789abcdef0`,
        );
    }
    const cidrs = (field: string, fallback: unknown): string[] => {
        const list = value[field] ?? fallback;
        if (!Array.isArray(list) || list.length === 0 || list.some((c) => typeof c !== "string" || !CIDR4.test(c))) {
            problems.push(
                `${key}.${field}: ${showValue(list)} must be a non-empty list of IPv4 CIDR blocks such as 203.0.113.0/24`,
            );
            return [];
        }
        return list as string[];
    };
    const sshCidrs = cidrs("sshCidrs", undefined);
    const httpCidrs = cidrs("httpCidrs", ["0.0.0.0/0"]);
    return {
        instanceType: String(instanceType),
        subnetId: value.subnetId as string | undefined,
        sshCidrs,
        httpCidrs,
    };
}
