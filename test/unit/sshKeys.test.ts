import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { derivedHostKey, ed25519KeyPairFromSeed, publicKeyOfPrivateKey } from "../../components/sshKeys";
import { hostKeyProblem } from "../../components/config";

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

test("host keys are stable per stack and server, and differ between them", () => {
    const a = derivedHostKey("deploy key", "prod", "sync1");
    expect(derivedHostKey("deploy key", "prod", "sync1")).toEqual(a);
    expect(derivedHostKey("deploy key", "prod", "sync2").publicKey).not.toBe(a.publicKey);
    expect(derivedHostKey("deploy key", "staging", "sync1").publicKey).not.toBe(a.publicKey);
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
