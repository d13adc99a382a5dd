// Find a release's files in sync:artifactDir, fingerprint them and pack them into one bundle to
// upload. Reads and writes the local disk only.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { NamedData, byBytes, sha256, sha256sums } from "./digest";
import { hostLayoutValue } from "./hostLayout";
import { hostScriptMembers } from "./hostScripts";

/** A release as found on the deployer's disk. */
export interface ReleaseArtifact {
    /** PEP 440 version. */
    version: string;
    /** Absolute path of WeaveServer-<version>.tar.gz. */
    sdistPath: string;
    /** sha256 of the sdist, hex. */
    sha256: string;
    /** Folder of dependency wheels, when the artifact dir has one. */
    wheelhousePath?: string;
    /**
     * The one file uploaded per release: an uncompressed tar holding SHA256SUMS, the sdist,
     * wheelhouse/<each wheel> and scripts/<each host script>. Content-addressed, byte-identical
     * for the same inputs.
     */
    bundlePath: string;
    /** sha256 of the bundle, hex. */
    bundleSha256: string;
    /** Size of the bundle in bytes (the stage step streams exactly this much). */
    bundleBytes: number;
}

/** One file of a bundle: its path inside the archive (relative, `/`-separated) and its bytes. */
export type BundleMember = NamedData;

/** A release file is missing or unreadable; names the config key and the path. */
export class ArtifactError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ArtifactError";
    }
}

/** The sdist file name for a version, as setuptools names it (and install.sh expects it). */
export function sdistFileName(version: string): string {
    return `${hostLayoutValue("SYNC_RELEASE_PREFIX")}${version}${hostLayoutValue("SYNC_SDIST_SUFFIX")}`;
}

/** The files of a wheelhouse that go into a bundle. */
const WHEELHOUSE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*\.(whl|tar\.gz|zip)$/;

/**
 * Where bundles are written: $SYNC_RELEASE_BUNDLE_DIR, else ${TMPDIR:-/tmp}/sync-release-bundles-<uid>
 * — the rule components/local/on-host.sh finds them by. Created 0700; refused unless it is a real
 * directory of this user that nobody else may write (a shared /tmp name could be someone else's
 * directory, or a link to one).
 */
export function bundleDir(): string {
    const uid = process.getuid?.() ?? 0;
    const dir =
        process.env.SYNC_RELEASE_BUNDLE_DIR || path.join(process.env.TMPDIR || "/tmp", `sync-release-bundles-${uid}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0) {
        throw new ArtifactError(
            `bundle folder ${dir} is not a directory of this user that only it may write; remove it or set SYNC_RELEASE_BUNDLE_DIR`,
        );
    }
    return dir;
}

function octal(value: number, width: number): string {
    // width - 1 digits, NUL-terminated
    const digits = value.toString(8);
    if (digits.length > width - 1) {
        throw new Error(`tar: ${value} does not fit a ${width}-byte field`);
    }
    return `${digits.padStart(width - 1, "0")}\0`;
}

/**
 * Split a member name into ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes) fields; undefined
 * when it does not fit (a pax header then carries it).
 */
function ustarName(name: string): { name: string; prefix: string } | undefined {
    const bytes = Buffer.byteLength(name);
    if (bytes <= 100) {
        return { name, prefix: "" };
    }
    for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
        const prefix = name.slice(0, i);
        const rest = name.slice(i + 1);
        if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) {
            return { name: rest, prefix };
        }
    }
    return undefined;
}

/** A pax extended header record: "<length> path=<name>\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (String(length).length + Buffer.byteLength(body) !== length) {
        length = String(length).length + Buffer.byteLength(body);
    }
    return `${length}${body}`;
}

function ustarHeader(member: BundleMember, type = "0"): Buffer {
    const header = Buffer.alloc(512, 0);
    const { name, prefix } = ustarName(member.name) ?? {
        name: member.name.slice(-100).replace(/^[^/]*\//, ""),
        prefix: "",
    };
    const put = (offset: number, length: number, value: string) => {
        const bytes = Buffer.from(value, "utf8");
        if (bytes.length > length) {
            throw new Error(`tar: field too long: ${value}`);
        }
        bytes.copy(header, offset);
    };
    put(0, 100, name);
    put(100, 8, octal(0o644, 8)); // mode
    put(108, 8, octal(0, 8)); // uid
    put(116, 8, octal(0, 8)); // gid
    put(124, 12, octal(member.data.length, 12)); // size
    put(136, 12, octal(0, 12)); // mtime
    put(148, 8, "        "); // checksum, as spaces while it is computed
    put(156, 1, type); // "0": regular file, "x": pax header of the next member
    put(257, 6, "ustar\0");
    put(263, 2, "00");
    put(265, 32, "root");
    put(297, 32, "root");
    put(329, 8, octal(0, 8)); // devmajor
    put(337, 8, octal(0, 8)); // devminor
    put(345, 155, prefix);
    let sum = 0;
    for (const byte of header) {
        sum += byte;
    }
    put(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
    return header;
}

/**
 * A deterministic uncompressed POSIX ustar archive: members sorted by name, regular files only,
 * mode 0644, uid/gid 0 (root), mtime 0; the same members give the same bytes.
 */
export function ustar(members: BundleMember[]): Buffer {
    const sorted = [...members].sort((a, b) => byBytes(a.name, b.name));
    const chunks: Buffer[] = [];
    let previous: string | undefined;
    for (const member of sorted) {
        if (member.name === previous) {
            throw new Error(`tar: member ${member.name} twice`);
        }
        previous = member.name;
        if (member.name.startsWith("/") || member.name.split("/").some((part) => part === "" || part === "..")) {
            throw new Error(`tar: unsafe member name ${member.name}`);
        }
        const entries: [BundleMember, string][] = [];
        if (!ustarName(member.name)) {
            const record = Buffer.from(paxRecord("path", member.name), "utf8");
            entries.push([{ name: `PaxHeaders/${path.posix.basename(member.name).slice(0, 80)}`, data: record }, "x"]);
        }
        entries.push([member, "0"]);
        for (const [entry, type] of entries) {
            chunks.push(ustarHeader(entry, type), entry.data);
            const pad = (512 - (entry.data.length % 512)) % 512;
            if (pad > 0) {
                chunks.push(Buffer.alloc(pad, 0));
            }
        }
    }
    chunks.push(Buffer.alloc(1024, 0)); // end of archive: two zero blocks
    return Buffer.concat(chunks);
}

/** Bundles no run has written or used for this long are removed (a run rebuilds any it needs). */
export const BUNDLE_MAX_AGE_DAYS = 7;
const BUNDLE_FILE = /^[0-9a-f]{64}\.tar$/;

/**
 * Write data to <dir>/<sha256>.tar unless it is there already (temp file + rename); either way its
 * mtime says it was used now. Bundles are deterministic, so removing old ones loses nothing: a run
 * that needs one again writes the same bytes under the same name.
 */
function writeContentAddressed(data: Buffer): { file: string; sha256: string; bytes: number } {
    const digest = sha256(data);
    const dir = bundleDir();
    const file = path.join(dir, `${digest}.tar`);
    if (readNoFollow(file)?.equals(data)) {
        const now = new Date();
        fs.utimesSync(file, now, now);
    } else {
        const tmp = path.join(dir, `.${digest}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
        try {
            // O_EXCL | O_NOFOLLOW: never written through a name someone else planted.
            const fd = fs.openSync(
                tmp,
                fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
                0o600,
            );
            try {
                fs.writeSync(fd, data);
            } finally {
                fs.closeSync(fd);
            }
            fs.renameSync(tmp, file);
        } finally {
            fs.rmSync(tmp, { force: true });
        }
    }
    pruneBundles(dir, Date.now() - BUNDLE_MAX_AGE_DAYS * 86_400_000);
    return { file, sha256: digest, bytes: data.length };
}

/** A file's bytes, read without following a link at its name; undefined when it is not a plain file. */
function readNoFollow(file: string): Buffer | undefined {
    let fd: number;
    try {
        fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
        return undefined;
    }
    try {
        return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : undefined;
    } finally {
        fs.closeSync(fd);
    }
}

/** Remove the bundles of <dir> last used before `before` (ms since the epoch); nothing else. */
export function pruneBundles(dir: string, before: number): string[] {
    const removed: string[] = [];
    for (const name of fs.readdirSync(dir).filter((n) => BUNDLE_FILE.test(n))) {
        const file = path.join(dir, name);
        try {
            if (fs.statSync(file).mtimeMs < before) {
                fs.rmSync(file, { force: true });
                removed.push(name);
            }
        } catch {
            // another run removed or replaced it meanwhile
        }
    }
    return removed;
}

/**
 * Hosts build releases with uv from the wheelhouse: it must hold uv's pinned wheel. Throws an
 * ArtifactError naming the fix (checked before any connection).
 */
export function checkUvWheel(wheelhousePath: string | undefined, wheels: Map<string, Buffer>): void {
    const name = hostLayoutValue("SYNC_UV_WHEEL");
    const version = hostLayoutValue("SYNC_UV_VERSION");
    const expected = hostLayoutValue("SYNC_UV_SHA256");
    const fix =
        `npm run release adds it; by hand: pip download --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 ` +
        `--python-version 3.11 -d <sync:artifactDir>/wheelhouse uv==${version}`;
    const data = wheels.get(name);
    if (!data) {
        throw new ArtifactError(
            `sync:artifactDir: ${wheelhousePath ?? "the wheelhouse"} has no ${name} (the hosts build every release with uv ${version}); ${fix}`,
        );
    }
    const actual = sha256(data);
    if (actual !== expected) {
        throw new ArtifactError(
            `sync:artifactDir: ${path.join(wheelhousePath ?? "", name)} has sha256 ${actual}, expected ${expected}; ${fix}`,
        );
    }
}

/**
 * One release from its files: the sdist and a wheelhouse folder (with uv's wheel), fingerprinted
 * and packed with the host scripts into the bundle the stack uploads (components/remote/layout.sh:
 * SHA256SUMS, WeaveServer-<v>.tar.gz, wheelhouse/*, scripts/*).
 */
export function releaseArtifactFrom(version: string, sdistPath: string, wheelhousePath?: string): ReleaseArtifact {
    const sdist = fs.readFileSync(sdistPath);
    const members: BundleMember[] = [{ name: sdistFileName(version), data: sdist }];
    const wheels = new Map<string, Buffer>();
    if (wheelhousePath) {
        for (const name of fs.readdirSync(wheelhousePath).filter((n) => WHEELHOUSE_FILE.test(n))) {
            const file = path.join(wheelhousePath, name);
            if (fs.statSync(file).isFile()) {
                wheels.set(name, fs.readFileSync(file));
                members.push({
                    name: `${hostLayoutValue("SYNC_BUNDLE_WHEELS")}/${name}`,
                    data: wheels.get(name) as Buffer,
                });
            }
        }
    }
    checkUvWheel(wheelhousePath, wheels);
    members.push(...hostScriptMembers());
    members.push({ name: hostLayoutValue("SYNC_BUNDLE_SUMS"), data: Buffer.from(sha256sums(members), "utf8") });
    const bundle = writeContentAddressed(ustar(members));
    return {
        version,
        sdistPath,
        sha256: sha256(sdist),
        wheelhousePath,
        bundlePath: bundle.file,
        bundleSha256: bundle.sha256,
        bundleBytes: bundle.bytes,
    };
}

/** Locate, fingerprint and bundle one release; throws ArtifactError naming the missing path. */
export function loadReleaseArtifact(artifactDir: string, version: string): ReleaseArtifact {
    const dir = path.resolve(artifactDir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new ArtifactError(`sync:artifactDir: ${dir} is not a folder`);
    }
    const sdistPath = path.join(dir, sdistFileName(version));
    if (!fs.existsSync(sdistPath)) {
        throw new ArtifactError(
            `sync:version ${version}: release file ${sdistPath} is missing; build it or fix sync:artifactDir`,
        );
    }
    const wheelhouse = path.join(dir, "wheelhouse");
    const hasWheelhouse = fs.existsSync(wheelhouse) && fs.statSync(wheelhouse).isDirectory();
    return releaseArtifactFrom(version, sdistPath, hasWheelhouse ? wheelhouse : undefined);
}
