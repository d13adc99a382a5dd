// The project file's config schema and the shipped stack files, read the way the CLI reads them.
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { RawSyncConfig, parseSyncConfig } from "../../components/config";
import { KNOWN_CONFIG_KEYS } from "../../components/configKeys";
import { stackFileProblems } from "../../components/stackFile";

const REPO = path.resolve(__dirname, "../..");

interface ConfigType {
    type?: string;
    items?: { type: string };
    secret?: boolean;
    default?: unknown;
    description?: string;
}

const project = yaml.load(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8")) as {
    name: string;
    config: Record<string, ConfigType>;
};

/** Keys the program can't run without; the CLI must ask for them (no default). */
const REQUIRED = ["version", "artifactDir", "servers", "sshPrivateKey"];
/** Keys the program gives a default; the CLI must not stop on them (a default in Pulumi.yaml). */
const OPTIONAL = ["rollout", "keepReleases", "ini", "iniSecrets", "releaseBucket", "commandTimeout"];
/** Declared (with a default) for a change to come; the program accepts the key and reads nothing yet. */
const DECLARED_ONLY = ["observe"];

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN/j/";
const REQUIRED_VALUES: RawSyncConfig = {
    version: "1.1.4",
    artifactDir: "./dist",
    servers: [{ name: "sync1", host: "198.18.0.11", hostKey: HOST_KEY }],
};

describe("Pulumi.yaml", () => {
    test("declares exactly the stack config keys, each with a type and a description", () => {
        expect(project.name).toBe("sync");
        expect(Object.keys(project.config).sort()).toEqual([...REQUIRED, ...OPTIONAL, ...DECLARED_ONLY].sort());
        for (const [key, declared] of Object.entries(project.config)) {
            expect([key, typeof declared.type, typeof declared.description]).toEqual([key, "string", "string"]);
        }
        expect(project.config.servers).toMatchObject({ type: "array", items: { type: "object" } });
        for (const key of ["rollout", "ini", "iniSecrets"]) {
            expect([key, project.config[key].type]).toEqual([key, "object"]);
        }
    });

    test("the keys it declares are exactly the keys the program knows (any other sync: key is refused)", () => {
        expect(Object.keys(project.config)).toEqual([...KNOWN_CONFIG_KEYS]);
    });

    test("what the program treats as optional has a default; what it requires has none", () => {
        for (const key of [...OPTIONAL, ...DECLARED_ONLY]) {
            expect([key, project.config[key].default !== undefined]).toEqual([key, true]);
        }
        for (const key of REQUIRED) {
            expect([key, project.config[key].default]).toEqual([key, undefined]);
        }
    });

    test("the defaults are the program's own: applying them changes nothing", () => {
        const defaults = Object.fromEntries(OPTIONAL.map((key) => [key, project.config[key].default]));
        expect(parseSyncConfig({ ...REQUIRED_VALUES, ...defaults })).toEqual(parseSyncConfig(REQUIRED_VALUES));
    });

    test("secret: true only where there is no default (the CLI stores a default in plaintext, then refuses it)", () => {
        // Verified with the v3.259.0 CLI: `iniSecrets: { type: object, secret: true, default: {} }` left
        // unset fails preview with "configuration key 'iniSecrets' must be encrypted as it's secret".
        const secret = Object.entries(project.config).filter(([, declared]) => declared.secret === true);
        expect(secret.map(([key]) => key)).toEqual(["sshPrivateKey"]);
        for (const [key, declared] of secret) {
            expect([key, declared.default]).toEqual([key, undefined]);
        }
    });
});

describe.each(["Pulumi.prod.yaml", "Pulumi.local.yaml"])("%s", (name) => {
    const text = fs.readFileSync(path.join(REPO, name), "utf8");
    const stack = yaml.load(text) as { config: Record<string, unknown> };

    test("holds every version as a quoted string, so YAML can't turn 1.10 into 1.1", () => {
        expect(typeof stack.config["sync:version"]).toBe("string");
        expect(text).toMatch(/^ {2}sync:version: "[^"]+"$/m);
        expect(stackFileProblems({ name, text })).toEqual([]);
    });

    test("sets only keys the project declares", () => {
        const declared = new Set(Object.keys(project.config).map((key) => `sync:${key}`));
        for (const key of Object.keys(stack.config).filter((k) => k.startsWith("sync:"))) {
            expect([key, declared.has(key)]).toEqual([key, true]);
        }
    });
});

test("Pulumi.local.yaml's header says where the fleet's servers, key and secrets come from", () => {
    const header = fs
        .readFileSync(path.join(REPO, "Pulumi.local.yaml"), "utf8")
        .split("\n")
        .filter((line) => line.startsWith("#"))
        .join("\n");
    for (const script of ["scripts/local-up.sh", "scripts/local-stack.sh"]) {
        expect(header).toContain(script);
        expect(fs.existsSync(path.join(REPO, script))).toBe(true);
    }
    expect(header).toContain("outside the checkout");
    expect(header).not.toContain("local-rollout.sh");
});
