// Pinned SSH host keys and server addresses in the stack config: what ssh-keyscan prints is
// accepted as is; the key must decode to a whole key of its type; ssh-rsa is refused. Pure.
import { showValue } from "./configValues";

const HOST_NAME =
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^(?=.*:)[0-9A-Fa-f:.]{2,45}$/;
/** Host key types the provider verifies with a modern signature; ssh-rsa is refused (see hostKeyProblem). */
const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"];

/** True when the text is a host name, IPv4 or IPv6 address. */
export function isHost(value: string): boolean {
    return IPV4.test(value) || IPV6.test(value) || (HOST_NAME.test(value) && !/^[0-9.]+$/.test(value));
}

/** The command that pins a host's ed25519 key: what ssh-keyscan prints is stored, and accepted, as is. */
export function hostKeyHint(key: string, host = "<host>", port = 22): string {
    const scan = port === 22 ? `ssh-keyscan -t ed25519 ${host}` : `ssh-keyscan -p ${port} -t ed25519 ${host}`;
    return `pulumi config set --path '${key}' "$(${scan})"`;
}

/** A host key line split into its parts: an optional known_hosts host field, the type, the base64 key. */
interface HostKeyLine {
    type: string;
    base64: string;
}

const KEY_TYPE_LIKE = /^(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)$/;
const KNOWN_HOSTS_HOST = /^[A-Za-z0-9.:[\],_*?!|=+/-]{1,1024}$/;

/**
 * `<type> <base64> [comment]`, or the `<host> <type> <base64>` line ssh-keyscan prints (its host
 * field, which may be `[host]:port` or a hashed known_hosts entry, is dropped). undefined when the
 * text is neither.
 */
export function splitHostKeyLine(value: string): HostKeyLine | undefined {
    const fields = value.trim().split(/[ \t]+/);
    if (fields.length >= 3 && !KEY_TYPE_LIKE.test(fields[0]) && KEY_TYPE_LIKE.test(fields[1])) {
        if (!KNOWN_HOSTS_HOST.test(fields[0])) {
            return undefined;
        }
        fields.shift();
    }
    const [type, base64, ...comment] = fields;
    if (
        type === undefined ||
        base64 === undefined ||
        !/^[a-z0-9@.-]{1,64}$/.test(type) ||
        !/^[A-Za-z0-9+/]{16,8192}={0,3}$/.test(base64) ||
        comment.join(" ").length > 200 ||
        comment.some((word) => !/^[\x21-\x7e]+$/.test(word))
    ) {
        return undefined;
    }
    return { type, base64 };
}

/**
 * Problem with a pinned SSH host key, or undefined. The base64 blob must decode to a key of
 * the declared type, which catches truncated or pasted-wrong keys before a connection is tried.
 * ssh-rsa is refused: pinned, it makes the provider offer only SHA-1 `ssh-rsa` signatures, which
 * Debian 12's sshd no longer accepts, so every connection would fail.
 */
export function hostKeyProblem(key: string, value: unknown, host?: string, port?: number): string | undefined {
    const hint = `must be an SSH public host key line such as "ssh-ed25519 AAAA…"; pin it with: ${hostKeyHint(key, host, port)}`;
    if (typeof value !== "string") {
        return `${key}: ${showValue(value)} ${hint}`;
    }
    const line = splitHostKeyLine(value);
    if (line?.type === "ssh-rsa") {
        return `${key}: ssh-rsa host keys can't be pinned (the SSH client would offer only SHA-1 ssh-rsa, which Debian 12's sshd refuses); pin the host's ed25519 key (or its ecdsa key): ${hostKeyHint(key, host, port)}`;
    }
    if (!line || !HOST_KEY_TYPES.includes(line.type)) {
        return `${key}: ${showValue(value)} ${hint}`;
    }
    if (!isPublicKeyBlob(line.type, Buffer.from(line.base64, "base64"))) {
        return `${key}: ${showValue(value)} is not a valid ${line.type} key (the base64 does not decode to one)`;
    }
    return undefined;
}

/** The SSH strings a public key blob is made of, or undefined when it doesn't split into them exactly. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
    const fields: Buffer[] = [];
    for (let offset = 0; offset < blob.length; ) {
        if (offset + 4 > blob.length) {
            return undefined;
        }
        const length = blob.readUInt32BE(offset);
        if (offset + 4 + length > blob.length) {
            return undefined;
        }
        fields.push(blob.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
    }
    return fields;
}

const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** True when the blob is a whole public key of the type (a truncated or mispasted one is not). */
function isPublicKeyBlob(type: string, blob: Buffer): boolean {
    const fields = sshStrings(blob);
    if (!fields || fields.length === 0 || fields[0].toString("latin1") !== type) {
        return false;
    }
    if (type === "ssh-ed25519") {
        return fields.length === 2 && fields[1].length === 32;
    }
    const curve = type.replace(/^ecdsa-sha2-/, "");
    return (
        fields.length === 3 &&
        fields[1].toString("latin1") === curve &&
        fields[2].length === ECDSA_POINT_BYTES[curve] &&
        fields[2][0] === 4
    );
}

/** The pinned form of a valid host key line: `<type> <base64>`, without host field or comment. */
export function normalizeHostKey(value: string): string {
    const line = splitHostKeyLine(value);
    if (!line) {
        throw new Error("normalizeHostKey: not a host key line (validate it with hostKeyProblem first)");
    }
    return `${line.type} ${line.base64}`;
}
