// Quoting for the POSIX shells that run what the stack renders (bash on the deployer and the
// hosts, dash as /bin/sh). Pure.

/** Quote one word for a POSIX shell: single quotes, with embedded ones closed and escaped. */
export function shellQuote(word: string): string {
    if (word.includes("\0")) {
        throw new Error("a shell word cannot contain a NUL byte");
    }
    return `'${word.replace(/'/g, `'\\''`)}'`;
}
