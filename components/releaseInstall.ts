import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact } from "./artifacts";
import { bundleRemotePath } from "./hostLayout";
import { HostStepArgs, renderInstallCommand } from "./remoteCommand";

/** Arguments of a ReleaseInstall. */
export interface ReleaseInstallArgs extends HostStepArgs {
    /** The release to install. */
    release: ReleaseArtifact;
    /** Complete releases kept on the host. */
    keepReleases: number;
    /**
     * What identifies the machine behind the connection (address, port, host key, instance id):
     * when it changes, the host may be a new, bare one, so the upload is sent again.
     */
    hostIdentity: pulumi.Input<string>;
}

/** The version the host serves, from the install's stdout (its last line). */
export function servedVersionOf(stdout: string): string {
    const lines = stdout.trim().split("\n");
    return lines[lines.length - 1]?.trim() ?? "";
}

/**
 * Install-and-restart of one release on one host. One upload (the release bundle: sdist,
 * wheelhouse and their checksums in one file) and one short install command, both keyed on the
 * release and the host's identity, so a new release or a replaced host replaces them. Neither has
 * a remote delete: removing a server or destroying the stack never needs the host to answer (the
 * install prunes old uploads itself). A release still kept on the host is switched to without a
 * rebuild.
 */
export class ReleaseInstall extends pulumi.ComponentResource {
    /** The release bundle upload. */
    public readonly upload: command.remote.CopyToRemote;
    /** The install-and-restart command. */
    public readonly install: command.remote.Command;
    /** The version the host served when the install finished (read from the host). */
    public readonly servedVersion: pulumi.Output<string>;

    constructor(name: string, args: ReleaseInstallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:ReleaseInstall", name, {}, opts);
        const { release } = args;
        const releaseTriggers = [release.version, release.sha256, args.hostIdentity];

        this.upload = new command.remote.CopyToRemote(
            `${name}-bundle`,
            {
                connection: args.connection,
                source: new pulumi.asset.FileAsset(release.bundlePath),
                remotePath: bundleRemotePath(release.version),
                triggers: [...releaseTriggers, release.bundleSha256],
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.install = new command.remote.Command(
            `${name}-install`,
            {
                connection: args.connection,
                create: renderInstallCommand(release, args.keepReleases, {
                    user: args.user,
                    timeoutSeconds: args.timeoutSeconds,
                }),
                triggers: releaseTriggers,
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [...args.dependsOn, this.upload] },
        );
        this.servedVersion = this.install.stdout.apply(servedVersionOf);
        this.registerOutputs({ servedVersion: this.servedVersion });
    }
}
