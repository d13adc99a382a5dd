import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec } from "./config";
import { Ec2Host } from "./ec2Host";
import { hostPattern } from "./hostLayout";
import { hostScriptsHash } from "./hostScripts";
import {
    HostTarget,
    StepInput,
    describeHost,
    describeRelease,
    renderStepCommand,
    renderStepStdin,
    stepDeadline,
} from "./hostStep";
import { Drift, ObservationResult, driftNote, driftOf } from "./observe";
import { RemoteCommandOptions, renderActivateCommand, renderIniCommand, renderStageCommand } from "./remoteCommand";
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
    /** Seconds any one host step may take on the host. */
    commandTimeout: number;
    /** What this server's stage waits for (the stage of the server stageParallel places earlier). */
    stageAfter: pulumi.Input<pulumi.Resource>[];
    /**
     * What this server's activation phase waits for: the fleet's barrier (every server staged) and
     * the previous rollout batch's activations.
     */
    activateAfter: pulumi.Input<pulumi.Resource>[];
    /** What the host held when it was read before planning (none: not read). */
    observation?: ObservationResult;
}

/** One host step's inputs, before the deploy key and the connection are known. */
interface StepSpec {
    /** `stage`, `ini` or `activate`: the step's name and the resource's suffix. */
    step: string;
    /** The host command line (remoteCommand.ts). */
    remoteCommand: string;
    /** What the host command reads on stdin. */
    input: pulumi.Input<StepInput>;
    /** The values a preview shows for the step, by name (besides the host). */
    shows: Record<string, string>;
    /** What the step waits for. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /** Outputs kept secret in the state besides stdin (app text, settings). */
    secretOutputs: string[];
    /** Whether the step's output goes to Pulumi's log (never for the settings). */
    logging: "stdoutAndStderr" | "none";
    /** Why the step must run although its inputs did not change (the host drifted); [] in sync. */
    drift: string[];
    /**
     * The host was seen holding what the step would make (the release built and sealed, the
     * scripts installed): the step keeps what the state has and does not run.
     */
    done?: boolean;
}

/**
 * One sync server: an existing host with the host key from its config, or an Ec2Host the stack
 * creates, with the host key it read from the instance at first boot. Three steps, each a
 * `command:local:Command` that runs the deployer's OpenSSH (components/local/on-host.sh: the host
 * key pinned, every phase bounded, one login shared by a host's steps):
 *
 * - `-stage`, at the start of the rollout (every server in parallel, up to stageParallel): the
 *   bundle streamed over the step's own session, the scripts installed, the platform checked, the
 *   release built or found built; nothing served changes;
 * - `-ini`, batch by batch once every server has staged: /etc/sync.ini, reloaded when it changed;
 * - `-activate`, right after it: switch, draining reload, health check, switch back on failure, prune.
 *
 * No step has a delete: removing a server or destroying the stack never needs the host to answer.
 * A preview shows each step's host and release by name; the command lines and the deploy key are
 * in the step's secret stdin, hidden from the diff. A host read before planning that drifted from
 * what the stack last put there gets the reason in the steps that repair it (`observed`), which
 * makes them run; in sync, that value is left as the state has it, so nothing runs.
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
    /** Bundle received, scripts installed, preflight, the release built; nothing served changes. */
    public readonly stage: command.local.Command;
    /** /etc/sync.ini. */
    public readonly settings: command.local.Command;
    /** Switch, reload, health check, switch back on failure. */
    public readonly activation: command.local.Command;
    /** The version the host served when its activation finished (read from the host). */
    public readonly servedVersion: pulumi.Output<string>;

    private readonly target: pulumi.Output<HostTarget>;
    /** Which steps the host's drift makes run. */
    private readonly drift: Drift;
    /**
     * The host was read before planning and holds this release built and sealed from this sdist,
     * with the stack's scripts: its stage has nothing to do (a rollback to a kept release is a swap).
     */
    private readonly holdsRelease: boolean;
    /** The identity a preview shows: address, user, port, host key fingerprint (and instance). */
    private readonly hostShown: pulumi.Output<Record<string, string>>;

    constructor(
        name: string,
        private readonly args: SyncServerArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("sync:server:SyncServer", name, {}, opts);
        const { spec } = args;
        this.version = spec.version;
        const observed = args.observation?.observed;
        this.drift = observed
            ? driftOf(observed, { version: args.release.version, scriptsHash: hostScriptsHash() })
            : { stage: [], ini: [], activate: [] };
        this.holdsRelease = observed?.staged === "yes" && observed.scripts === "yes";

        const host = this.locateHost(name);
        this.ec2 = host.ec2;
        this.address = host.address;
        this.hostKey = host.hostKey;
        this.target = pulumi.all([host.address, host.hostKey]).apply(([address, hostKey]) => ({
            server: spec.name,
            user: spec.user,
            host: address,
            port: spec.port,
            hostKey,
        }));
        this.hostShown = pulumi.all([this.target, host.machine]).apply(
            ([target, machine]): Record<string, string> => ({
                host: describeHost(target),
                ...(machine ? { machine: machine } : {}),
            }),
        );

        this.stage = this.stageStep(name, host.stageAfter);
        this.settings = this.settingsStep(name);
        this.activation = this.activateStep(name);
        this.servedVersion = this.activation.stdout.apply(servedVersionOf);
        this.registerOutputs({
            address: this.address,
            version: this.version,
            hostKey: this.hostKey,
            servedVersion: this.servedVersion,
        });
    }

    /** The host: the entry's address and pinned key, or an EC2 instance this stack launches. */
    private locateHost(name: string): {
        address: pulumi.Output<string>;
        hostKey: pulumi.Output<string>;
        machine: pulumi.Output<string>;
        stageAfter: pulumi.Input<pulumi.Resource>[];
        ec2?: Ec2Host;
    } {
        const { spec } = this.args;
        if (spec.kind !== "ec2") {
            return {
                address: pulumi.output(spec.host),
                hostKey: pulumi.output(spec.hostKey),
                machine: pulumi.output(""),
                stageAfter: this.args.stageAfter,
            };
        }
        // Named as this server: its children keep the names (and, through an alias, the
        // resources) they had when SyncServer created them itself.
        const ec2 = new Ec2Host(
            name,
            {
                server: spec.name,
                settings: spec.ec2,
                port: spec.port,
                sshPrivateKey: this.args.sshPrivateKey,
                timeoutSeconds: this.args.commandTimeout,
                dependsOn: this.args.stageAfter,
            },
            { parent: this },
        );
        // A new instance behind the same name is a new, bare machine.
        return {
            ec2,
            address: ec2.address,
            hostKey: ec2.hostKey,
            machine: ec2.instanceId,
            stageAfter: [...this.args.stageAfter, ec2],
        };
    }

    private get onHost(): RemoteCommandOptions {
        return { user: this.args.spec.user, timeoutSeconds: this.args.commandTimeout };
    }

    private get releaseShown(): string {
        return describeRelease(this.args.release.version, this.args.release.sha256);
    }

    /** Stage phase: the bundle over the step's session, the release built (or found built). */
    private stageStep(name: string, after: pulumi.Input<pulumi.Resource>[]): command.local.Command {
        const { release, spec } = this.args;
        return this.hostStep(name, {
            step: "stage",
            remoteCommand: renderStageCommand(release, spec.user, this.onHost),
            input: { kind: "bundle", sha256: release.bundleSha256 },
            shows: { release: this.releaseShown, scripts: hostScriptsHash() },
            dependsOn: after,
            secretOutputs: [],
            logging: "stdoutAndStderr",
            drift: this.drift.stage,
            done: this.holdsRelease,
        });
    }

    /**
     * Activate phase, first: /etc/sync.ini. Rendered inside the Output, so a secret iniSecrets
     * keeps the whole file secret; its output never reaches the log.
     */
    private settingsStep(name: string): command.local.Command {
        const content = pulumi
            .output(this.args.iniSecrets)
            .apply((secrets) => renderIniStdin(renderSyncIni(this.args.ini, secrets)));
        return this.hostStep(name, {
            step: "ini",
            remoteCommand: renderIniCommand(this.onHost),
            input: content.apply((data): StepInput => ({ kind: "bytes", data })),
            shows: { scripts: hostScriptsHash() },
            dependsOn: [...this.args.activateAfter, this.stage],
            secretOutputs: ["stdout", "stderr"],
            logging: "none",
            drift: this.drift.ini,
        });
    }

    /** Activate phase, then: switch, reload, health, switch back on failure, prune. */
    private activateStep(name: string): command.local.Command {
        const { release, keepReleases } = this.args;
        return this.hostStep(name, {
            step: "activate",
            remoteCommand: renderActivateCommand(release, keepReleases, this.onHost),
            input: { kind: "none" },
            shows: { release: this.releaseShown, scripts: hostScriptsHash() },
            dependsOn: [this.settings],
            // The health check quotes the app (its heartbeat's reason): app text stays encrypted.
            secretOutputs: ["stderr"],
            logging: "stdoutAndStderr",
            drift: this.drift.activate,
        });
    }

    /**
     * One step: `bash -s sync-<step> <server>`, on-host.sh and its values on the secret stdin,
     * the values a preview shows in `environment`, the provider's deadline a margin past the host's
     * own bound.
     */
    private hostStep(name: string, step: StepSpec): command.local.Command {
        const stepCommand = renderStepCommand(step.step, this.args.spec.name);
        const stdin = pulumi
            .all([this.target, pulumi.output(step.input), this.args.sshPrivateKey])
            .apply(([target, input, key]) => renderStepStdin(target, input, step.remoteCommand, key));
        const deadline = stepDeadline(this.args.commandTimeout);
        const at = this.args.observation?.at ?? "";
        const observed: Record<string, string> = step.drift.length > 0 ? { observed: driftNote(step.drift, at) } : {};
        return new command.local.Command(
            `${name}-${step.step}`,
            {
                create: stepCommand,
                update: stepCommand,
                stdin: pulumi.secret(stdin),
                environment: this.hostShown.apply((shown) => ({ ...shown, ...step.shows, ...observed })),
                logging: step.logging,
                addPreviousOutputInEnv: false,
            },
            {
                parent: this,
                dependsOn: step.dependsOn,
                additionalSecretOutputs: ["stdin", ...step.secretOutputs],
                hideDiffs: ["stdin"],
                // In sync (or not read), the last drift note stays as the state has it: no change.
                // Done already on the host: nothing of it changes.
                ignoreChanges: step.done
                    ? ["environment", "stdin"]
                    : step.drift.length > 0
                      ? []
                      : ["environment.observed"],
                customTimeouts: { create: deadline, update: deadline, delete: deadline },
            },
        );
    }
}

/**
 * The version the host serves, from the activation's stdout (its last line): a version or "",
 * never other text the app answered (the stack output is plaintext).
 */
export function servedVersionOf(stdout: string): string {
    const lines = stdout.trim().split("\n");
    const last = lines[lines.length - 1]?.trim() ?? "";
    return hostPattern("SYNC_VERSION_RE").test(last) ? last : "";
}
