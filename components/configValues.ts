// The vocabulary every config validator speaks: one error listing every problem, a bounded
// rendering of a bad value, and the small checks each validator uses. Pure.

/** Every problem found in the stack config, one message each. */
export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(`invalid stack config:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

const MAX_SHOWN = 40;

/** A bounded, unambiguous rendering of a bad value for an error message. */
export function showValue(value: unknown): string {
    if (value === undefined) {
        return "undefined";
    }
    const json = JSON.stringify(value) ?? String(value);
    if (json.length <= MAX_SHOWN) {
        return json;
    }
    return `${json.slice(0, MAX_SHOWN)}… (${json.length} chars)`;
}

/** A plain object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Adds a problem for every key of `value` that is not `allowed`. */
export function unknownKeys(key: string, value: Record<string, unknown>, allowed: string[], problems: string[]): void {
    for (const field of Object.keys(value)) {
        if (!allowed.includes(field)) {
            problems.push(`${key}.${field}: unknown setting (allowed: ${allowed.join(", ")})`);
        }
    }
}

/** The value when it is an integer within [min, max]; else adds a problem and returns undefined. */
export function integerIn(
    key: string,
    value: unknown,
    min: number,
    max: number,
    problems: string[],
): number | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        problems.push(`${key}: ${showValue(value)} must be an integer from ${min} to ${max}`);
        return undefined;
    }
    return value;
}

/** The last part of a config key path, as it is written in the stack file (`sync:version`, `version`). */
export function leafName(key: string): string {
    return key.slice(key.lastIndexOf(".") + 1);
}
