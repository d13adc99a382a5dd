// The timeline picture of one `up`: a row per host with its events.log steps (colours, from
// scripts/lib/timeline.ts through upAnalysis.ts) over its engine steps (a thin bar each: what the
// engine waited on, login included), and a first row for the runner before the first host step.
import { UpAnalysis, round } from "./upAnalysis";

/** Host events, by the step the host scripts log. */
const EVENT_COLOURS: Record<string, string> = {
    receive: "#c49c94",
    verify: "#bcbd22",
    reuse: "#dbdb8d",
    preflight: "#17becf",
    venv: "#9edae5",
    pip: "#1f77b4",
    staged: "#f7f7f7",
    ini: "#7f7f7f",
    switch: "#d62728",
    reload: "#ff7f0e",
    health: "#2ca02c",
    prune: "#9467bd",
    rollback: "#e377c2",
    check: "#c7c7c7",
};

/** Engine steps (thin bars under each host's events). */
const STEP_COLOURS: Record<string, string> = {
    "probe-stage": "#000000",
    "probe-activate": "#000000",
    bundle: "#8c564b",
    stage: "#3b4cc0",
    ini: "#555555",
    activate: "#b40426",
};

/** Runner phases in the first row. */
const RUNNER_COLOURS = {
    runner: "#dddddd",
    open: "#bbbbbb",
    program: "#999999",
    beforeSteps: "#666666",
};

function escapeXml(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function timelineSvg(up: UpAnalysis, title: string): string {
    const left = 90;
    const width = 1000;
    const rowHeight = 22;
    const top = 50;
    const t0 = up.processStart;
    const total = Math.max(up.end - t0, 1);
    const x = (t: number): number => left + ((t - t0) / total) * (width - left - 20);
    const bar = (from: number, to: number, y: number, h: number, fill: string, label: string): string =>
        `<rect x="${x(from).toFixed(1)}" y="${y}" width="${Math.max(x(to) - x(from), 0.5).toFixed(1)}" height="${h}" fill="${fill}"><title>${escapeXml(label)} ${round(to - from)} s</title></rect>`;
    const rows = up.hosts.length + 1;
    const height = top + rows * rowHeight + 90;
    const parts: string[] = [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
        `<rect width="${width}" height="${height}" fill="white"/>`,
        `<text x="10" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
        `<text x="10" y="34">wall ${up.wallSeconds} s from process start; each host: its /var/sync/events.log steps (colours) over its engine steps (thin bars, login included)</text>`,
    ];
    const tick = total > 60 ? 10 : 5;
    for (let s = 0; s <= total; s += tick) {
        parts.push(
            `<line x1="${x(t0 + s)}" y1="${top - 4}" x2="${x(t0 + s)}" y2="${top + rows * rowHeight}" stroke="#ddd"/>`,
            `<text x="${x(t0 + s)}" y="${top + rows * rowHeight + 14}" text-anchor="middle">${s}s</text>`,
        );
    }
    // Row 0: the runner, the stack opening, the program until its first resource, then until the
    // first host step (the read before planning, where there is one; registering the resources).
    const modules = t0 + up.runnerLoadSeconds;
    const opened = modules + up.stackOpenSeconds;
    const firstResource = opened + up.programStartSeconds;
    const firstStep = t0 + up.beforeFirstStepSeconds;
    parts.push(
        `<text x="10" y="${top + 15}">runner</text>`,
        bar(t0, modules, top + 3, rowHeight - 6, RUNNER_COLOURS.runner, "node + the runner's modules"),
        bar(modules, opened, top + 3, rowHeight - 6, RUNNER_COLOURS.open, "stack open"),
        bar(opened, firstResource, top + 3, rowHeight - 6, RUNNER_COLOURS.program, "CLI start → first resource"),
        bar(
            firstResource,
            firstStep,
            top + 3,
            rowHeight - 6,
            RUNNER_COLOURS.beforeSteps,
            "first resource → first host step (program, read before planning)",
        ),
    );
    const inOrder = [...up.hosts].sort((a, b) => a.host.localeCompare(b.host, "en", { numeric: true }));
    inOrder.forEach((host, index) => {
        const y = top + (index + 1) * rowHeight;
        const logins = host.logins === undefined ? "" : ` (${host.logins} login${host.logins === 1 ? "" : "s"})`;
        parts.push(`<text x="10" y="${y + 15}">${escapeXml(host.host + logins)}</text>`);
        for (const step of host.steps) {
            parts.push(bar(step.start, step.end, y + rowHeight - 7, 4, STEP_COLOURS[step.step] ?? "#000", step.step));
        }
        for (let i = 0; i + 1 < host.events.length; i++) {
            const event = host.events[i];
            const next = host.events[i + 1];
            parts.push(bar(event.at, next.at, y + 3, rowHeight - 11, EVENT_COLOURS[event.step] ?? "#000", event.step));
        }
    });
    // Legend: the host's events on the first lines, the engine's steps on the last.
    const legendTop = top + rows * rowHeight + 30;
    Object.entries(EVENT_COLOURS).forEach(([name, colour], index) => {
        const lx = left + (index % 12) * 72;
        const ly = legendTop + Math.floor(index / 12) * 18;
        parts.push(
            `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${colour}"/>`,
            `<text x="${lx + 13}" y="${ly + 9}">${name}</text>`,
        );
    });
    const stepsLine = legendTop + Math.ceil(Object.keys(EVENT_COLOURS).length / 12) * 18;
    Object.entries(STEP_COLOURS)
        .filter(([name]) => name !== "probe-activate")
        .forEach(([name, colour], index) => {
            const lx = left + index * 150;
            parts.push(
                `<rect x="${lx}" y="${stepsLine + 6}" width="10" height="4" fill="${colour}"/>`,
                `<text x="${lx + 13}" y="${stepsLine + 9}">${name === "probe-stage" ? "probe" : name} (engine step)</text>`,
            );
        });
    parts.push("</svg>");
    return `${parts.join("\n")}\n`;
}
