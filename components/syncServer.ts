import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { Ec2Server, IniData, ServerSpec } from "./config";
import { ReleaseInstall } from "./releaseInstall";
import { RuntimeDir } from "./runtimeDir";
import { derivedHostKey, publicKeyOfPrivateKey } from "./sshKeys";
import { SyncIni } from "./syncIni";

/** Debian's AWS account, which publishes the official Debian 12 AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";

/** cloud-init for a stack-created server: the pinned host key and the platform packages. */
export function renderCloudInit(hostKey: { publicKey: string; privateKey: string }): string {
    const indented = hostKey.privateKey
        .trimEnd()
        .split("\n")
        .map((line) => `    ${line}`)
        .join("\n");
    return [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        indented,
        `  ed25519_public: ${hostKey.publicKey}`,
        "package_update: true",
        "packages: [apache2, libapache2-mod-wsgi-py3, python3-venv, curl]",
        "",
    ].join("\n");
}

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
    iniSecrets: IniData;
    /** Complete releases kept on the host. */
    keepReleases: number;
    /** Seconds any one remote step may take. */
    commandTimeout: number;
    /** The previous rollout batch: nothing on this server changes before it has finished. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /** Stack name, part of the derived host key of EC2 servers. */
    stack: string;
}

/**
 * One sync server: an existing host, or a Debian 12 EC2 instance the stack creates with a host
 * key it pins. Parent of its RuntimeDir, SyncIni and ReleaseInstall, in that order.
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
    /** The instance, for EC2 servers. */
    public readonly instance?: aws.ec2.Instance;
    /** What the next rollout batch waits for. */
    public readonly rolloutGate: pulumi.Resource[];

    constructor(name: string, args: SyncServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:SyncServer", name, {}, opts);
        const { spec } = args;
        this.version = spec.version;

        let host: pulumi.Output<string>;
        let dependsOn = args.dependsOn;
        if (spec.kind === "ec2") {
            const ec2 = this.createInstance(name, spec, args);
            this.instance = ec2.instance;
            host = ec2.address;
            this.hostKey = ec2.hostKey;
            dependsOn = [...dependsOn, ec2.instance];
        } else {
            host = pulumi.output(spec.host);
            this.hostKey = pulumi.output(spec.hostKey);
        }
        this.address = host;

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

        this.runtime = new RuntimeDir(
            `${name}-runtime`,
            {
                connection,
                user: spec.user,
                wsgiProcesses: 2,
                wsgiThreads: 15,
                timeoutSeconds: args.commandTimeout,
                dependsOn,
            },
            { parent: this },
        );
        this.settings = new SyncIni(
            `${name}-ini`,
            {
                connection,
                user: spec.user,
                ini: args.ini,
                iniSecrets: args.iniSecrets,
                timeoutSeconds: args.commandTimeout,
                dependsOn: [...dependsOn, this.runtime.setup],
            },
            { parent: this },
        );
        this.release = new ReleaseInstall(
            `${name}-release`,
            {
                connection,
                user: spec.user,
                release: args.release,
                keepReleases: args.keepReleases,
                timeoutSeconds: args.commandTimeout,
                dependsOn: [...dependsOn, this.runtime.setup, this.settings.write],
            },
            { parent: this },
        );
        this.rolloutGate = [this.settings.write, this.release.install];
        this.registerOutputs({ address: this.address, version: this.version, hostKey: this.hostKey });
    }

    private createInstance(
        name: string,
        spec: Ec2Server,
        args: SyncServerArgs,
    ): { instance: aws.ec2.Instance; address: pulumi.Output<string>; hostKey: pulumi.Output<string> } {
        const child = { parent: this };
        const ami = aws.ec2.getAmiOutput(
            {
                owners: [DEBIAN_AMI_OWNER],
                mostRecent: true,
                filters: [
                    { name: "name", values: ["debian-12-amd64-*"] },
                    { name: "architecture", values: ["x86_64"] },
                    { name: "virtualization-type", values: ["hvm"] },
                ],
            },
            child,
        );
        const subnet = spec.ec2.subnetId ? aws.ec2.getSubnetOutput({ id: spec.ec2.subnetId }, child) : undefined;
        const securityGroup = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                description: `sync server ${spec.name}: SSH from the deployers, HTTP from clients`,
                vpcId: subnet?.vpcId,
                ingress: [
                    {
                        protocol: "tcp",
                        fromPort: spec.port,
                        toPort: spec.port,
                        cidrBlocks: spec.ec2.sshCidrs,
                        description: "ssh",
                    },
                    { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: spec.ec2.httpCidrs, description: "http" },
                ],
                egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "apt" }],
            },
            child,
        );
        const keyPair = new aws.ec2.KeyPair(
            `${name}-key`,
            // The public half of the deploy key is not secret.
            { publicKey: pulumi.unsecret(args.sshPrivateKey.apply((key) => publicKeyOfPrivateKey(key))) },
            child,
        );
        const hostKeyPair = args.sshPrivateKey.apply((key) => derivedHostKey(key, args.stack, spec.name));
        const instance = new aws.ec2.Instance(
            `${name}-instance`,
            {
                ami: ami.id,
                instanceType: spec.ec2.instanceType,
                subnetId: spec.ec2.subnetId,
                vpcSecurityGroupIds: [securityGroup.id],
                keyName: keyPair.keyName,
                // The user data holds the host's private key.
                userData: pulumi.secret(hostKeyPair.apply(renderCloudInit)),
                userDataReplaceOnChange: true,
                metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
                rootBlockDevice: { encrypted: true, volumeSize: 16, volumeType: "gp3" },
                tags: { Name: `sync-${spec.name}`, "sync-release:server": spec.name },
            },
            child,
        );
        const address = pulumi
            .all([instance.publicIp, instance.privateIp])
            .apply(([publicIp, privateIp]) => publicIp || privateIp);
        // The public half is not secret; unwrap it so it can be shown and pinned.
        const hostKey = pulumi.unsecret(hostKeyPair.apply((pair) => pair.publicKey));
        return { instance, address, hostKey };
    }
}
