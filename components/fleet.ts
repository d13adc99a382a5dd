import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec, rolloutBatches } from "./config";
import { SyncServer } from "./syncServer";

/** Arguments of a SyncFleet. */
export interface SyncFleetArgs {
    /** Servers in rollout order. */
    servers: ServerSpec[];
    /** Hosts that change what they serve at once. */
    batchSize: number;
    /** Hosts that stage at once, at the start of the rollout. */
    stageParallel: number;
    /** Releases by version (every version the servers use). */
    releases: Record<string, ReleaseArtifact>;
    /** The deploy key (secret). */
    sshPrivateKey: pulumi.Output<string>;
    /** Non-secret ini settings. */
    ini: IniData;
    /** Secret ini settings. */
    iniSecrets: pulumi.Input<IniData>;
    /** Complete releases kept on each host. */
    keepReleases: number;
    /** Seconds any one remote step may take. */
    commandTimeout: number;
}

/** What the stack reports per server. */
export interface ServerReport {
    /** Address the stack connects to. */
    address: pulumi.Output<string>;
    /** Release the server should serve (sync:version or its canary override). */
    version: string;
    /** Release the host served when its activation last finished, read from the host. */
    serves: pulumi.Output<string>;
    /** The SSH host key the stack pins for it. */
    hostKey: pulumi.Output<string>;
    /** Rollout batch, from 1. */
    batch: number;
}

/**
 * The servers, rolled out in two phases. Stage: every server uploads and builds its release at
 * the start of the `up`, at most stageParallel at once (server i waits for the stage of server
 * i - stageParallel), and nothing served changes. Activate: once every server has staged — the
 * `-staged` barrier depends on every stage — batch by batch, each batch's servers after the
 * previous batch's activations. A build that fails anywhere stops the `up` before any host
 * switches; a host that fails its activation stops the later batches.
 */
export class SyncFleet extends pulumi.ComponentResource {
    /** The servers, by name. */
    public readonly servers: Record<string, SyncServer>;
    /** The servers, batch by batch. */
    public readonly batches: SyncServer[][];
    /** Waits for every server's stage: no server activates before it. */
    public readonly staged: command.local.Command;
    /** Per-server report for the stack outputs. */
    public readonly report: Record<string, ServerReport>;

    constructor(name: string, args: SyncFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:fleet:SyncFleet", name, {}, opts);
        this.servers = {};
        this.batches = [];
        this.report = {};

        // Declared first, its dependencies filled in once every server's stage exists: a command
        // with no `create` runs nothing, it only orders what depends on it.
        let stagesDeclared: (stages: pulumi.Resource[]) => void = () => undefined;
        const stages = new Promise<pulumi.Resource[]>((resolve) => (stagesDeclared = resolve));
        this.staged = new command.local.Command(`${name}-staged`, {}, { parent: this, dependsOn: stages });

        const declaredStages: pulumi.Resource[] = [];
        let previousBatch: pulumi.Resource[] = [];
        try {
            rolloutBatches(args.servers, args.batchSize).forEach((batch, index) => {
                const built = batch.map((spec) => {
                    const slotBefore = declaredStages.length - args.stageParallel;
                    const server = new SyncServer(
                        `${name}-${spec.name}`,
                        {
                            spec,
                            sshPrivateKey: args.sshPrivateKey,
                            release: args.releases[spec.version],
                            ini: args.ini,
                            iniSecrets: args.iniSecrets,
                            keepReleases: args.keepReleases,
                            commandTimeout: args.commandTimeout,
                            stageAfter: slotBefore >= 0 ? [declaredStages[slotBefore]] : [],
                            activateAfter: [this.staged, ...previousBatch],
                        },
                        { parent: this },
                    );
                    declaredStages.push(server.stage);
                    this.servers[spec.name] = server;
                    this.report[spec.name] = {
                        address: server.address,
                        version: spec.version,
                        serves: server.servedVersion,
                        hostKey: server.hostKey,
                        batch: index + 1,
                    };
                    return server;
                });
                this.batches.push(built);
                // The custom resources themselves: a component in dependsOn would expand to all
                // its children for every server of the next batch.
                previousBatch = built.map((server) => server.activation);
            });
        } finally {
            stagesDeclared(declaredStages);
        }
        this.registerOutputs({});
    }
}
