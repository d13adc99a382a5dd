// sync:ini and sync:iniSecrets: sections → keys → values that configparser(interpolation=None)
// reads back exactly as written. Pure.
import { isObject, showValue } from "./configValues";

/** sections → keys → values, exactly as the app's configparser must read them. */
export type IniData = Record<string, Record<string, string>>;

const SECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const INI_KEY = /^[a-z0-9_][a-z0-9_.-]{0,63}$/;
const MAX_INI_VALUE = 64 * 1024;

/** Problem with one ini value as configparser(interpolation=None) would read it, or undefined. */
export function iniValueProblem(key: string, value: unknown, secret: boolean): string | undefined {
    const shown = secret ? "(value not shown: secret)" : showValue(value);
    if (typeof value === "number" || typeof value === "boolean") {
        return undefined;
    }
    if (typeof value !== "string") {
        return `${key}: ${shown} must be a string, number or boolean`;
    }
    if (value.length > MAX_INI_VALUE) {
        return `${key}: ${shown} is longer than ${MAX_INI_VALUE} characters`;
    }
    if (/[\r\n]/.test(value)) {
        return `${key}: ${shown} contains a line break, which configparser would read as a continuation line`;
    }
    if (value !== value.trim()) {
        return `${key}: ${shown} has leading or trailing whitespace, which configparser strips`;
    }
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(value)) {
        return `${key}: ${shown} contains a control character`;
    }
    return undefined;
}

/** The validated settings of one config key; every problem is added to `problems`. */
export function parseIni(configKey: string, value: unknown, secret: boolean, problems: string[]): IniData {
    const result: IniData = {};
    if (value === undefined || value === null) {
        return result;
    }
    if (!isObject(value)) {
        problems.push(
            `${configKey}: ${secret ? "(value not shown: secret)" : showValue(value)} must be an object of sections, each an object of key: value`,
        );
        return result;
    }
    for (const [section, entries] of Object.entries(value)) {
        const sectionKey = `${configKey}.${section}`;
        if (section === "__proto__") {
            problems.push(`${configKey}: section name "__proto__" is not allowed (JavaScript would drop it)`);
            continue;
        }
        if (!SECTION_NAME.test(section) || section === "DEFAULT") {
            problems.push(
                `${configKey}: section name ${showValue(section)} must match [A-Za-z0-9_][A-Za-z0-9_.-]* and not be DEFAULT`,
            );
            continue;
        }
        if (!isObject(entries)) {
            problems.push(`${sectionKey}: must be an object of key: value`);
            continue;
        }
        result[section] = {};
        for (const [name, raw] of Object.entries(entries)) {
            if (name === "__proto__") {
                problems.push(`${sectionKey}: key "__proto__" is not allowed (JavaScript would drop it)`);
                continue;
            }
            if (!INI_KEY.test(name)) {
                // configparser lower-cases keys and splits on = and :, so only plain lower-case keys survive a round trip.
                problems.push(
                    `${sectionKey}: key ${showValue(name)} must match [a-z0-9_][a-z0-9_.-]* (configparser lower-cases keys)`,
                );
                continue;
            }
            const problem = iniValueProblem(`${sectionKey}.${name}`, raw, secret);
            if (problem) {
                problems.push(problem);
                continue;
            }
            result[section][name] = String(raw);
        }
    }
    return result;
}
