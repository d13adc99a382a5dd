import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact, sdistFileName } from "./artifacts";
import { HostStepArgs, renderRemoteCommand } from "./remoteCommand";

/** Where uploads land on a host; install.sh verifies them before use. */
export const REMOTE_INCOMING = "/var/sync/dist/incoming";

/** Arguments of a ReleaseInstall. */
export interface ReleaseInstallArgs extends HostStepArgs {
    /** The release to install. */
    release: ReleaseArtifact;
    /** Complete releases kept on the host. */
    keepReleases: number;
}

/** The install command line for a release (also what the fleet tier runs). */
export function renderInstallCommand(
    release: ReleaseArtifact,
    keepReleases: number,
    user: string,
    timeoutSeconds: number,
): string {
    return renderRemoteCommand("install", [release.version, release.sha256, String(keepReleases)], {
        user,
        timeoutSeconds,
    });
}

/**
 * Install-and-restart of one release on one host, keyed on version + sha256: a new release
 * replaces this resource (create-before-delete), and its `delete` only forgets the old uploads,
 * never `current`. A release still kept on the host is switched to without a rebuild.
 */
export class ReleaseInstall extends pulumi.ComponentResource {
    /** The sdist upload. */
    public readonly sdistUpload: command.remote.CopyToRemote;
    /** The wheelhouse upload, when the release has one. */
    public readonly wheelhouseUpload?: command.remote.CopyToRemote;
    /** The install-and-restart command. */
    public readonly install: command.remote.Command;
    /** The version this host serves once the install succeeded. */
    public readonly version: pulumi.Output<string>;

    constructor(name: string, args: ReleaseInstallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:ReleaseInstall", name, {}, opts);
        const { release } = args;
        const triggers = [release.version, release.sha256];

        this.sdistUpload = new command.remote.CopyToRemote(
            `${name}-sdist`,
            {
                connection: args.connection,
                source: new pulumi.asset.FileAsset(release.sdistPath),
                remotePath: `${REMOTE_INCOMING}/${sdistFileName(release.version)}`,
                triggers,
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        const uploads: pulumi.Resource[] = [this.sdistUpload];
        if (release.wheelhousePath) {
            this.wheelhouseUpload = new command.remote.CopyToRemote(
                `${name}-wheelhouse`,
                {
                    connection: args.connection,
                    source: new pulumi.asset.FileArchive(release.wheelhousePath),
                    remotePath: `${REMOTE_INCOMING}/wheelhouse-${release.version}`,
                    triggers: [...triggers, release.wheelhouseManifest],
                },
                { parent: this, dependsOn: args.dependsOn },
            );
            uploads.push(this.wheelhouseUpload);
        }

        const installCommand = renderInstallCommand(release, args.keepReleases, args.user, args.timeoutSeconds);
        this.install = new command.remote.Command(
            `${name}-install`,
            {
                connection: args.connection,
                create: installCommand,
                delete: renderRemoteCommand("forget", [release.version], { user: args.user, timeoutSeconds: 60 }),
                stdin: release.wheelhouseManifest,
                triggers,
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [...args.dependsOn, ...uploads] },
        );
        this.version = this.install.stdout.apply(() => release.version);
        this.registerOutputs({ version: this.version });
    }
}
