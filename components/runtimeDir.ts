import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostStepArgs, renderRemoteCommand } from "./remoteCommand";

/** Arguments of a RuntimeDir. */
export interface RuntimeDirArgs extends HostStepArgs {
    /** mod_wsgi daemon processes (restarted one at a time on reload). */
    wsgiProcesses: number;
    /** Threads per mod_wsgi daemon process. */
    wsgiThreads: number;
}

/**
 * The isolated runtime directory on one host: a preflight of the platform (Debian, Apache with
 * mod_wsgi, the Python it was built for, python3-venv), the `sync` service user, /var/sync, the
 * WSGI loader and the Apache site. Destroying it leaves the host as it is: removing a serving
 * site is not something a `pulumi destroy` should do by surprise.
 */
export class RuntimeDir extends pulumi.ComponentResource {
    /** The remote setup. */
    public readonly setup: command.remote.Command;

    constructor(name: string, args: RuntimeDirArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:RuntimeDir", name, {}, opts);
        const setupCommand = renderRemoteCommand(
            "runtime",
            [args.user, String(args.wsgiProcesses), String(args.wsgiThreads)],
            { user: args.user, timeoutSeconds: args.timeoutSeconds },
        );
        this.setup = new command.remote.Command(
            `${name}-setup`,
            { connection: args.connection, create: setupCommand, update: setupCommand, addPreviousOutputInEnv: false },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({});
    }
}
