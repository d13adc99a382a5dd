import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { IniData, ServerSpec } from "./config";
import { Ec2Host } from "./ec2Host";
import { ReleaseInstall } from "./releaseInstall";
import { WSGI_DAEMONS } from "./remoteCommand";
import { RuntimeDir } from "./runtimeDir";
import { SyncIni } from "./syncIni";

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
    /** Secret ini settings. */
    iniSecrets: pulumi.Input<IniData>;
    /** Complete releases kept on the host. */
    keepReleases: number;
    /** Seconds any one remote step may take. */
    commandTimeout: number;
    /** The previous rollout batch: nothing on this server changes before it has finished. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * One sync server: an existing host with the host key from its config, or an Ec2Host the stack
 * creates, with the host key it read from the instance at first boot. Parent of its RuntimeDir,
 * SyncIni and ReleaseInstall, in that order.
 */
export class SyncServer extends pulumi.ComponentResource {
    /** Host name or IP address the stack connects to. */
    public readonly address: pulumi.Output<string>;
    /** The release this server should serve. */
    public readonly version: string;
    /** The pinned SSH host key. */
    public readonly hostKey: pulumi.Output<string>;
    /** The runtime directory. */
    public readonly runtime: RuntimeDir;
    /** /etc/sync.ini. */
    public readonly settings: SyncIni;
    /** The release install. */
    public readonly release: ReleaseInstall;
    /** The EC2 host, for servers the stack creates. */
    public readonly ec2?: Ec2Host;
    /** The version the host served when its install finished (read from the host). */
    public readonly servedVersion: pulumi.Output<string>;

    constructor(name: string, args: SyncServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:SyncServer", name, {}, opts);
        const { spec } = args;
        this.version = spec.version;

        let host: pulumi.Output<string>;
        let machine: pulumi.Output<string>;
        let dependsOn = args.dependsOn;
        if (spec.kind === "ec2") {
            // Named as this server: its children keep the names (and, through an alias, the
            // resources) they had when SyncServer created them itself.
            this.ec2 = new Ec2Host(
                name,
                {
                    server: spec.name,
                    settings: spec.ec2,
                    user: spec.user,
                    port: spec.port,
                    sshPrivateKey: args.sshPrivateKey,
                    timeoutSeconds: args.commandTimeout,
                    dependsOn,
                },
                { parent: this },
            );
            host = this.ec2.address;
            this.hostKey = this.ec2.hostKey;
            machine = this.ec2.instanceId;
            dependsOn = [...dependsOn, this.ec2];
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
            // A host that is down fails within ~3 × 10 s instead of the provider's default minutes.
            perDialTimeout: 10,
            dialErrorLimit: 3,
        };

        // What every host step shares; each adds what it waits for.
        const onHost = { connection, user: spec.user, timeoutSeconds: args.commandTimeout };
        this.runtime = new RuntimeDir(
            `${name}-runtime`,
            { ...onHost, wsgiProcesses: WSGI_DAEMONS.processes, wsgiThreads: WSGI_DAEMONS.threads, dependsOn },
            { parent: this },
        );
        this.settings = new SyncIni(
            `${name}-ini`,
            {
                ...onHost,
                ini: args.ini,
                iniSecrets: args.iniSecrets,
                dependsOn: [...dependsOn, this.runtime.setup],
            },
            { parent: this },
        );
        this.release = new ReleaseInstall(
            `${name}-release`,
            {
                ...onHost,
                release: args.release,
                keepReleases: args.keepReleases,
                hostIdentity,
                dependsOn: [...dependsOn, this.runtime.setup, this.settings.write],
            },
            { parent: this },
        );
        this.servedVersion = this.release.servedVersion;
        this.registerOutputs({
            address: this.address,
            version: this.version,
            hostKey: this.hostKey,
            servedVersion: this.servedVersion,
        });
    }
}
