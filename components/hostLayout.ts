// The host layout as the stack sees it. The scripts own it (components/remote/layout.sh, sourced by
// lib.sh and carried first by the runtime step's program); this module only reads that file, so a
// path, an upload name or a pattern is written once, in bash, and the stack, the fleet harness and
// the config validation take it from here. Pure functions, tested against bash itself.
import * as fs from "fs";
import * as path from "path";

/** The layout file, beside the scripts that source it. */
export const LAYOUT_FILE = path.join(__dirname, "remote", "layout.sh");

/** A word bash reads the way parseLayout does: safe characters and references to constants. */
const LAYOUT_WORD = String.raw`(?:[A-Za-z0-9_./:@%+,-]|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})*`;
const LAYOUT_LINE = new RegExp(
    String.raw`^readonly ([A-Za-z_][A-Za-z0-9_]*)=(?:"(${LAYOUT_WORD})"|'([^']*)'|(${LAYOUT_WORD}))$`,
);
const LAYOUT_REFERENCE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * The constants of a layout file: every line `readonly NAME=value` (a plain or double-quoted word
 * that may name an earlier constant as `$NAME` or `${NAME}`, or a single-quoted literal), a comment
 * or blank. Anything else throws: the file is read as bash too, and nothing bash would read
 * differently may pass.
 */
export function parseLayout(text: string): Record<string, string> {
    const values = new Map<string, string>();
    text.split("\n").forEach((raw, index) => {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) {
            return;
        }
        const match = LAYOUT_LINE.exec(line);
        if (!match) {
            throw new Error(`layout line ${index + 1} is not \`readonly NAME=value\`: ${JSON.stringify(raw)}`);
        }
        const [, name, quoted, literal, plain] = match;
        if (values.has(name)) {
            throw new Error(`layout line ${index + 1} sets ${name} again`);
        }
        const value =
            literal ??
            (quoted ?? plain).replace(LAYOUT_REFERENCE, (_all, braced?: string, bare?: string) => {
                const ref = (braced ?? bare) as string;
                const referenced = values.get(ref);
                if (referenced === undefined) {
                    throw new Error(`layout line ${index + 1} uses ${ref} before it is set`);
                }
                return referenced;
            });
        values.set(name, value);
    });
    return Object.fromEntries(values);
}

let layout: Record<string, string> | undefined;

/** One constant of components/remote/layout.sh, e.g. `SYNC_BUNDLE_SUFFIX`. */
export function hostLayoutValue(name: string): string {
    layout ??= parseLayout(fs.readFileSync(LAYOUT_FILE, "utf8"));
    const value = Object.prototype.hasOwnProperty.call(layout, name) ? layout[name] : undefined;
    if (value === undefined || value === "") {
        throw new Error(`${path.basename(LAYOUT_FILE)} does not set ${name}`);
    }
    return value;
}

/** One path of the host layout, e.g. `SYNC_INCOMING`. */
export function hostPath(name: string): string {
    const value = hostLayoutValue(name);
    if (!value.startsWith("/")) {
        throw new Error(`${path.basename(LAYOUT_FILE)} does not set ${name} to an absolute path`);
    }
    return value;
}

/**
 * One pattern of the host layout as a JavaScript RegExp. The scripts match it with bash's `=~`
 * (POSIX ERE); a pattern here is anchored and uses only what both read alike (literals, `.`,
 * bracket ranges, `?`, `{m,n}`), which the unit tests check against bash on sample inputs.
 */
export function hostPattern(name: string): RegExp {
    const value = hostLayoutValue(name);
    if (!/^\^[0-9A-Za-z.[\]{},?-]*\$$/.test(value)) {
        throw new Error(
            `${path.basename(LAYOUT_FILE)}: ${name} is not an anchored pattern both bash and JavaScript read alike`,
        );
    }
    return new RegExp(value);
}
