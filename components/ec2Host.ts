// A Debian 12 EC2 instance for one sync server, and the host key the stack pins for it.
//
// The instance makes its own SSH host keys at first boot (cloud-init's default): no private key
// is ever in user data, the state or the program. cloud-init prints the public keys on the
// instance's console, and the `-hostkey` step reads the ed25519 one from there through the EC2 API
// (the deployer's AWS CLI, the account's own credentials), once per instance: no SSH connection
// ever trusts an unpinned key, and a new address or deploy key reads nothing again.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { Ec2Settings, showValue } from "./config";
import { hostKeyProblem, normalizeHostKey } from "./hostKeys";
import { shellQuote } from "./shellQuote";
import { publicKeyOfPrivateKey } from "./sshKeys";

/** Debian's AWS account, which publishes the official Debian 12 AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";

/**
 * Instance inputs AWS only reads when it launches an instance: a change applies to instances
 * launched afterwards and never replaces (or stops and starts) a running one. Pulumi keeps the
 * values recorded at launch for the running instance (also when it is replaced: a rebuild on new
 * values is a new server, see the README).
 */
export const LAUNCH_ONLY_INPUTS = ["ami", "userData", "keyName"];

/**
 * cloud-init for a stack-created server: fresh host keys made on the instance (ed25519 only, the
 * one the stack pins; the image's keys deleted) and the platform packages (uv, shipped in each
 * release's wheelhouse, makes the venvs: no python3-venv). The same for every
 * server and every deploy key: it holds nothing secret and nothing per server.
 */
export function renderCloudInit(): string {
    return [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: [ed25519]",
        "package_update: true",
        "packages: [apache2, libapache2-mod-wsgi-py3, curl]",
        "",
    ].join("\n");
}

const CONSOLE_KEY_SCRIPT = path.join(__dirname, "local", "console-host-key.sh");

/**
 * The host-key step: `bash -s sync-console-key '<server>' '<instance id>' '<region>' '<seconds>'`,
 * components/local/console-host-key.sh on stdin. It polls the instance's console output (EC2 API)
 * for the ed25519 key cloud-init printed, at most <seconds>.
 */
export function renderHostKeyStep(
    server: string,
    instanceId: string,
    region: string,
    timeoutSeconds: number,
): { command: string; stdin: string } {
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds <= 0) {
        throw new Error(`timeoutSeconds must be a positive integer, got ${timeoutSeconds}`);
    }
    const command = ["bash", "-s", "sync-console-key", server, instanceId, region, String(timeoutSeconds)]
        .map((word, i) => (i < 3 ? word : shellQuote(word)))
        .join(" ");
    return { command, stdin: fs.readFileSync(CONSOLE_KEY_SCRIPT, "utf8") };
}

/**
 * The key to pin from what the host-key step printed: exactly one ed25519 public key line
 * (`ssh-ed25519 <base64> [comment]`), returned as `ssh-ed25519 <base64>`. Anything else is refused.
 */
export function pinnedHostKeyOf(server: string, stdout: string): string {
    const line = stdout.trim();
    const problem = hostKeyProblem(`server ${server}`, line);
    if (line.includes("\n") || problem !== undefined || !line.startsWith("ssh-ed25519 ")) {
        throw new Error(
            `server ${server}: the host key read from the instance's console is not one ed25519 public key line: ${showValue(line)}`,
        );
    }
    return normalizeHostKey(line);
}

/** Arguments of an Ec2Host. */
export interface Ec2HostArgs {
    /** The server's name in sync:servers (tags and descriptions). */
    server: string;
    /** Instance type, subnet, and who may reach SSH and HTTP. */
    settings: Ec2Settings;
    /** SSH port (the security group opens it to sshCidrs). */
    port: number;
    /** The deploy key (secret): its public half is the instance's key pair. */
    sshPrivateKey: pulumi.Input<string>;
    /** Seconds the instance's host key may take to show on its console before the host-key step fails. */
    timeoutSeconds: number;
    /** What the launch waits for (the stage fan-out bound): at most stageParallel instances start at once. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * A Debian 12 EC2 instance (newest official AMI at launch) with its security group (SSH from
 * `sshCidrs` only, HTTP from `httpCidrs`), a key pair holding the deploy key's public half, and
 * the host key it made itself, read once and pinned.
 */
export class Ec2Host extends pulumi.ComponentResource {
    /** Address the stack connects to: the public IP, else the private one. */
    public readonly address: pulumi.Output<string>;
    /** The host's ed25519 key, `ssh-ed25519 <base64>`: pin it in every connection. */
    public readonly hostKey: pulumi.Output<string>;
    /** The instance id (a new one means a new, bare machine). */
    public readonly instanceId: pulumi.Output<string>;
    /** The instance. */
    public readonly instance: aws.ec2.Instance;
    /** Reads the host key from the instance's console output, once per instance. */
    public readonly hostKeyStep: command.local.Command;

    constructor(name: string, args: Ec2HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:Ec2Host", name, {}, opts);
        const { settings } = args;
        // These children were children of the SyncServer (same names) before Ec2Host existed:
        // the alias keeps them, so upgrading replaces no instance.
        const child: pulumi.CustomResourceOptions = {
            parent: this,
            aliases: opts?.parent ? [{ parent: opts.parent }] : [],
        };

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
            { parent: this },
        );
        const subnet = settings.subnetId
            ? aws.ec2.getSubnetOutput({ id: settings.subnetId }, { parent: this })
            : undefined;
        const securityGroup = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                description: `sync server ${args.server}: SSH from the deployers, HTTP from clients`,
                vpcId: subnet?.vpcId,
                ingress: [
                    {
                        protocol: "tcp",
                        fromPort: args.port,
                        toPort: args.port,
                        cidrBlocks: settings.sshCidrs,
                        description: "ssh",
                    },
                    { protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: settings.httpCidrs, description: "http" },
                ],
                egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "apt" }],
            },
            child,
        );
        const keyPair = new aws.ec2.KeyPair(
            `${name}-key`,
            // The public half of the deploy key is not secret.
            { publicKey: pulumi.unsecret(pulumi.output(args.sshPrivateKey).apply(publicKeyOfPrivateKey)) },
            child,
        );
        this.instance = new aws.ec2.Instance(
            `${name}-instance`,
            {
                ami: ami.id,
                instanceType: settings.instanceType,
                subnetId: settings.subnetId,
                vpcSecurityGroupIds: [securityGroup.id],
                keyName: keyPair.keyName,
                // Nothing secret, nothing per deploy key: see renderCloudInit.
                userData: renderCloudInit(),
                metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
                rootBlockDevice: { encrypted: true, volumeSize: 16, volumeType: "gp3" },
                tags: { Name: `sync-${args.server}`, "sync-release:server": args.server },
            },
            // A new AMI, cloud-init template or deploy key must not replace (or, for user data,
            // stop and start) every instance in one update.
            { ...child, dependsOn: args.dependsOn, ignoreChanges: LAUNCH_ONLY_INPUTS },
        );
        this.instanceId = this.instance.id;
        this.address = pulumi
            .all([this.instance.publicIp, this.instance.privateIp])
            .apply(([publicIp, privateIp]) => publicIp || privateIp);

        const step = this.instanceId.apply((id) =>
            renderHostKeyStep(args.server, id, aws.config.region ?? "", args.timeoutSeconds),
        );
        this.hostKeyStep = new command.local.Command(
            `${name}-hostkey`,
            {
                // Only the instance id is an input: a new address or deploy key reads nothing again.
                create: step.command,
                stdin: step.stdin,
                triggers: [this.instanceId],
                addPreviousOutputInEnv: false,
            },
            { parent: this },
        );
        // A public key is not secret: unwrap it so it can be shown and pinned.
        this.hostKey = pulumi.unsecret(this.hostKeyStep.stdout.apply((stdout) => pinnedHostKeyOf(args.server, stdout)));
        this.registerOutputs({ address: this.address, hostKey: this.hostKey, instanceId: this.instanceId });
    }
}
