// Peak memory of a whole process tree (node + the pulumi CLI + its plugins), sampled from /proc:
// /usr/bin/time reports the largest single process, not the sum of a tree that runs side by side.
import * as fs from "fs";

export interface TreePeak {
    /** Highest sum of resident memory over the tree at one sample, MB. */
    peakMb: number;
    /** Highest resident memory seen per command name (comm), MB. */
    byCommand: Record<string, number>;
    samples: number;
}

function readTree(): Map<number, { ppid: number; comm: string; rssKb: number }> {
    const table = new Map<number, { ppid: number; comm: string; rssKb: number }>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const close = stat.lastIndexOf(")");
            const comm = stat.slice(stat.indexOf("(") + 1, close);
            const fields = stat.slice(close + 2).split(" ");
            // fields[1] is ppid; fields[21] is rss in pages (stat(5): field 24 overall).
            table.set(Number(entry), { ppid: Number(fields[1]), comm, rssKb: Number(fields[21]) * 4 });
        } catch {
            // the process ended while we read it
        }
    }
    return table;
}

/** Sample the tree under `pid` every `everyMs` until stop() is called. */
export function watchTree(pid: number, everyMs = 200): { stop: () => TreePeak } {
    const peak: TreePeak = { peakMb: 0, byCommand: {}, samples: 0 };
    const sample = (): void => {
        const table = readTree();
        const children = new Map<number, number[]>();
        for (const [child, info] of table) {
            children.set(info.ppid, [...(children.get(info.ppid) ?? []), child]);
        }
        let totalKb = 0;
        const queue = [pid];
        while (queue.length) {
            const current = queue.pop() as number;
            const info = table.get(current);
            if (info) {
                totalKb += info.rssKb;
                peak.byCommand[info.comm] = Math.max(peak.byCommand[info.comm] ?? 0, Math.round(info.rssKb / 1024));
            }
            queue.push(...(children.get(current) ?? []));
        }
        peak.peakMb = Math.max(peak.peakMb, Math.round(totalKb / 1024));
        peak.samples++;
    };
    const timer = setInterval(sample, everyMs);
    sample();
    return {
        stop: () => {
            clearInterval(timer);
            return peak;
        },
    };
}
