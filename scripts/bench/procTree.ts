// Peak memory of a whole process tree (node + the pulumi CLI + its plugins), sampled from /proc:
// /usr/bin/time reports the largest single process, not the sum of a tree that runs side by side.
import * as fs from "fs";

export interface TreePeak {
    /** Highest sum of resident memory over the tree at one sample, MB. */
    peakMb: number;
    /** Highest resident memory seen per command name (comm), MB. */
    byCommand: Record<string, number>;
    /** CPU seconds (user + system) per command name, from each process's last sample. */
    cpuSecondsByCommand: Record<string, number>;
    samples: number;
}

interface ProcInfo {
    ppid: number;
    comm: string;
    rssKb: number;
    cpuTicks: number;
}

function readTree(): Map<number, ProcInfo> {
    const table = new Map<number, ProcInfo>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const close = stat.lastIndexOf(")");
            const comm = stat.slice(stat.indexOf("(") + 1, close);
            const fields = stat.slice(close + 2).split(" ");
            // fields[1] is ppid; [11], [12] utime, stime (ticks); [21] rss in pages (proc(5): fields 4, 14, 15, 24).
            table.set(Number(entry), {
                ppid: Number(fields[1]),
                comm,
                rssKb: Number(fields[21]) * 4,
                cpuTicks: Number(fields[11]) + Number(fields[12]),
            });
        } catch {
            // the process ended while we read it
        }
    }
    return table;
}

/** Sample the tree under `pid` every `everyMs` until stop() is called. */
export function watchTree(pid: number, everyMs = 200): { stop: () => TreePeak } {
    const peak: TreePeak = { peakMb: 0, byCommand: {}, cpuSecondsByCommand: {}, samples: 0 };
    const cpu = new Map<number, { comm: string; ticks: number }>();
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
                cpu.set(current, { comm: info.comm, ticks: info.cpuTicks });
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
            for (const { comm, ticks } of cpu.values()) {
                // 100 ticks a second (USER_HZ on Linux)
                peak.cpuSecondsByCommand[comm] = Number(
                    ((peak.cpuSecondsByCommand[comm] ?? 0) + ticks / 100).toFixed(1),
                );
            }
            return peak;
        },
    };
}
