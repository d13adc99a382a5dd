// What only the stack file (Pulumi.<stack>.yaml) shows, which the values the CLI hands the
// program hide: versions written as YAML numbers, plaintext values under sync:iniSecrets. Pure.
import * as yaml from "js-yaml";
import { isObject, leafName, showValue } from "./configValues";

/** The stack file the CLI read the config from (Pulumi.<stack>.yaml): its name, for messages, and its text. */
export interface StackFile {
    name: string;
    text: string;
}

/** A secure config value as the stack file holds it: `{ secure: <ciphertext> }`. */
function isSecureValue(value: unknown): boolean {
    return isObject(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

/**
 * Problems the program cannot see in the values the CLI hands it, read from the stack file itself:
 * - a version the file holds as a YAML number: `sync:version: 1.10` reaches the program as "1.1",
 *   a valid but different release; refused, with the text to write instead;
 * - a value under `sync:iniSecrets` stored in plaintext (the CLI can only insist on encryption
 *   for a required key, and sync:iniSecrets is optional). No value is ever shown.
 * Parses with js-yaml twice: the core schema says what type a scalar has, the failsafe schema
 * gives its source text (1.10, not 1.1). A file YAML can't parse is left to the CLI, which read it first.
 */
export function stackFileProblems(file: StackFile): string[] {
    let typed: unknown;
    let source: unknown;
    try {
        typed = yaml.load(file.text);
        source = yaml.load(file.text, { schema: yaml.FAILSAFE_SCHEMA });
    } catch {
        return [];
    }
    if (!isObject(typed) || !isObject(typed.config) || !isObject(source) || !isObject(source.config)) {
        return [];
    }
    const config = typed.config;
    const sourceConfig = source.config;
    const problems: string[] = [];

    const notAString = (key: string, value: unknown, text: unknown): void => {
        if (typeof value === "string" || value === undefined || value === null || isSecureValue(value)) {
            return;
        }
        const written = typeof text === "string" ? text : showValue(value);
        if (typeof value === "number") {
            problems.push(
                `${key}: ${written} in ${file.name} is a YAML number, which reaches the program as ${showValue(String(value))}; quote it: ${leafName(key)}: "${written}"`,
            );
        } else {
            problems.push(
                `${key}: ${written} in ${file.name} is not a string; quote it: ${leafName(key)}: "${written}"`,
            );
        }
    };

    notAString("sync:version", config["sync:version"], sourceConfig["sync:version"]);
    const servers = config["sync:servers"];
    const sourceServers = sourceConfig["sync:servers"];
    if (Array.isArray(servers) && Array.isArray(sourceServers)) {
        servers.forEach((server, index) => {
            const sourceServer: unknown = sourceServers[index];
            if (isObject(server) && isObject(sourceServer)) {
                notAString(`sync:servers[${index}].version`, server.version, sourceServer.version);
            }
        });
    }

    const plaintext = (key: string, value: unknown): void => {
        if (value === undefined || value === null || isSecureValue(value)) {
            return;
        }
        if (isObject(value)) {
            for (const [name, entry] of Object.entries(value)) {
                plaintext(`${key}.${name}`, entry);
            }
            return;
        }
        problems.push(
            `${key}: stored in plaintext in ${file.name} (value not shown); remove it from the file and set it encrypted: pulumi config set --secret --path '${key}' <value>`,
        );
    };
    plaintext("sync:iniSecrets", config["sync:iniSecrets"]);
    return problems;
}

/** The config key a problem message starts with (`sync:servers[0].version` of `sync:servers[0].version: …`). */
export function problemKey(problem: string): string {
    return problem.slice(0, problem.indexOf(": "));
}
