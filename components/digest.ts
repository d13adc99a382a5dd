// sha256 helpers shared by the release bundle and the host scripts: both are checked on the host
// with `sha256sum`, so both are fingerprinted in its format here. Pure.
import * as crypto from "crypto";

/** One named file's bytes. */
export interface NamedData {
    /** Its name (a path relative to where `sha256sum -c` runs). */
    name: string;
    /** Its bytes. */
    data: Buffer;
}

/** sha256, hex. */
export function sha256(data: string | Buffer): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** Byte order of UTF-8 names: what `LC_ALL=C` sorting (and so a shell glob) gives. */
export function byBytes(a: string, b: string): number {
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** `sha256sum` lines (`<sha256>  <name>\n`) for the files, in byte order of name. */
export function sha256sums(files: NamedData[]): string {
    return [...files]
        .sort((a, b) => byBytes(a.name, b.name))
        .map((f) => `${sha256(f.data)}  ${f.name}\n`)
        .join("");
}
