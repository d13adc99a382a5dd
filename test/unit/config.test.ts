import {
    ConfigError,
    RawSyncConfig,
    StackFile,
    compareVersions,
    parseSyncConfig,
    rolloutBatches,
    showValue,
} from "../../components/config";
import { KNOWN_CONFIG_KEYS, closestKnownKey, keyDistance, unknownConfigKeyProblems } from "../../components/configKeys";
import { stackFileProblems } from "../../components/stackFile";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN/j/";
/** A real RSA public key (ssh-keygen -t rsa -b 1024), valid as a key, refused as a pinned host key. */
const RSA_HOST_KEY =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC8BWddy1O6ayJMllj/RCGyirX6x4klUZxiRpGtGsVmfK37Fqohpo28ea6qkEv12bJLov6z/kmRNab2U7qkClwoys+IhZEX1F7pqEYaVd6crL/u5TGIBG40eR/5+uFkvemSCu3Hafxxi+0LmaYxwJkTsCGRM62r/hrnZV6q/+YwNw==";

function base(overrides: Partial<RawSyncConfig> = {}): RawSyncConfig {
    return {
        version: "1.1.4",
        artifactDir: "./dist",
        servers: [{ name: "sync1", host: "198.18.0.11", hostKey: HOST_KEY }],
        ...overrides,
    };
}

/** The problems parseSyncConfig reports, or [] when the config is valid. */
function problems(raw: RawSyncConfig, stackFile?: StackFile, configKeys?: string[]): string[] {
    try {
        parseSyncConfig(raw, stackFile, configKeys);
        return [];
    } catch (error) {
        if (error instanceof ConfigError) {
            return error.problems;
        }
        throw error;
    }
}

describe("a valid config", () => {
    test("applies the defaults", () => {
        expect(parseSyncConfig(base())).toEqual({
            version: "1.1.4",
            artifactDir: "./dist",
            servers: [
                {
                    kind: "existing",
                    name: "sync1",
                    host: "198.18.0.11",
                    user: "root",
                    port: 22,
                    hostKey: HOST_KEY,
                    version: "1.1.4",
                },
            ],
            batchSize: 1,
            stageParallel: 16,
            keepReleases: 5,
            ini: {},
            iniSecrets: {},
            releaseBucket: true,
            commandTimeout: 600,
            observe: true,
        });
    });

    test.each(["1.1.4", "1.2rc1", "1.10", "2.0.post1", "1.0.dev3"])("accepts version %s", (version) => {
        expect(problems(base({ version }))).toEqual([]);
    });

    test("a per-server version overrides the stack version; a host key comment is dropped", () => {
        const parsed = parseSyncConfig(
            base({
                servers: [
                    {
                        name: "canary",
                        host: "sync1.example.com",
                        port: 2222,
                        user: "deploy",
                        hostKey: `${HOST_KEY} root@sync1`,
                        version: "1.2rc1",
                    },
                ],
            }),
        );
        expect(parsed.servers[0]).toEqual({
            kind: "existing",
            name: "canary",
            host: "sync1.example.com",
            user: "deploy",
            port: 2222,
            hostKey: HOST_KEY,
            version: "1.2rc1",
        });
    });

    test.each([
        ["what ssh-keyscan -t ed25519 <host> prints", `198.18.0.11 ${HOST_KEY}`],
        ["ssh-keyscan -p 2222's [host]:port field", `[sync1.example.com]:2222 ${HOST_KEY}`],
        ["a hashed known_hosts line", `|1|mE2mwHv0KzO3lUf0XUR1W4a7vFM=|Sk0ZHXcpSfaXG0xJAgxw1SeVyT0= ${HOST_KEY}`],
        ["a line with a trailing newline", `${HOST_KEY}\n`],
        ["a key with a comment of several words", `${HOST_KEY} root@sync1 (host key)`],
    ])("accepts %s as the pinned host key, keeping only type and key", (_, hostKey) => {
        expect(
            parseSyncConfig(base({ servers: [{ name: "sync1", host: "198.18.0.11", hostKey }] })).servers[0],
        ).toMatchObject({
            hostKey: HOST_KEY,
        });
    });

    test("ini numbers and booleans become the strings configparser reads", () => {
        const parsed = parseSyncConfig(base({ ini: { sync: { quota: 25, debug: false, empty: "" } } }));
        expect(parsed.ini).toEqual({ sync: { quota: "25", debug: "false", empty: "" } });
    });

    test("an ec2 server gets admin, port 22 and HTTP open by default", () => {
        const parsed = parseSyncConfig(base({ servers: [{ name: "cloud1", ec2: { sshCidrs: ["203.0.113.0/24"] } }] }));
        expect(parsed.servers[0]).toEqual({
            kind: "ec2",
            name: "cloud1",
            user: "admin",
            port: 22,
            version: "1.1.4",
            ec2: {
                instanceType: "t3.small",
                subnetId: undefined,
                sshCidrs: ["203.0.113.0/24"],
                httpCidrs: ["0.0.0.0/0"],
            },
        });
    });
});

const TEN_KB = "9".repeat(10 * 1024);

describe("hostile and bad values are refused with one message naming the key and value", () => {
    test.each([
        [
            "1.0;touch /tmp/p",
            'sync:version: "1.0;touch /tmp/p" must be a PEP 440 public version such as 1.1.4 or 1.2rc1',
        ],
        ["$(id)", 'sync:version: "$(id)" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["1.0\nrm -rf /", 'sync:version: "1.0\\nrm -rf /" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["../x", 'sync:version: "../x" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["'", 'sync:version: "\'" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["", 'sync:version: "" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        [
            TEN_KB,
            `sync:version: "${"9".repeat(39)}… (10242 chars) must be a PEP 440 public version such as 1.1.4 or 1.2rc1`,
        ],
        ["1.0+local", 'sync:version: "1.0+local" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["1.0.0-rc1", 'sync:version: "1.0.0-rc1" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["1.0RC1", 'sync:version: "1.0RC1" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        ["1.0c1", 'sync:version: "1.0c1" is not in normalized form; write "1.0rc1"'],
        ["1!2.0", 'sync:version: "1!2.0" must be a PEP 440 public version such as 1.1.4 or 1.2rc1'],
        [
            110,
            'sync:version: 110 is a YAML number, not a version (YAML reads an unquoted 1.10 as 1.1 and 2.0 as 2); quote the version in the stack file: sync:version: "1.10"',
        ],
    ])("sync:version %j", (version, message) => {
        expect(problems(base({ version }))).toEqual([message]);
    });

    test("a missing version says how to pin one", () => {
        expect(problems(base({ version: undefined }))).toEqual([
            "sync:version: missing; pin the release to roll out, e.g. pulumi config set sync:version 1.1.4",
        ]);
    });

    const server = (fields: Record<string, unknown>) => ({
        servers: [{ name: "sync1", host: "198.18.0.11", hostKey: HOST_KEY, ...fields }],
    });
    test.each([
        [
            { name: "Sync_1" },
            'sync:servers[0].name: "Sync_1" must be 1-40 characters of [a-z0-9-], not starting or ending with -',
        ],
        [
            { name: "$(id)" },
            'sync:servers[0].name: "$(id)" must be 1-40 characters of [a-z0-9-], not starting or ending with -',
        ],
        [
            { name: "../x" },
            'sync:servers[0].name: "../x" must be 1-40 characters of [a-z0-9-], not starting or ending with -',
        ],
        [{ host: "h;touch /tmp/p" }, 'sync:servers[0].host: "h;touch /tmp/p" must be a host name or IP address'],
        [{ host: "-oProxyCommand=id" }, 'sync:servers[0].host: "-oProxyCommand=id" must be a host name or IP address'],
        [{ host: "" }, 'sync:servers[0].host: "" must be a host name or IP address'],
        [{ host: "999.1.1.1" }, 'sync:servers[0].host: "999.1.1.1" must be a host name or IP address'],
        [{ user: "root'" }, 'sync:servers[0].user: "root\'" must be a Unix user name ([a-z_][a-z0-9_-]*)'],
        [{ user: "$(id)" }, 'sync:servers[0].user: "$(id)" must be a Unix user name ([a-z_][a-z0-9_-]*)'],
        [{ port: 0 }, "sync:servers[0].port: 0 must be an integer from 1 to 65535"],
        [{ port: "22" }, 'sync:servers[0].port: "22" must be an integer from 1 to 65535'],
        [{ port: 70000 }, "sync:servers[0].port: 70000 must be an integer from 1 to 65535"],
        [
            { hostKey: undefined },
            `sync:servers[0].hostKey: missing; pin the server's SSH host key: pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -t ed25519 198.18.0.11)"`,
        ],
        [
            { hostKey: "ssh-ed25519" },
            `sync:servers[0].hostKey: "ssh-ed25519" must be an SSH public host key line such as "ssh-ed25519 AAAA…"; pin it with: pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -t ed25519 198.18.0.11)"`,
        ],
        [
            { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN" },
            'sync:servers[0].hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMe… (79 chars) is not a valid ssh-ed25519 key (the base64 does not decode to one)',
        ],
        [
            { hostKey: `$(id) ${HOST_KEY}` },
            `sync:servers[0].hostKey: "$(id) ssh-ed25519 AAAAC3NzaC1lZDI1NTE5A… (88 chars) must be an SSH public host key line such as "ssh-ed25519 AAAA…"; pin it with: pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -t ed25519 198.18.0.11)"`,
        ],
        [
            { hostKey: RSA_HOST_KEY },
            `sync:servers[0].hostKey: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -t ed25519 198.18.0.11)"`,
        ],
        [
            { hostKey: RSA_HOST_KEY, host: "sync3.example.com", port: 2222 },
            `sync:servers[0].hostKey: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -p 2222 -t ed25519 sync3.example.com)"`,
        ],
        [
            { hostKey: `[sync3.example.com]:2222 ${RSA_HOST_KEY}` },
            `sync:servers[0].hostKey: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): pulumi config set --path 'sync:servers[0].hostKey' "$(ssh-keyscan -t ed25519 198.18.0.11)"`,
        ],
        [
            { version: 1.1 },
            'sync:servers[0].version: 1.1 is a YAML number, not a version (YAML reads an unquoted 1.10 as 1.1 and 2.0 as 2); quote the version in the stack file: version: "1.10"',
        ],
        [
            { version: "2.0;id" },
            'sync:servers[0].version: "2.0;id" must be a PEP 440 public version such as 1.1.4 or 1.2rc1',
        ],
        [
            { hostkey: HOST_KEY },
            "sync:servers[0].hostkey: unknown setting (allowed: name, host, user, port, hostKey, version)",
        ],
    ])("server %j", (fields, message) => {
        expect(problems(base(server(fields)))).toEqual([message]);
    });

    test("duplicate names, empty lists and every problem at once", () => {
        expect(problems(base({ servers: [] }))).toEqual(["sync:servers: [] must be a non-empty list of servers"]);
        expect(
            problems(
                base({
                    servers: [
                        { name: "a", host: "h1", hostKey: HOST_KEY },
                        { name: "a", host: "h2", hostKey: HOST_KEY },
                    ],
                }),
            ),
        ).toEqual(['sync:servers[1].name: "a" is used by another server']);
        expect(problems({ servers: "x", rollout: { batchSize: 0, stageParallel: 0 }, keepReleases: 1 })).toEqual([
            "sync:version: missing; pin the release to roll out, e.g. pulumi config set sync:version 1.1.4",
            "sync:artifactDir: undefined must be the path of the folder holding WeaveServer-<version>.tar.gz",
            'sync:servers: "x" must be a non-empty list of servers',
            "sync:rollout.batchSize: 0 must be an integer from 1 to 1000",
            "sync:rollout.stageParallel: 0 must be an integer from 1 to 256",
            "sync:keepReleases: 1 must be an integer from 2 to 100",
        ]);
        expect(problems(base({ rollout: { batchSize: 2, parallel: 4 } }))).toEqual([
            "sync:rollout.parallel: unknown setting (allowed: batchSize, stageParallel)",
        ]);
        expect(parseSyncConfig(base({ rollout: { batchSize: 2, stageParallel: 4 } }))).toMatchObject({
            batchSize: 2,
            stageParallel: 4,
        });
    });

    test.each([
        [
            { sync: { k: " padded" } },
            'sync:ini.sync.k: " padded" has leading or trailing whitespace, which configparser strips',
        ],
        [
            { sync: { k: "a\nb" } },
            'sync:ini.sync.k: "a\\nb" contains a line break, which configparser would read as a continuation line',
        ],
        [
            { sync: { Key: "v" } },
            'sync:ini.sync: key "Key" must match [a-z0-9_][a-z0-9_.-]* (configparser lower-cases keys)',
        ],
        [
            { sync: { "a=b": "v" } },
            'sync:ini.sync: key "a=b" must match [a-z0-9_][a-z0-9_.-]* (configparser lower-cases keys)',
        ],
        [
            { "a]b": { k: "v" } },
            'sync:ini: section name "a]b" must match [A-Za-z0-9_][A-Za-z0-9_.-]* and not be DEFAULT',
        ],
        [
            { DEFAULT: { k: "v" } },
            'sync:ini: section name "DEFAULT" must match [A-Za-z0-9_][A-Za-z0-9_.-]* and not be DEFAULT',
        ],
        [{ sync: "v" }, "sync:ini.sync: must be an object of key: value"],
        // JSON.parse keeps "__proto__" as a key; copied into an object it would vanish silently
        [
            JSON.parse('{"__proto__": {"k": "v"}}'),
            'sync:ini: section name "__proto__" is not allowed (JavaScript would drop it)',
        ],
        [
            JSON.parse('{"sync": {"__proto__": "v"}}'),
            'sync:ini.sync: key "__proto__" is not allowed (JavaScript would drop it)',
        ],
        [{ sync: { k: { nested: 1 } } }, 'sync:ini.sync.k: {"nested":1} must be a string, number or boolean'],
    ])("sync:ini %j", (ini, message) => {
        expect(problems(base({ ini }))).toEqual([message]);
    });

    test("secret ini values are never shown in errors", () => {
        const found = problems(base({ iniSecrets: { sync: { secret_key: "hunter2 " } } }));
        expect(found).toEqual([
            "sync:iniSecrets.sync.secret_key: (value not shown: secret) has leading or trailing whitespace, which configparser strips",
        ]);
        expect(found.join("")).not.toContain("hunter2");
    });
});

const KNOWN_KEYS_LIST =
    "sync:version, sync:artifactDir, sync:servers, sync:rollout, sync:keepReleases, sync:ini, sync:iniSecrets, sync:sshPrivateKey, sync:releaseBucket, sync:commandTimeout, sync:observe";

describe("unknown keys under sync: are named, with the known key they most likely meant", () => {
    test.each([
        ["sync:verison", "sync:verison: unknown key; did you mean sync:version?"],
        ["sync:versions", "sync:versions: unknown key; did you mean sync:version?"],
        ["sync:Version", "sync:Version: unknown key; did you mean sync:version?"],
        ["sync:artifactdir", "sync:artifactdir: unknown key; did you mean sync:artifactDir?"],
        ["sync:artefactDir", "sync:artefactDir: unknown key; did you mean sync:artifactDir?"],
        ["sync:server", "sync:server: unknown key; did you mean sync:servers?"],
        ["sync:rolout", "sync:rolout: unknown key; did you mean sync:rollout?"],
        ["sync:keepRelease", "sync:keepRelease: unknown key; did you mean sync:keepReleases?"],
        ["sync:inis", "sync:inis: unknown key; did you mean sync:ini?"],
        ["sync:iniSecret", "sync:iniSecret: unknown key; did you mean sync:iniSecrets?"],
        ["sync:sshPrivatekey", "sync:sshPrivatekey: unknown key; did you mean sync:sshPrivateKey?"],
        ["sync:releaseBuckets", "sync:releaseBuckets: unknown key; did you mean sync:releaseBucket?"],
        ["sync:comandTimeout", "sync:comandTimeout: unknown key; did you mean sync:commandTimeout?"],
        ["sync:obsreve", "sync:obsreve: unknown key; did you mean sync:observe?"],
        ["sync:batchSize", `sync:batchSize: unknown key; the known keys are ${KNOWN_KEYS_LIST}`],
        ["sync:sshKey", `sync:sshKey: unknown key; the known keys are ${KNOWN_KEYS_LIST}`],
        ["sync:", `sync:: unknown key; the known keys are ${KNOWN_KEYS_LIST}`],
        [
            "sync:rollout.batchSize",
            "sync:rollout.batchSize: unknown key; a value inside sync:rollout is set with --path: pulumi config set --path 'sync:rollout.batchSize' <value>",
        ],
        [
            "sync:servers[0].hostKey",
            "sync:servers[0].hostKey: unknown key; a value inside sync:servers is set with --path: pulumi config set --path 'sync:servers[0].hostKey' <value>",
        ],
        ["sync:verison'; id", `"sync:verison'; id": unknown key; the known keys are ${KNOWN_KEYS_LIST}`],
    ])("%s", (key, message) => {
        expect(unknownConfigKeyProblems([key])).toEqual([message]);
    });

    test("a 10 KB key is shown bounded", () => {
        expect(unknownConfigKeyProblems([`sync:${"v".repeat(10 * 1024)}`])).toEqual([
            `"sync:${"v".repeat(34)}… (10247 chars): unknown key; the known keys are ${KNOWN_KEYS_LIST}`,
        ]);
    });

    test("known keys, the project's defaults and other namespaces pass; each unknown key is one problem", () => {
        expect(unknownConfigKeyProblems(KNOWN_CONFIG_KEYS.map((key) => `sync:${key}`))).toEqual([]);
        expect(unknownConfigKeyProblems(["aws:region", "aws:verison", "pulumi:tags", "syncx:version"])).toEqual([]);
        expect(unknownConfigKeyProblems(["sync:version", "sync:verison", "aws:region", "sync:inis"])).toEqual([
            "sync:verison: unknown key; did you mean sync:version?",
            "sync:inis: unknown key; did you mean sync:ini?",
        ]);
    });

    test("the distance counts a swap of neighbours as one edit and ignores case", () => {
        expect(keyDistance("verison", "version")).toBe(1);
        expect(keyDistance("VERSION", "version")).toBe(0);
        expect(keyDistance("", "ini")).toBe(3);
        expect(keyDistance("kitten", "sitting")).toBe(3);
        expect(closestKnownKey("inii")).toBe("ini");
        // two edits from "ini" is more than a third of it
        expect(closestKnownKey("in_x")).toBeUndefined();
    });

    test("parseSyncConfig names an unknown key first, in the same one error as every other problem", () => {
        expect(problems(base({ version: undefined }), undefined, ["sync:verison", "sync:artifactDir"])).toEqual([
            "sync:verison: unknown key; did you mean sync:version?",
            "sync:version: missing; pin the release to roll out, e.g. pulumi config set sync:version 1.1.4",
        ]);
        expect(problems(base(), undefined, ["sync:version", "sync:observe", "aws:region"])).toEqual([]);
    });
});

describe("the stack file: what the CLI hides from the program", () => {
    const file = (config: string): StackFile => ({ name: "Pulumi.prod.yaml", text: `config:\n${config}` });

    test.each([
        ["1.10", "1.1"],
        ["2.0", "2"],
        ["2", "2"],
        ["1.20", "1.2"],
    ])("sync:version: %s unquoted is refused, saying what the program would get and what to write", (written, got) => {
        expect(stackFileProblems(file(`  sync:version: ${written}\n`))).toEqual([
            `sync:version: ${written} in Pulumi.prod.yaml is a YAML number, which reaches the program as "${got}"; quote it: sync:version: "${written}"`,
        ]);
    });

    test.each(['"1.10"', "'1.10'", "1.1.4", "1.2rc1", '"2.0"'])("sync:version: %s is a string: accepted", (written) => {
        expect(stackFileProblems(file(`  sync:version: ${written}\n`))).toEqual([]);
    });

    test("a per-server version written as a number is refused, naming the server's index", () => {
        const text = [
            '  sync:version: "1.10"',
            "  sync:servers:",
            "    - name: sync1",
            '      version: "1.11"',
            "    - name: sync2",
            "      version: 1.10",
            "",
        ].join("\n");
        expect(stackFileProblems(file(text))).toEqual([
            'sync:servers[1].version: 1.10 in Pulumi.prod.yaml is a YAML number, which reaches the program as "1.1"; quote it: version: "1.10"',
        ]);
    });

    test("parseSyncConfig reports the stack file's message instead of the value's (one message per key)", () => {
        const text = ["  sync:version: 1.10", "  sync:servers:", "    - name: sync1", "      version: 1.20", ""].join(
            "\n",
        );
        expect(
            problems(
                base({
                    version: "1.1",
                    servers: [{ name: "sync1", host: "198.18.0.11", hostKey: HOST_KEY, version: 1.2 }],
                }),
                file(text),
            ),
        ).toEqual([
            'sync:version: 1.10 in Pulumi.prod.yaml is a YAML number, which reaches the program as "1.1"; quote it: sync:version: "1.10"',
            'sync:servers[0].version: 1.20 in Pulumi.prod.yaml is a YAML number, which reaches the program as "1.2"; quote it: version: "1.20"',
        ]);
    });

    test("sync:iniSecrets: encrypted values pass; a plaintext one is refused without showing it", () => {
        const encrypted = [
            "  sync:iniSecrets:",
            "    sync:",
            "      secret_key:",
            "        secure: v1:vVaZihVMEON6VdUo:tE4j0qocInbWjg26mIQhiTMJH1ohOg==",
            "",
        ].join("\n");
        expect(stackFileProblems(file(encrypted))).toEqual([]);
        expect(stackFileProblems(file("  sync:iniSecrets:\n    secure: v1:abc:def==\n"))).toEqual([]);
        const plain = `${encrypted}      database_url: mysql://sync:hunter2@db/sync\n    storage:\n      pool_size: 10\n`;
        const found = stackFileProblems(file(plain));
        expect(found).toEqual([
            "sync:iniSecrets.sync.database_url: stored in plaintext in Pulumi.prod.yaml (value not shown); remove it from the file and set it encrypted: pulumi config set --secret --path 'sync:iniSecrets.sync.database_url' <value>",
            "sync:iniSecrets.storage.pool_size: stored in plaintext in Pulumi.prod.yaml (value not shown); remove it from the file and set it encrypted: pulumi config set --secret --path 'sync:iniSecrets.storage.pool_size' <value>",
        ]);
        expect(found.join("")).not.toContain("hunter2");
    });

    test("a file without these keys, or one YAML can't read, adds nothing (the CLI read it first)", () => {
        expect(stackFileProblems(file("  aws:region: eu-west-1\n"))).toEqual([]);
        expect(stackFileProblems({ name: "Pulumi.prod.yaml", text: "config: [unclosed" })).toEqual([]);
        expect(stackFileProblems({ name: "Pulumi.prod.yaml", text: "" })).toEqual([]);
    });
});

test("PEP 440 order, not string order", () => {
    expect(["1.9", "1.11", "1.10", "1.2rc1", "1.2"].sort(compareVersions)).toEqual([
        "1.2rc1",
        "1.2",
        "1.9",
        "1.10",
        "1.11",
    ]);
});

test("rollout batches keep order", () => {
    expect(rolloutBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(rolloutBatches([1, 2, 3], 8)).toEqual([[1, 2, 3]]);
});

test("showValue bounds long values", () => {
    expect(showValue("x".repeat(100))).toBe(`"${"x".repeat(39)}… (102 chars)`);
    expect(showValue(undefined)).toBe("undefined");
});
