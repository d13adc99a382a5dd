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
    iniSecrets: IniData;
    /** Complete releases kept on each host. */
    keepReleases: number;
    /** Seconds any one remote step may take. */
    commandTimeout: number;
    /** Stack name. */
    stack: string;
}

/** What the stack reports per server. */
export interface ServerReport {
    /** Address the stack connects to. */
    address: pulumi.Output<string>;
    /** Release the server should serve. */
    version: string;
    /** Rollout batch, from 1. */
    batch: number;
}

/**
 * The servers in rollout batches: every server of batch k waits for the settings and installs of
 * batch k-1, so a host that fails stops the rollout there and later hosts stay untouched.
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
        let gate: pulumi.Resource[] = [];
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
                            dependsOn: gate,
                            stack: args.stack,
                        },
                        { parent: this },
                    ),
            );
            batch.forEach((spec, i) => {
                this.servers[spec.name] = built[i];
                this.report[spec.name] = { address: built[i].address, version: spec.version, batch: index + 1 };
            });
            this.batches.push(built);
            gate = built.flatMap((server) => server.rolloutGate);
        });
        this.registerOutputs({});
    }
}
