import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec, rolloutBatches } from "./config";
import { ObservationResult, observedServes } from "./observe";
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
    /** What each host held when it was read before planning, by server name (absent: not read). */
    observations: Record<string, ObservationResult>;
}

/**
 * What the stack reports per server, one map a field, so that a version bump's preview changes one
 * line of them (`version`) and no other: the host's address and batch, the pinned host key, the
 * version its last activation left it serving, what it was seen serving before this run planned.
 */
export interface FleetReport {
    /** Address the stack connects to and rollout batch (from 1). */
    servers: Record<string, { address: pulumi.Output<string>; batch: number }>;
    /** The SSH host key every connection pins. */
    hostKeys: Record<string, pulumi.Output<string>>;
    /** The version the host served when its activation last finished, read from the host. */
    serves: Record<string, pulumi.Output<string>>;
    /** `<version> at <time>` it was seen serving before this run planned, or why it was not read. */
    observed: Record<string, string>;
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
    public readonly report: FleetReport;

    constructor(name: string, args: SyncFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:fleet:SyncFleet", name, {}, opts);
        this.servers = {};
        this.batches = [];
        this.report = { servers: {}, hostKeys: {}, serves: {}, observed: {} };

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
                            observation: args.observations[spec.name],
                        },
                        { parent: this },
                    );
                    declaredStages.push(server.stage);
                    this.servers[spec.name] = server;
                    this.report.servers[spec.name] = { address: server.address, batch: index + 1 };
                    this.report.hostKeys[spec.name] = server.hostKey;
                    this.report.serves[spec.name] = server.servedVersion;
                    const observation = args.observations[spec.name];
                    if (observation) {
                        this.report.observed[spec.name] = observedReport(observation);
                    }
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

/** A server's observation as the stack output shows it: one line. */
export function observedReport(result: ObservationResult): string {
    if (!result.observed) {
        return `not observed at ${result.at}: ${result.error ?? "unknown"}`;
    }
    return `${observedServes(result.observed) || "nothing"} at ${result.at}`;
}
