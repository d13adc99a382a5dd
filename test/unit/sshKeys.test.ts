import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ed25519KeyPairFromSeed, publicKeyOfPrivateKey } from "../../components/sshKeys";
import { hostKeyProblem, normalizeHostKey } from "../../components/hostKeys";

function tempFile(content: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-keys-"));
    const file = path.join(dir, "key");
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
}

test("a seed-derived key is a real OpenSSH key: ssh-keygen reads it and derives the same public key", () => {
    const pair = ed25519KeyPairFromSeed(Buffer.alloc(32, 1), "test");
    const derived = execFileSync("ssh-keygen", ["-y", "-f", tempFile(pair.privateKey)])
        .toString()
        .trim();
    expect(derived.split(" ").slice(0, 2).join(" ")).toBe(pair.publicKey);
    expect(hostKeyProblem("k", pair.publicKey)).toBeUndefined();
});

test.each(["ed25519", "rsa", "ecdsa"])("publicKeyOfPrivateKey matches ssh-keygen for an %s key", (type) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-keys-"));
    const file = path.join(dir, "id");
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", file]);
    const expected = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
    expect(publicKeyOfPrivateKey(fs.readFileSync(file, "utf8"))).toBe(expected);
});

test("publicKeyOfPrivateKey reads a PEM RSA key", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-keys-"));
    const file = path.join(dir, "id");
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "", "-f", file]);
    const expected = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
    expect(fs.readFileSync(file, "utf8")).toContain("BEGIN RSA PRIVATE KEY");
    expect(publicKeyOfPrivateKey(fs.readFileSync(file, "utf8"))).toBe(expected);
});

/** A fresh host key from ssh-keygen: the `.pub` line, `<type> <base64> <comment>`. */
function hostKeyPub(type: string, bits?: number): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-hostkey-"));
    const file = path.join(dir, "ssh_host_key");
    execFileSync("ssh-keygen", [
        "-q",
        "-t",
        type,
        ...(bits ? ["-b", String(bits)] : []),
        "-N",
        "",
        "-C",
        "root@h",
        "-f",
        file,
    ]);
    return fs.readFileSync(`${file}.pub`, "utf8").trim();
}

test.each([
    ["ed25519", "ed25519", undefined],
    ["ecdsa P-256", "ecdsa", 256],
    ["ecdsa P-384", "ecdsa", 384],
    ["ecdsa P-521", "ecdsa", 521],
])("the line ssh-keyscan prints for an %s host key is accepted as is and pinned as <type> <key>", (_, type, bits) => {
    const [keyType, base64] = hostKeyPub(type, bits).split(" ");
    // ssh-keyscan [-p port] prints `<host> <type> <base64>`, with `[host]:port` for another port.
    for (const line of [`198.18.0.11 ${keyType} ${base64}`, `[sync3.example.com]:2222 ${keyType} ${base64}`]) {
        expect(hostKeyProblem("k", line)).toBeUndefined();
        expect(normalizeHostKey(line)).toBe(`${keyType} ${base64}`);
    }
    // A key cut short by a bad paste is refused.
    expect(hostKeyProblem("k", `${keyType} ${base64.slice(0, -8)}`)).toMatch(/^k: .* is not a valid /);
});

test("an ssh-rsa host key is refused, whatever its form, with how to pin the ed25519 one", () => {
    const pub = hostKeyPub("rsa", 2048);
    for (const line of [pub, `198.18.0.11 ${pub.split(" ").slice(0, 2).join(" ")}`]) {
        expect(hostKeyProblem("sync:servers[2].hostKey", line, "sync3.example.com", 2222)).toBe(
            "sync:servers[2].hostKey: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): pulumi config set --path 'sync:servers[2].hostKey' \"$(ssh-keyscan -p 2222 -t ed25519 sync3.example.com)\"",
        );
    }
});
