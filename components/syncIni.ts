// /etc/sync.ini as the stack renders it, and the stream its ini step sends. Pure.
import { sha256 } from "./digest";
import { IniData } from "./config";

/** Secret settings win key by key; sections and keys come out sorted, so the file is stable. */
export function mergeIni(ini: IniData, secrets: IniData): IniData {
    const merged: IniData = {};
    for (const source of [ini, secrets]) {
        for (const [section, entries] of Object.entries(source)) {
            merged[section] = { ...(merged[section] ?? {}), ...entries };
        }
    }
    return merged;
}

/**
 * Render /etc/sync.ini for `configparser.ConfigParser(interpolation=None)`. Values are written
 * verbatim after `key = `: that reader has no escapes, no quoting and no inline comments, so
 * `;`, `#`, `=`, `%` and quotes are plain characters. The `ini` package's stringify escapes `;`
 * and `#` and quotes values with `=`, which configparser would read back differently, so it is not
 * used here. Values configparser can't hold (line breaks, edge whitespace) are refused earlier, by
 * the config validation.
 */
export function renderSyncIni(ini: IniData, secrets: IniData): string {
    const merged = mergeIni(ini, secrets);
    const lines = ["# Written by sync-release from the stack config. Changes here are overwritten."];
    for (const section of Object.keys(merged).sort()) {
        lines.push("", `[${section}]`);
        const entries = merged[section];
        for (const key of Object.keys(entries).sort()) {
            lines.push(entries[key] === "" ? `${key} =` : `${key} = ${entries[key]}`);
        }
    }
    return `${lines.join("\n")}\n`;
}

/**
 * What the ini step reads on stdin: the file, then `# sync-release end <bytes> <sha256>`. ini.sh
 * installs nothing unless the stream ends with that line and the content before it has that
 * length and sha256, so a stream cut short never becomes a short /etc/sync.ini.
 */
export function renderIniStdin(content: string): string {
    if (!content.endsWith("\n")) {
        // The end line must be a line of its own (renderSyncIni always ends with a newline).
        throw new Error("the settings must end with a newline");
    }
    return `${content}# sync-release end ${Buffer.byteLength(content, "utf8")} ${sha256(content)}\n`;
}
