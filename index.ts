// The Sync server release stack. The only reader of pulumi.Config: everything is validated here,
// before a single resource is declared, then handed to the components as plain typed values.
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact, loadReleaseArtifact } from "./components/artifacts";
import { ConfigError, RawSyncConfig, parseSyncConfig, versionsInUse } from "./components/config";
import { SyncFleet } from "./components/fleet";
import { ReleaseBucket, releaseObjectKey } from "./components/releaseBucket";

const config = new pulumi.Config("sync");

const raw: RawSyncConfig = {
    version: config.get("version"),
    artifactDir: config.get("artifactDir"),
    servers: config.getObject("servers"),
    rollout: config.getObject("rollout"),
    ini: config.getObject("ini"),
    // Read as plain values only to validate them; they are wrapped as secrets below.
    iniSecrets: config.getObject("iniSecrets"),
    keepReleases: config.getNumber("keepReleases"),
    releaseBucket: config.getBoolean("releaseBucket"),
    commandTimeout: config.getNumber("commandTimeout"),
};
const sshPrivateKeyText = config.get("sshPrivateKey");

const settings = parseSyncConfig(raw);
if (!sshPrivateKeyText || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(sshPrivateKeyText)) {
    throw new ConfigError([
        "sync:sshPrivateKey: missing or not a private key; set it with: pulumi config set --secret sync:sshPrivateKey < ~/.ssh/deploy_ed25519",
    ]);
}
const sshPrivateKey = pulumi.secret(sshPrivateKeyText);

const releases: Record<string, ReleaseArtifact> = {};
for (const version of versionsInUse(settings)) {
    releases[version] = loadReleaseArtifact(settings.artifactDir, version);
}

const bucket = settings.releaseBucket
    ? new ReleaseBucket("sync-releases", { releases: Object.values(releases) })
    : undefined;

const fleet = new SyncFleet("sync", {
    servers: settings.servers,
    batchSize: settings.batchSize,
    releases,
    sshPrivateKey,
    ini: settings.ini,
    iniSecrets: settings.iniSecrets,
    keepReleases: settings.keepReleases,
    commandTimeout: settings.commandTimeout,
    stack: pulumi.getStack(),
});

/** The release every server runs unless it has a canary override. */
export const version = settings.version;
/** Per server: the address the stack reaches, the version it should serve, its rollout batch. */
export const servers = fleet.report;
/** Per release in use: its object key in the archive and its sha256. */
export const releaseArchive = Object.fromEntries(
    Object.values(releases).map((release) => [
        release.version,
        { objectKey: releaseObjectKey(release.version), sha256: release.sha256 },
    ]),
);
/** The S3 bucket holding every release (absent when sync:releaseBucket is false). */
export const releaseBucketName = bucket?.bucketName;
