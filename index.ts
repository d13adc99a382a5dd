// The Sync server release stack. The only reader of pulumi.Config: everything is validated here,
// before a single resource is declared, then handed to the components as typed values (secrets
// only as secret Outputs).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ArtifactError, ReleaseArtifact, loadReleaseArtifact } from "./components/artifacts";
import { ConfigError, RawSyncConfig, StackFile, parseSyncConfig, versionsInUse } from "./components/config";
import { SyncFleet } from "./components/fleet";
import { hostScriptsHash } from "./components/hostScripts";
import { ObservationResult, ObservationTarget, observeFleet } from "./components/observe";
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
    observe: config.getBoolean("observe"),
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

// The stack's own `command` provider for every step: named, so a preview names it in a few bytes
// (a default provider's reference is a long versioned name).
const commandProvider = new command.Provider("sync", {});

/**
 * Every existing host read before planning (sync:observe), at most stageParallel at once: what a
 * host that drifted from what the stack last put there needs shows in the plan. A host that can't
 * be read is planned from the state alone, with one warning naming it and why.
 */
async function observeHosts(): Promise<Record<string, ObservationResult>> {
    const targets: ObservationTarget[] = settings.servers.flatMap((spec) =>
        spec.kind === "existing"
            ? [
                  {
                      server: spec.name,
                      user: spec.user,
                      host: spec.host,
                      port: spec.port,
                      hostKey: spec.hostKey,
                      version: spec.version,
                      sdistSha256: releases[spec.version].sha256,
                      scriptsHash: hostScriptsHash(),
                  },
              ]
            : [],
    );
    if (!settings.observe || targets.length === 0) {
        return {};
    }
    const results = await observeFleet(targets, sshPrivateKeyText as string, settings.stageParallel);
    for (const result of results.filter((r) => r.error !== undefined)) {
        await pulumi.log.warn(`${result.server}: not observed (${result.error}); planned from the state alone`);
    }
    return Object.fromEntries(results.map((result) => [result.server, result]));
}

const fleet = observeHosts().then(
    (observations) =>
        new SyncFleet(
            "sync",
            {
                servers: settings.servers,
                batchSize: settings.batchSize,
                stageParallel: settings.stageParallel,
                releases,
                sshPrivateKey,
                ini: settings.ini,
                iniSecrets,
                keepReleases: settings.keepReleases,
                commandTimeout: settings.commandTimeout,
                observations,
            },
            { providers: [commandProvider] },
        ),
);

/** The release every server runs unless it has a canary override. */
export const version = settings.version;
/** Per server: the address the stack connects to and its rollout batch. */
export const servers = fleet.then((f) => f.report.servers);
/** Per server: the version its last activation left it serving, read from the host. */
export const serves = fleet.then((f) => f.report.serves);
/**
 * Per server: what it was seen serving before the last `up` planned, and when (or why it was not
 * read). Left unknown by a preview, which would otherwise show every host's new timestamp.
 */
export const observed = fleet.then((f) =>
    pulumi.runtime.isDryRun()
        ? Object.fromEntries(Object.keys(f.report.observed).map((name) => [name, pulumi.output(pulumi.unknown)]))
        : f.report.observed,
);
/** Per server: the SSH host key every connection pins. */
export const hostKeys = fleet.then((f) => f.report.hostKeys);
/** Per release in use: its object key in the archive and its sha256 (null without the bucket). */
export const releaseArchive = bucket
    ? Object.fromEntries(
          Object.values(releases).map((release) => [
              release.version,
              { objectKey: releaseObjectKey(release.version), sha256: release.sha256 },
          ]),
      )
    : null;
/** The S3 bucket holding every release; null when sync:releaseBucket is false (undefined would warn on every run). */
export const releaseBucketName: pulumi.Output<string> | null = bucket ? bucket.bucketName : null;
