import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec } from "./config";
import { sha256 } from "./digest";
import { Ec2Host } from "./ec2Host";
import { bundleRemotePath } from "./hostLayout";
import { renderProbeCommand, renderProbeStdin } from "./hostProbe";
import { renderActivateCommand, renderIniCommand, renderStageCommand } from "./remoteCommand";
import { renderIniStdin, renderSyncIni } from "./syncIni";

/** Arguments of a SyncServer. */
export interface SyncServerArgs {
    /** The validated server entry from sync:servers. */
    spec: ServerSpec;
    /** The deploy key (secret). */
    sshPrivateKey: pulumi.Output<string>;
    /** The release this server runs. */
    release: ReleaseArtifact;
    /** Non-secret ini settings. */
    ini: IniData;
    /** Secret ini settings, merged over `ini` (a secret Output: the rendered file stays secret). */
    iniSecrets: pulumi.Input<IniData>;
    /** Complete releases kept on the host. */
    keepReleases: number;
    /** Seconds any one remote step may take. */
    commandTimeout: number;
    /** What this server's stage phase waits for (the stage of the server stageParallel places earlier). */
    stageAfter: pulumi.Input<pulumi.Resource>[];
    /**
     * What this server's switch waits for: the fleet's barrier (every server staged) and the
     * previous rollout batch's activations.
     */
    activateAfter: pulumi.Input<pulumi.Resource>[];
}

/**
 * One sync server: an existing host with the host key from its config, or an Ec2Host the stack
 * creates, with the host key it read from the instance at first boot. Its steps, in order:
 *
 * - stage phase (at the start of the rollout, every server in parallel up to stageParallel):
 *   `-probe-stage` (the deployer's OpenSSH logs in, bounded), `-bundle` (the release bundle
 *   upload), `-stage` (scripts installed, platform checked, release built; nothing served changes);
 * - activate phase (batch by batch, once every server has staged): `-probe-activate`, `-ini`
 *   (/etc/sync.ini, reloaded when it changed), `-activate` (switch, draining reload, health check,
 *   switch back on failure, prune).
 *
 * No step has a remote delete: removing a server or destroying the stack never needs the host to
 * answer. Each probe is keyed on everything its phase's remote steps are keyed on, so it runs
 * exactly when they do (a no-op `up` runs nothing).
 */
export class SyncServer extends pulumi.ComponentResource {
    /** Host name or IP address the stack connects to. */
    public readonly address: pulumi.Output<string>;
    /** The release this server should serve. */
    public readonly version: string;
    /** The pinned SSH host key. */
    public readonly hostKey: pulumi.Output<string>;
    /** The EC2 host, for servers the stack creates. */
    public readonly ec2?: Ec2Host;
    /** Login probe before the stage phase. */
    public readonly probeStage: command.local.Command;
    /** The release bundle upload. */
    public readonly bundle: command.remote.CopyToRemote;
    /** Scripts, preflight and the release built; nothing served changes. */
    public readonly stage: command.remote.Command;
    /** Login probe before the activate phase. */
    public readonly probeActivate: command.local.Command;
    /** /etc/sync.ini. */
    public readonly settings: command.remote.Command;
    /** Switch, reload, health check, switch back on failure. */
    public readonly activation: command.remote.Command;
    /** The version the host served when its activation finished (read from the host). */
    public readonly servedVersion: pulumi.Output<string>;

    constructor(name: string, args: SyncServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:SyncServer", name, {}, opts);
        const { spec, release } = args;
        this.version = spec.version;

        let host: pulumi.Output<string>;
        let machine: pulumi.Output<string>;
        let stageAfter = args.stageAfter;
        if (spec.kind === "ec2") {
            // Named as this server: its children keep the names (and, through an alias, the
            // resources) they had when SyncServer created them itself.
            this.ec2 = new Ec2Host(
                name,
                {
                    server: spec.name,
                    settings: spec.ec2,
                    port: spec.port,
                    sshPrivateKey: args.sshPrivateKey,
                    timeoutSeconds: args.commandTimeout,
                    dependsOn: stageAfter,
                },
                { parent: this },
            );
            host = this.ec2.address;
            this.hostKey = this.ec2.hostKey;
            machine = this.ec2.instanceId;
            stageAfter = [...stageAfter, this.ec2];
        } else {
            host = pulumi.output(spec.host);
            this.hostKey = pulumi.output(spec.hostKey);
            machine = pulumi.output("existing");
        }
        this.address = host;
        // A new host key, address or instance means the machine may be a new, bare one.
        const hostIdentity = pulumi.interpolate`${machine} ${host}:${spec.port} ${this.hostKey}`;
        const connection: command.types.input.remote.ConnectionArgs = {
            host,
            port: spec.port,
            user: spec.user,
            privateKey: args.sshPrivateKey,
            hostKey: this.hostKey,
            // A host that is down fails its TCP connect within ~3 × 10 s. (A host that accepts TCP
            // and never answers SSH is the probes' job: the provider would wait on it for ever.)
            perDialTimeout: 10,
            dialErrorLimit: 3,
        };
        const onHost = { user: spec.user, timeoutSeconds: args.commandTimeout };
        const child = (dependsOn: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions => ({
            parent: this,
            dependsOn,
        });
        const probe = (step: string, keyedOn: pulumi.Input<string>[], dependsOn: pulumi.Input<pulumi.Resource>[]) => {
            const probeCommand = pulumi
                .all([host, this.hostKey])
                .apply(([address, hostKey]) =>
                    renderProbeCommand({ server: spec.name, host: address, port: spec.port, user: spec.user, hostKey }),
                );
            return new command.local.Command(
                `${name}-probe-${step}`,
                {
                    create: probeCommand,
                    update: probeCommand,
                    // The script and the deploy key: a secret, never logged.
                    stdin: pulumi.secret(args.sshPrivateKey.apply(renderProbeStdin)),
                    triggers: [hostIdentity, ...keyedOn],
                    addPreviousOutputInEnv: false,
                },
                { ...child(dependsOn), additionalSecretOutputs: ["stdin"] },
            );
        };

        // Stage phase.
        const stageCommand = renderStageCommand(release, spec.user, onHost);
        const releaseKey = [release.version, release.sha256, release.bundleSha256];
        this.probeStage = probe("stage", [stageCommand, ...releaseKey], stageAfter);
        this.bundle = new command.remote.CopyToRemote(
            `${name}-bundle`,
            {
                connection,
                // The bundle's sha256 travels with the asset: the engine uses it instead of reading
                // and hashing the whole file again for every server, every run.
                source: Object.assign(new pulumi.asset.FileAsset(release.bundlePath), { hash: release.bundleSha256 }),
                remotePath: bundleRemotePath(release.version),
                triggers: [hostIdentity, ...releaseKey],
            },
            child([this.probeStage]),
        );
        this.stage = new command.remote.Command(
            `${name}-stage`,
            {
                connection,
                create: stageCommand,
                update: stageCommand,
                triggers: [hostIdentity, ...releaseKey],
                addPreviousOutputInEnv: false,
            },
            child([this.bundle]),
        );

        // Activate phase. The settings are rendered inside the Output, so a secret iniSecrets
        // makes the whole file (and the probe's key on it) secret.
        const content = pulumi.output(args.iniSecrets).apply((secrets) => renderSyncIni(args.ini, secrets));
        const iniCommand = renderIniCommand(onHost);
        const activateCommand = renderActivateCommand(release, args.keepReleases, onHost);
        this.probeActivate = probe(
            "activate",
            [activateCommand, iniCommand, content.apply(sha256)],
            [...args.activateAfter, this.stage],
        );
        this.settings = new command.remote.Command(
            `${name}-ini`,
            {
                connection,
                create: iniCommand,
                update: iniCommand,
                stdin: content.apply(renderIniStdin),
                // stdout is logged even when marked secret; keep the script's output out of the log.
                logging: "none",
                triggers: [hostIdentity],
                addPreviousOutputInEnv: false,
            },
            { ...child([this.probeActivate]), additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        );
        this.activation = new command.remote.Command(
            `${name}-activate`,
            {
                connection,
                create: activateCommand,
                update: activateCommand,
                triggers: [hostIdentity, ...releaseKey],
                addPreviousOutputInEnv: false,
            },
            child([this.settings]),
        );
        this.servedVersion = this.activation.stdout.apply(servedVersionOf);
        this.registerOutputs({
            address: this.address,
            version: this.version,
            hostKey: this.hostKey,
            servedVersion: this.servedVersion,
        });
    }
}

/** The version the host serves, from the activation's stdout (its last line). */
export function servedVersionOf(stdout: string): string {
    const lines = stdout.trim().split("\n");
    return lines[lines.length - 1]?.trim() ?? "";
}
