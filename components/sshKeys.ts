// OpenSSH key encoding, pure: the public half of the deploy key (the key pair of EC2 servers),
// and deterministic ed25519 keys for tests and benchmarks. Host keys of EC2 servers are made on
// the instance itself and never pass through here (see ec2Host.ts).
import * as crypto from "crypto";

function sshString(data: Buffer | string): Buffer {
    const body = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    return Buffer.concat([length, body]);
}

function uint32(value: number): Buffer {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value >>> 0);
    return buffer;
}

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** An ed25519 key pair in OpenSSH formats. */
export interface OpenSshKeyPair {
    /** `ssh-ed25519 AAAA…`, as sshd, known_hosts and connection.hostKey use it. */
    publicKey: string;
    /** The `-----BEGIN OPENSSH PRIVATE KEY-----` file. */
    privateKey: string;
}

/** The ed25519 key whose private seed is `seed` (32 bytes), encoded the way ssh-keygen writes it. */
export function ed25519KeyPairFromSeed(seed: Buffer, comment: string): OpenSshKeyPair {
    if (seed.length !== 32) {
        throw new Error(`an ed25519 seed is 32 bytes, got ${seed.length}`);
    }
    const privateKeyObject = crypto.createPrivateKey({
        key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
        format: "der",
        type: "pkcs8",
    });
    const spki = crypto.createPublicKey(privateKeyObject).export({ format: "der", type: "spki" });
    const rawPublic = spki.subarray(spki.length - 32);
    const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(rawPublic)]);
    // A fixed check word keeps the output a pure function of the seed (ssh-keygen picks a random one).
    const check = crypto.createHash("sha256").update(seed).digest().readUInt32BE(0);
    let secret = Buffer.concat([
        uint32(check),
        uint32(check),
        sshString("ssh-ed25519"),
        sshString(rawPublic),
        sshString(Buffer.concat([seed, rawPublic])),
        sshString(comment),
    ]);
    const padding: number[] = [];
    for (let i = 1; (secret.length + padding.length) % 8 !== 0; i++) {
        padding.push(i);
    }
    secret = Buffer.concat([secret, Buffer.from(padding)]);
    const body = Buffer.concat([
        Buffer.from("openssh-key-v1\0", "latin1"),
        sshString("none"),
        sshString("none"),
        sshString(""),
        uint32(1),
        sshString(publicBlob),
        sshString(secret),
    ]);
    const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
    return {
        publicKey: `ssh-ed25519 ${publicBlob.toString("base64")}`,
        privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
    };
}

/**
 * The public half of an SSH private key, `<type> <base64>`: read from the clear header of an
 * OpenSSH key (even an encrypted one), or computed from a PEM RSA/EC/ed25519 key.
 */
export function publicKeyOfPrivateKey(privateKey: string): string {
    const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(privateKey);
    if (openssh) {
        const body = Buffer.from(openssh[1].replace(/\s+/g, ""), "base64");
        const magic = "openssh-key-v1\0";
        if (body.subarray(0, magic.length).toString("latin1") !== magic) {
            throw new Error("sync:sshPrivateKey: not an OpenSSH private key (bad header)");
        }
        let offset = magic.length;
        const readString = (): Buffer => {
            const length = body.readUInt32BE(offset);
            const value = body.subarray(offset + 4, offset + 4 + length);
            offset += 4 + length;
            return value;
        };
        readString(); // cipher
        readString(); // kdf
        readString(); // kdf options
        offset += 4; // number of keys
        const blob = readString();
        const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1");
        return `${type} ${blob.toString("base64")}`;
    }
    const key = crypto.createPublicKey(privateKey);
    const jwk = key.export({ format: "jwk" });
    if (key.asymmetricKeyType === "ed25519" && jwk.x) {
        const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(Buffer.from(jwk.x, "base64url"))]);
        return `ssh-ed25519 ${blob.toString("base64")}`;
    }
    if (key.asymmetricKeyType === "rsa" && jwk.n && jwk.e) {
        const mpint = (b64: string): Buffer => {
            const raw = Buffer.from(b64, "base64url");
            return sshString(raw[0] & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
        };
        const blob = Buffer.concat([sshString("ssh-rsa"), mpint(jwk.e), mpint(jwk.n)]);
        return `ssh-rsa ${blob.toString("base64")}`;
    }
    throw new Error(`sync:sshPrivateKey: unsupported key type ${key.asymmetricKeyType}; use ed25519 or RSA`);
}
