// Expectations about host steps that more than one fleet test file makes: what a failure's last
// line says, that a refused step changed nothing, that a killed step was killed.
import { ReleaseArtifact } from "../../components/artifacts";
import { Host, RunResult } from "./hostHarness";

/** The die message, which the issue wants to be the last line of a failure. */
export function lastLine(res: RunResult): string {
    const lines = res.stderr.trim().split("\n");
    return lines[lines.length - 1];
}

/** `[sync sync-2 <step>] ERROR: <message>`, a failure's last line. */
export function error(host: Host, step: string, message: string): string {
    return `[sync ${host.name} ${step}] ERROR: ${message}`;
}

/** Serving `version`, healthy. */
export async function expectServing(host: Host, version = "1.1.4"): Promise<void> {
    expect(await host.readlink("/var/sync/current")).toBe(`releases/${version}`);
    expect(await host.servedVersion()).toBe(version);
    expect((await host.get("/__heartbeat__")).status).toBe(200);
}

/**
 * Run a step that must be refused before any switch with exactly `expected` (the last line): exit
 * 1, stdout `stdout` (a stage prints nothing when it fails; an activate prints the version served,
 * or nothing when refused before it sets its trap), the events end with the failure and hold no
 * switch, and the host's state is what it was before; it still serves `serving`.
 */
export async function expectRefused(
    host: Host,
    step: () => Promise<RunResult>,
    expected: string,
    { stdout = "", serving = "1.1.4" } = {},
): Promise<void> {
    const before = await host.state();
    const n = (await host.events()).length;
    const res = await step();
    expect(lastLine(res)).toBe(expected);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe(stdout);
    const ev = await host.eventsSince(n);
    expect(ev[ev.length - 1]).toBe(`failed ${expected.slice(expected.indexOf("] ERROR: ") + 9)}`);
    expect(ev.filter((e) => /^(switch|reload|health|rollback|finished|staged) /.test(e))).toEqual([]);
    expect(await host.state()).toBe(before);
    await expectServing(host, serving);
}

/** Run a step, killed (the whole step, SIGKILL) when `fragment` reaches the events log. */
export async function killedAt(host: Host, step: () => Promise<RunResult>, fragment: string): Promise<void> {
    const killer = await host.killDeployAt(fragment);
    const killed = await step();
    expect(await killer.result).toBe("killed");
    expectKilled(host, killed);
    expect(killed.stdout).toBe("");
}

/**
 * A step whose host command was killed on the host: no exit status came back (ssh's 255) while the
 * connection stayed up, and on-host.sh says so in the last line.
 */
export function expectKilled(host: Host, killed: RunResult): void {
    expect(killed.code).toBe(1);
    expect(lastLine(killed)).toMatch(
        new RegExp(
            `^\\[sync ${host.name} [a-z]+\\] ERROR: the step on ${host.server.host.replace(/\./g, "\\.")}:22 ended without an exit status after [0-9]+s \\(killed on the host\\?\\)`,
        ),
    );
}

/** Stage `r`, which must succeed. */
export async function staged(host: Host, r: ReleaseArtifact): Promise<void> {
    const res = await host.stage(r);
    expect(res.stderr).not.toContain("ERROR");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`staged ${r.version}\n`);
}
