import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostStepArgs, renderRuntimeStep } from "./remoteCommand";

/** Arguments of a RuntimeDir. */
export interface RuntimeDirArgs extends HostStepArgs {
    /** mod_wsgi daemon processes (restarted one at a time on reload). */
    wsgiProcesses: number;
    /** Threads per mod_wsgi daemon process. */
    wsgiThreads: number;
}

/**
 * The isolated runtime directory on one host: installs the remote scripts (content-addressed
 * under /var/sync/scripts, sent on stdin so the command line stays one short line), preflights the
 * platform (Debian, Apache with mod_wsgi, the Python it was built for, python3-venv), and sets up
 * the `sync` service user, /var/sync, the WSGI loader and the Apache site. It has no remote delete:
 * destroying it leaves the host serving, and never needs the host to answer.
 */
export class RuntimeDir extends pulumi.ComponentResource {
    /** The remote setup. */
    public readonly setup: command.remote.Command;

    constructor(name: string, args: RuntimeDirArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:server:RuntimeDir", name, {}, opts);
        const step = renderRuntimeStep(args.user, args.wsgiProcesses, args.wsgiThreads, {
            user: args.user,
            timeoutSeconds: args.timeoutSeconds,
        });
        this.setup = new command.remote.Command(
            `${name}-setup`,
            {
                connection: args.connection,
                create: step.command,
                update: step.command,
                stdin: step.stdin,
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({});
    }
}
