import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec, rolloutBatches } from "./config";
import { SyncServer } from "./syncServer";

/** Arguments of a SyncFleet. */
export interface SyncFleetArgs {
    /** Servers in rollout order. */
    servers: ServerSpec[];
    /** Hosts that change at once. */
    batchSize: number;
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
    /** Release the host served when its install last finished, read from the host. */
    serves: pulumi.Output<string>;
    /** The SSH host key the stack pins for it. */
    hostKey: pulumi.Output<string>;
    /** Rollout batch, from 1. */
    batch: number;
}

/**
 * The servers in rollout batches: every server of batch k depends on the SyncServer components of
 * batch k-1 (so on everything they run), so a host that fails stops the rollout there and later
 * hosts stay untouched.
 */
export class SyncFleet extends pulumi.ComponentResource {
    /** The servers, by name. */
    public readonly servers: Record<string, SyncServer>;
    /** The servers, batch by batch. */
    public readonly batches: SyncServer[][];
    /** Per-server report for the stack outputs. */
    public readonly report: Record<string, ServerReport>;

    constructor(name: string, args: SyncFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:fleet:SyncFleet", name, {}, opts);
        this.servers = {};
        this.batches = [];
        this.report = {};
        let previousBatch: pulumi.Resource[] = [];
        rolloutBatches(args.servers, args.batchSize).forEach((batch, index) => {
            const built = batch.map(
                (spec) =>
                    new SyncServer(
                        `${name}-${spec.name}`,
                        {
                            spec,
                            sshPrivateKey: args.sshPrivateKey,
                            release: args.releases[spec.version],
                            ini: args.ini,
                            iniSecrets: args.iniSecrets,
                            keepReleases: args.keepReleases,
                            commandTimeout: args.commandTimeout,
                            dependsOn: previousBatch,
                        },
                        { parent: this },
                    ),
            );
            batch.forEach((spec, i) => {
                this.servers[spec.name] = built[i];
                this.report[spec.name] = {
                    address: built[i].address,
                    version: spec.version,
                    serves: built[i].servedVersion,
                    hostKey: built[i].hostKey,
                    batch: index + 1,
                };
            });
            this.batches.push(built);
            previousBatch = built;
        });
        this.registerOutputs({});
    }
}
