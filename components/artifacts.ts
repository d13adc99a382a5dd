// Find a release's files in sync:artifactDir and fingerprint them. Reads the local disk only.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

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
    /** `sha256sum` lines for every file in the wheelhouse, sorted by name ("" without one). */
    wheelhouseManifest: string;
}

/** A release file is missing or unreadable; names the config key and the path. */
export class ArtifactError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ArtifactError";
    }
}

/** The sdist file name for a version, as setuptools names it. */
export function sdistFileName(version: string): string {
    return `WeaveServer-${version}.tar.gz`;
}

function sha256File(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** `sha256sum`-format manifest of the wheelhouse, or "" when there is none. */
export function wheelhouseManifest(dir: string): string {
    const names = fs
        .readdirSync(dir)
        .filter((name) => /^[A-Za-z0-9_.+-]+\.(whl|tar\.gz|zip)$/.test(name))
        .sort();
    return names.map((name) => `${sha256File(path.join(dir, name))}  ${name}\n`).join("");
}

/** Locate and fingerprint one release; throws ArtifactError naming the missing path. */
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
    return {
        version,
        sdistPath,
        sha256: sha256File(sdistPath),
        wheelhousePath: hasWheelhouse ? wheelhouse : undefined,
        wheelhouseManifest: hasWheelhouse ? wheelhouseManifest(wheelhouse) : "",
    };
}
