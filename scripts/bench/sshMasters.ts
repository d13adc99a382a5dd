// The deployer's OpenSSH master connections to a fleet's hosts (components/local/on-host.sh keeps
// one a host for SYNC_SSH_PERSIST seconds after its last step). The bench closes those of its own
// fleet before every measured operation, so each starts as an operator's first `up` of the day
// does: no login to reuse. Found by their own command lines (the ControlPath they serve and the
// host they are logged in to), asked to exit through that socket; nothing else is touched.
import { spawnSync } from "child_process";
import * as fs from "fs";

export interface Master {
    pid: number;
    /** user@address it is logged in to. */
    target: string;
    controlPath: string;
}

/** Master connections (ssh … -o ControlMaster=yes … -N -f -- user@host) to any of `addresses`. */
export function mastersTo(addresses: string[]): Master[] {
    const wanted = new Set(addresses);
    const found: Master[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        let argv: string[];
        try {
            if (fs.readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "ssh") {
                continue;
            }
            argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
        } catch {
            continue; // gone meanwhile
        }
        if (!argv.includes("ControlMaster=yes")) {
            continue;
        }
        const target = argv[argv.length - 1];
        const controlPath = argv.find((arg) => arg.startsWith("ControlPath="))?.slice("ControlPath=".length);
        if (controlPath && wanted.has(target.slice(target.indexOf("@") + 1))) {
            found.push({ pid: Number(entry), target, controlPath });
        }
    }
    return found;
}

/** Ask every master to `addresses` to exit (ssh -O exit); how many there were. */
export function closeMasters(addresses: string[]): number {
    const masters = mastersTo(addresses);
    for (const master of masters) {
        spawnSync("ssh", ["-o", `ControlPath=${master.controlPath}`, "-O", "exit", "--", master.target], {
            stdio: "ignore",
            timeout: 10_000,
        });
    }
    // -O exit returns once the master has been told; wait (briefly) for it to be gone.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && mastersTo(addresses).length > 0) {
        spawnSync("sleep", ["0.1"]);
    }
    return masters.length;
}
