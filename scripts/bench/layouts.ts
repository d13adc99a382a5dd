// The two layouts one bench run measures side by side: this tree ("new": every host step through
// the deployer's OpenSSH, hosts read before planning) and today's layout (the commit
// scripts/bench/old-layout.sh unpacks: probes, CopyToRemote and command:remote:* steps, run by its
// own stand-in plugin). Each runs its OWN runner (scripts/bench/engineOp.ts of its tree, which
// opens its tree's scripts/lib/localStack.ts and program) under this checkout's engine.
import * as fs from "fs";
import * as path from "path";
import { REPO, engineDir, pulumiHome } from "../lib/localStack";

export type LayoutName = "new" | "old";

export interface Layout {
    name: LayoutName;
    /** How the report names it. */
    title: string;
    /** The source tree whose runner and program run (its scripts/bench/engineOp.ts). */
    tree: string;
    /** Its compiled tree (tsc output of `tree`), when the bench built one. */
    compiledDir?: string;
    /** What its runner needs in its environment besides the stack's (engine cache, PULUMI_HOME). */
    env: Record<string, string>;
    /** The CLI binary and PULUMI_HOME its runner ends up with (for config changes by hand). */
    pulumiBinary: string;
    pulumiHome: string;
    /** Whether its program reads the hosts before planning (sync:observe). */
    observes: boolean;
}

/** The engine version a tree pins (tools/engine/versions.env). */
function pinnedEngine(tree: string): string {
    const text = fs.readFileSync(path.join(tree, "tools/engine/versions.env"), "utf8");
    const version = /^PULUMI_ENGINE_VERSION=(\S+)$/m.exec(text)?.[1];
    if (!version) {
        throw new Error(`${tree}/tools/engine/versions.env does not set PULUMI_ENGINE_VERSION`);
    }
    return version;
}

/**
 * A layout by name. "old" comes from what scripts/bench/old-layout.sh printed, in the environment:
 * SYNC_BENCH_OLD_TREE, SYNC_BENCH_OLD_RELEASE_CACHE, SYNC_BENCH_OLD_PULUMI_HOME (and
 * SYNC_BENCH_OLD_COMPILED for its compiled tree).
 */
export function layoutOf(name: string, compiledDir?: string): Layout {
    if (name === "new") {
        return {
            name,
            title: "this commit",
            tree: REPO,
            compiledDir,
            env: {},
            pulumiBinary: path.join(engineDir(), "bin", "pulumi"),
            pulumiHome: pulumiHome(),
            observes: true,
        };
    }
    if (name === "old") {
        const need = (key: string): string => {
            const value = process.env[key];
            if (!value) {
                throw new Error(`${key} is not set: run scripts/bench/old-layout.sh OUT and export what it prints`);
            }
            return value;
        };
        const tree = need("SYNC_BENCH_OLD_TREE");
        const cache = need("SYNC_BENCH_OLD_RELEASE_CACHE");
        const home = need("SYNC_BENCH_OLD_PULUMI_HOME");
        const commit = fs.existsSync(path.join(tree, ".commit"))
            ? fs.readFileSync(path.join(tree, ".commit"), "utf8").trim()
            : "old";
        return {
            name,
            title: `today's layout (${commit})`,
            tree,
            compiledDir: compiledDir ?? process.env.SYNC_BENCH_OLD_COMPILED,
            env: { SYNC_RELEASE_CACHE: cache, SYNC_RELEASE_PULUMI_HOME: home },
            pulumiBinary: fs.realpathSync(path.join(cache, "engine", pinnedEngine(tree), "bin", "pulumi")),
            pulumiHome: home,
            observes: false,
        };
    }
    throw new Error(`unknown layout ${JSON.stringify(name)} (new or old)`);
}
