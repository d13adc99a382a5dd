import * as command from "@pulumi/command";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { IniData } from "./config";
import { HostStepArgs, renderIniCommand } from "./remoteCommand";

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

/** Arguments of a SyncIni. */
export interface SyncIniArgs extends HostStepArgs {
    /** Non-secret settings. */
    ini: IniData;
    /** Secret settings, merged over `ini` (a secret Output: the rendered file stays secret). */
    iniSecrets: pulumi.Input<IniData>;
}

/**
 * /etc/sync.ini on one host: the content travels as a secret on stdin, is written atomically
 * (0640 root:sync) and reloads the app when it changes. A settings change never reinstalls. No
 * remote delete: destroying it leaves the file in place and never needs the host to answer.
 */
export class SyncIni extends pulumi.ComponentResource {
    /** The remote write. */
    public readonly write: command.remote.Command;
    /** sha256 of the rendered file, to tell settings versions apart without showing them. */
    public readonly contentSha256: pulumi.Output<string>;

    constructor(name: string, args: SyncIniArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:SyncIni", name, {}, opts);

        // Rendered inside the Output, so a secret iniSecrets makes the whole file secret.
        const content = pulumi.output(args.iniSecrets).apply((secrets) => renderSyncIni(args.ini, secrets));
        const writeCommand = renderIniCommand({ user: args.user, timeoutSeconds: args.timeoutSeconds });
        this.write = new command.remote.Command(
            `${name}-write`,
            {
                connection: args.connection,
                create: writeCommand,
                update: writeCommand,
                stdin: content,
                // stdout is logged even when marked secret; keep the script's output out of the log.
                logging: "none",
                addPreviousOutputInEnv: false,
            },
            {
                parent: this,
                dependsOn: args.dependsOn,
                additionalSecretOutputs: ["stdin", "stdout", "stderr"],
            },
        );
        this.contentSha256 = content.apply(sha256);
        this.registerOutputs({ contentSha256: this.contentSha256 });
    }
}

function sha256(text: string): string {
    return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}
