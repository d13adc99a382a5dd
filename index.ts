// The Sync server release stack. The only reader of pulumi.Config: everything is validated here,
// before a single resource is declared, then handed to the components as typed values (secrets
// only as secret Outputs).
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ArtifactError, ReleaseArtifact, loadReleaseArtifact } from "./components/artifacts";
import { ConfigError, RawSyncConfig, StackFile, parseSyncConfig, versionsInUse } from "./components/config";
import { SyncFleet } from "./components/fleet";
import { ReleaseBucket, releaseObjectKey } from "./components/releaseBucket";
import { tunePulumiSdk } from "./components/sdkTuning";

// Before any resource: what the SDK spends per resource that this program does not need.
tunePulumiSdk(pulumi);

const config = new pulumi.Config("sync");

/**
 * The stack file the CLI read this config from. The program runs in the project directory (the
 * pulumi CLI and the Automation API runner both start it there), beside Pulumi.<stack>.yaml.
 * Without one (config from elsewhere), only the values themselves are checked.
 */
function readStackFile(): StackFile | undefined {
    const name = `Pulumi.${pulumi.getStack()}.yaml`;
    const file = path.join(process.cwd(), name);
    return fs.existsSync(file) ? { name, text: fs.readFileSync(file, "utf8") } : undefined;
}

/**
 * A secret object read as text and parsed here: Config.getObject's own error quotes the value it
 * could not parse, which for a secret would print it. The message names the key only.
 */
function secretObject(key: string): unknown {
    const text = config.get(key);
    if (text === undefined) {
        return undefined;
    }
    try {
        return JSON.parse(text) as unknown;
    } catch {
        throw new ConfigError([
            `sync:${key}: (value not shown: secret) is not an object of sections; set each value with pulumi config set --secret --path 'sync:${key}.<section>.<key>' (the value on stdin)`,
        ]);
    }
}

/** Config errors end the program with their message only, once: no stack, no "Unhandled exception". */
function orRunError<T>(read: () => T): T {
    try {
        return read();
    } catch (error) {
        if (error instanceof ConfigError || error instanceof ArtifactError) {
            throw new pulumi.RunError(error.message);
        }
        throw error;
    }
}

const raw: RawSyncConfig = orRunError(() => ({
    version: config.get("version"),
    artifactDir: config.get("artifactDir"),
    servers: config.getObject("servers"),
    rollout: config.getObject("rollout"),
    ini: config.getObject("ini"),
    // Read plain only to validate it (errors never show its values); resources get the secret below.
    iniSecrets: secretObject("iniSecrets"),
    keepReleases: config.getNumber("keepReleases"),
    releaseBucket: config.getBoolean("releaseBucket"),
    commandTimeout: config.getNumber("commandTimeout"),
}));

// Every key the CLI handed the program (stack config and Pulumi.yaml's defaults, every namespace):
// a `sync:` key the stack does not know is refused, naming it, rather than ignored.
const configKeys = Object.keys(pulumi.runtime.allConfig());
const settings = orRunError(() => parseSyncConfig(raw, readStackFile(), configKeys));
// Same here: the plain value is only looked at; what reaches resources is the secret Output.
const sshPrivateKeyText = config.get("sshPrivateKey");
if (!sshPrivateKeyText || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(sshPrivateKeyText)) {
    throw new pulumi.RunError(
        "invalid stack config:\n  sync:sshPrivateKey: missing or not a private key; set it with: pulumi config set --secret sync:sshPrivateKey < ~/.ssh/deploy_ed25519",
    );
}
const sshPrivateKey = config.requireSecret("sshPrivateKey");
// Validated above from the plain read; resources only ever get the secret Output (none when unset).
const iniSecrets =
    Object.keys(settings.iniSecrets).length > 0
        ? config.requireSecretObject<unknown>("iniSecrets").apply(() => settings.iniSecrets)
        : settings.iniSecrets;

const releases: Record<string, ReleaseArtifact> = {};
for (const version of versionsInUse(settings)) {
    releases[version] = orRunError(() => loadReleaseArtifact(settings.artifactDir, version));
}

const bucket = settings.releaseBucket
    ? new ReleaseBucket("sync-releases", { releases: Object.values(releases) })
    : undefined;

const fleet = new SyncFleet("sync", {
    servers: settings.servers,
    batchSize: settings.batchSize,
    stageParallel: settings.stageParallel,
    releases,
    sshPrivateKey,
    ini: settings.ini,
    iniSecrets,
    keepReleases: settings.keepReleases,
    commandTimeout: settings.commandTimeout,
});

/** The release every server runs unless it has a canary override. */
export const version = settings.version;
/** Per server: address, the version it should serve, the version it served after its activation, pinned host key, rollout batch. */
export const servers = fleet.report;
/** Per release in use: its object key in the archive and its sha256. */
export const releaseArchive = Object.fromEntries(
    Object.values(releases).map((release) => [
        release.version,
        { objectKey: releaseObjectKey(release.version), sha256: release.sha256 },
    ]),
);
/** The S3 bucket holding every release; null when sync:releaseBucket is false (undefined would warn on every run). */
export const releaseBucketName: pulumi.Output<string> | null = bucket ? bucket.bucketName : null;
