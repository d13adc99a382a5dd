import { execFileSync } from "child_process";
import { createHash } from "crypto";
import * as ini from "ini";
import { parseSyncConfig } from "../../components/config";
import { mergeIni, renderIniStdin, renderSyncIni } from "../../components/syncIni";

/** What the app's reader, configparser.ConfigParser(interpolation=None), reads from `text`. */
function configparserReads(text: string): Record<string, Record<string, string>> {
    const reader = [
        "import configparser, json, sys",
        "p = configparser.ConfigParser(interpolation=None)",
        "p.read_string(sys.stdin.buffer.read().decode('utf-8'))",
        "print(json.dumps({s: dict(p[s]) for s in p.sections()}, ensure_ascii=False))",
    ].join("\n");
    return JSON.parse(execFileSync("python3", ["-c", reader], { input: Buffer.from(text, "utf8") }).toString("utf8"));
}

const TRICKY = {
    sync: {
        semicolon: "a;b ; c",
        hash: "#not a comment",
        equals: "k=v=w",
        colon: "host:port",
        percent: "100%s %(name)s",
        quotes: `"double" and 'single'`,
        unicode: "Grüße — 同步 🚀",
        brackets: "[not a section]",
        backslash: "C:\\path\\n",
        empty: "",
        leading_hash_in_value: ";starts with semicolon",
    },
    "storage.sql": { url: "mysql://u:p@db/sync?charset=utf8mb4" },
};

describe("renderSyncIni", () => {
    test("configparser reads back exactly the configured sections, keys and values", () => {
        const settings = parseSyncConfig({
            version: "1.0",
            artifactDir: "/x",
            servers: [
                {
                    name: "a",
                    host: "h",
                    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMeSdFT6pBKhojihioTe6wNELxftZs7rroVxI+5rN/j/",
                },
            ],
            ini: TRICKY,
        });
        expect(configparserReads(renderSyncIni(settings.ini, {}))).toEqual(TRICKY);
    });

    test("secrets are merged over plain settings key by key", () => {
        const merged = mergeIni(
            { sync: { a: "1", b: "2" }, other: { x: "y" } },
            { sync: { b: "secret" }, vault: { k: "v" } },
        );
        expect(merged).toEqual({ sync: { a: "1", b: "secret" }, other: { x: "y" }, vault: { k: "v" } });
        expect(configparserReads(renderSyncIni({ sync: { a: "1", b: "2" } }, { sync: { b: "s3cr;t" } }))).toEqual({
            sync: { a: "1", b: "s3cr;t" },
        });
    });

    test("stable order: the same settings in any order render the same bytes", () => {
        const a = renderSyncIni({ b: { z: "1", a: "2" }, a: { k: "v" } }, {});
        const b = renderSyncIni({ a: { k: "v" }, b: { a: "2", z: "1" } }, {});
        expect(a).toBe(b);
        expect(a).toBe(
            "# Written by sync-release from the stack config. Changes here are overwritten.\n\n[a]\nk = v\n\n[b]\na = 2\nz = 1\n",
        );
    });

    test("the ini package's own encoding is NOT what configparser reads (why we render ourselves)", () => {
        const viaIni = ini.stringify({ sync: { semicolon: "a;b", equals: "k=v" } });
        expect(configparserReads(viaIni).sync).not.toEqual({ semicolon: "a;b", equals: "k=v" });
        expect(configparserReads(viaIni).sync.semicolon).toBe("a\\;b");
    });
});

describe("renderIniStdin", () => {
    test("the file, then one end line with its byte length and sha256", () => {
        const content = renderSyncIni({ sync: { url: "https://s.example/é" } }, { sync: { secret_key: "s;#=" } });
        const stdin = renderIniStdin(content);
        const trailer = `# sync-release end ${Buffer.byteLength(content)} ${createHash("sha256").update(content).digest("hex")}\n`;
        expect(stdin).toBe(content + trailer);
        expect(Buffer.byteLength(content)).toBeGreaterThan(content.length); // é: bytes, not characters
    });
});
