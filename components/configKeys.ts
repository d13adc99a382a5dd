// The `sync:` keys the stack knows, and what to say about any other: a typo such as sync:verison
// would otherwise be ignored, and the stack would roll out what it ran before. Pure.
import { showValue } from "./configValues";

/** The project's config namespace (Pulumi.yaml `name`). */
const NAMESPACE = "sync";

/** A key shown as it is; any other (spaces, quotes, line breaks, 10 KB) is shown bounded and quoted. */
const PLAIN_KEY = /^[A-Za-z0-9_:.[\]-]{1,100}$/;

/**
 * Every key Pulumi.yaml declares, in its order (a unit test holds the two together).
 */
export const KNOWN_CONFIG_KEYS: readonly string[] = [
    "version",
    "artifactDir",
    "servers",
    "rollout",
    "keepReleases",
    "ini",
    "iniSecrets",
    "sshPrivateKey",
    "releaseBucket",
    "commandTimeout",
    "observe",
];

/**
 * Edits between two keys (insert, delete, substitute, swap two neighbours), ignoring case: the
 * optimal string alignment distance, so `verison` is one edit from `version`.
 */
export function keyDistance(a: string, b: string): number {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    // rows[i][j]: edits between the first i characters of x and the first j of y
    const rows: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
        Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
    );
    for (let i = 1; i <= x.length; i++) {
        for (let j = 1; j <= y.length; j++) {
            const substitution = x[i - 1] === y[j - 1] ? 0 : 1;
            rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + substitution);
            if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
                rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
            }
        }
    }
    return rows[x.length][y.length];
}

/**
 * The known key a mistyped one most likely meant: the nearest, when it is within a third of that
 * key's length (at least one edit); the first declared wins a tie. Undefined when none is that close.
 */
export function closestKnownKey(name: string): string | undefined {
    let best: { key: string; distance: number } | undefined;
    for (const key of KNOWN_CONFIG_KEYS) {
        const distance = keyDistance(name, key);
        if (distance <= Math.max(1, Math.floor(key.length / 3)) && (!best || distance < best.distance)) {
            best = { key, distance };
        }
    }
    return best?.key;
}

/**
 * One problem for every key under `sync:` that the stack does not know, naming it and the known
 * key it most likely meant (or, when none is close, every known key). `keys` are all the config
 * keys the program was handed (`namespace:name`); other namespaces (aws:, pulumi:) are not ours.
 * A dotted key (`sync:rollout.batchSize`) is a nested value set without --path.
 */
export function unknownConfigKeyProblems(keys: readonly string[]): string[] {
    const problems: string[] = [];
    for (const key of keys) {
        if (!key.startsWith(`${NAMESPACE}:`)) {
            continue;
        }
        const name = key.slice(NAMESPACE.length + 1);
        if (KNOWN_CONFIG_KEYS.includes(name)) {
            continue;
        }
        const plain = PLAIN_KEY.test(key);
        const shown = plain ? key : showValue(key);
        const parent = /^([^.[]+)[.[]/.exec(name)?.[1];
        if (plain && parent !== undefined && KNOWN_CONFIG_KEYS.includes(parent)) {
            problems.push(
                `${key}: unknown key; a value inside ${NAMESPACE}:${parent} is set with --path: pulumi config set --path '${key}' <value>`,
            );
            continue;
        }
        const closest = closestKnownKey(name);
        problems.push(
            closest !== undefined
                ? `${shown}: unknown key; did you mean ${NAMESPACE}:${closest}?`
                : `${shown}: unknown key; the known keys are ${KNOWN_CONFIG_KEYS.map((known) => `${NAMESPACE}:${known}`).join(", ")}`,
        );
    }
    return problems;
}
