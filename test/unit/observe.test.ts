// Looking before planning (components/observe.ts): what a host's answer may say, which steps its
// drift makes run, how a host that can't be read is reported, and the bounds. The host side
// (components/local/observe-host.sh) on real hosts is the fleet tier's; drift through the engine,
// the engine tier's.
import { observedReport } from "../../components/fleet";
import { renderStepCommand } from "../../components/hostStep";
import {
    HostObservation,
    HostReader,
    OBSERVE_SECONDS,
    ObservationTarget,
    driftNote,
    driftOf,
    observationError,
    observeFleet,
    observeHost,
    parseObservation,
    renderObserveCommand,
    renderObserveScript,
} from "../../components/observe";
import { DEPLOY_KEY } from "./fixtures";

const IN_SYNC: HostObservation = {
    current: "1.1.4",
    sealed: "yes",
    deployed: "1.1.4",
    switching: "no",
    serves: "1.1.4",
    staged: "yes",
    scripts: "yes",
    ini: "applied",
};
const printed = (o: HostObservation): string =>
    `${Object.entries(o)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n")}\n`;
const EXPECTED = { version: "1.1.4", scriptsHash: "0123456789abcdef" };
const TARGET: ObservationTarget = {
    server: "sync-2",
    user: "deploy",
    host: "198.18.1.12",
    port: 22,
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDy1QAWCjH0vSrwQhHfFLI0WOzPGa+15dm7JrKzJtqt9",
    version: "1.1.4",
    sdistSha256: "a".repeat(64),
    scriptsHash: "0123456789abcdef",
};

describe("parseObservation", () => {
    test("the eight fields a host prints", () => {
        expect(parseObservation(printed(IN_SYNC))).toEqual(IN_SYNC);
    });

    test.each([
        ["a field twice", `${printed(IN_SYNC)}current=1.1.5\n`, 'unexpected observation line "current=1.1.5"'],
        ["an unknown field", `${printed(IN_SYNC)}secret=x\n`, 'unexpected observation line "secret=x"'],
        [
            "app text where a version goes",
            printed({ ...IN_SYNC, serves: "hello world" }),
            'unexpected observation line "serves=hello world"',
        ],
        ["a missing field", printed(IN_SYNC).replace(/^ini=.*\n/m, ""), "the observation lacks ini"],
        ["nothing", "", "the observation lacks current, sealed, deployed, switching, serves, staged, scripts, ini"],
    ])("refuses %s", (_label, stdout, message) => {
        expect(() => parseObservation(stdout)).toThrow(message);
    });
});

describe("driftOf: which steps a host's drift makes run", () => {
    test.each<[string, Partial<HostObservation>, Partial<ReturnType<typeof driftOf>>]>([
        ["in sync", {}, {}],
        [
            "a fresh host (nothing installed, nothing deployed)",
            {
                current: "none",
                sealed: "no",
                deployed: "none",
                serves: "none",
                staged: "no",
                scripts: "no",
                ini: "none",
            },
            {},
        ],
        [
            "current switched by hand",
            { current: "1.1.5", serves: "1.1.5" },
            { activate: ["current 1.1.5, serves 1.1.5, expected 1.1.4 (the last deploy)"] },
        ],
        ["serving something else than current", { serves: "1.1.3" }, { activate: ["serves 1.1.3, expected 1.1.4"] }],
        ["the app silent", { serves: "none" }, { activate: ["the app does not answer"] }],
        [
            "the current release deleted",
            { sealed: "gone", staged: "no" },
            {
                stage: ["release 1.1.4 is no longer built on the host"],
                activate: ["release 1.1.4 is gone from the host"],
            },
        ],
        [
            "the current release no longer sealed",
            { sealed: "no", staged: "no" },
            {
                stage: ["release 1.1.4 is no longer built on the host"],
                activate: ["release 1.1.4 is not sealed and recorded by root"],
            },
        ],
        ["a switch cut off", { switching: "yes" }, { activate: ["a switch was cut off before its health check"] }],
        [
            "current removed",
            { current: "none", serves: "none" },
            { activate: ["nothing is current, the last deploy finished 1.1.4"] },
        ],
        ["current pointing elsewhere", { current: "bad" }, { activate: ["current points outside the releases"] }],
        [
            "the stack's scripts gone",
            { scripts: "no" },
            { stage: ["host scripts 0123456789abcdef are missing or damaged"] },
        ],
        ["the settings edited", { ini: "changed" }, { ini: ["/etc/sync.ini changed on the host"] }],
        ["the settings removed", { ini: "missing" }, { ini: ["/etc/sync.ini is missing"] }],
    ])("%s", (_label, observed, expected) => {
        expect(driftOf({ ...IN_SYNC, ...observed }, EXPECTED)).toEqual({
            stage: [],
            ini: [],
            activate: [],
            ...expected,
        });
    });

    test("a host in sync with its last deploy while the stack wants another release: no drift (the state plans it)", () => {
        expect(driftOf({ ...IN_SYNC, staged: "no" }, { ...EXPECTED, version: "1.1.5" })).toEqual({
            stage: [],
            ini: [],
            activate: [],
        });
    });

    test("a note says why and when", () => {
        expect(driftNote(["a", "b"], "2026-12-07T19:33:12Z")).toBe("a; b (observed 2026-12-07T19:33:12Z)");
    });
});

describe("observeHost / observeFleet", () => {
    const at = () => new Date("2026-12-07T19:33:12.345Z");

    test("reads one host through on-host.sh: observe-host.sh as root on the remote bash's stdin, the key in the secret stdin", async () => {
        const seen: { command: string; stdin: string; seconds: number }[] = [];
        const read: HostReader = async (command, stdin, seconds) => {
            seen.push({ command, stdin, seconds });
            return { code: 0, stdout: printed(IN_SYNC), stderr: "", timedOut: false };
        };
        expect(await observeHost(TARGET, DEPLOY_KEY.privateKey, read, at)).toEqual({
            server: "sync-2",
            at: "2026-12-07T19:33:12Z",
            observed: IN_SYNC,
        });
        expect(seen).toHaveLength(1);
        expect(seen[0].command).toBe(renderStepCommand("observe", "sync-2"));
        expect(seen[0].seconds).toBe(OBSERVE_SECONDS);
        const script = Buffer.from(renderObserveScript(TARGET)).toString("base64");
        expect(seen[0].stdin).toContain(
            `\non_host 'deploy' '198.18.1.12' '22' '${TARGET.hostKey}' 'base64:${script}' 'sudo -n timeout 20 bash -s' <<'SYNC_ON_HOST_KEY'\n${DEPLOY_KEY.privateKey}`,
        );
        expect(renderObserveScript(TARGET)).toMatch(/\nobserve '1\.1\.4' 'a{64}' '0123456789abcdef'\n$/);
        expect(renderObserveCommand("root")).toBe("timeout 20 bash -s");
    });

    test.each([
        [
            "the step's own error line",
            {
                code: 1,
                stderr: "warning\n[sync sync-2 observe] ERROR: ssh to 198.18.1.12:22 failed: Connection refused (after 0s)\n",
                timedOut: false,
            },
            "ssh to 198.18.1.12:22 failed: Connection refused (after 0s)",
        ],
        [
            "the bound",
            { code: null, stderr: "", timedOut: true },
            "no answer within 30s (frozen, overloaded or cut off?)",
        ],
        ["no output at all", { code: 255, stderr: "", timedOut: false }, "exit status 255"],
    ])("a host that can't be read says why in one line: %s", async (_label, result, error) => {
        const read: HostReader = async () => ({ stdout: "", ...result });
        expect(await observeHost(TARGET, DEPLOY_KEY.privateKey, read, at)).toEqual({
            server: "sync-2",
            at: "2026-12-07T19:33:12Z",
            error,
        });
        expect(observationError(result)).toBe(error);
    });

    test("an answer that is not an observation is reported, never trusted", async () => {
        const read: HostReader = async () => ({ code: 0, stdout: "current=$(id)\n", stderr: "", timedOut: false });
        expect((await observeHost(TARGET, DEPLOY_KEY.privateKey, read, at)).error).toBe(
            'unexpected observation line "current=$(id)"',
        );
    });

    test("a fleet is read at most `parallel` hosts at once, results in order", async () => {
        let running = 0;
        let most = 0;
        const read: HostReader = async (command) => {
            running += 1;
            most = Math.max(most, running);
            await new Promise((resolve) => setTimeout(resolve, 20));
            running -= 1;
            return command.includes("'h3'")
                ? { code: 1, stdout: "", stderr: "[sync h3 observe] ERROR: down\n", timedOut: false }
                : { code: 0, stdout: printed(IN_SYNC), stderr: "", timedOut: false };
        };
        const targets = [1, 2, 3, 4, 5, 6, 7].map((i) => ({ ...TARGET, server: `h${i}` }));
        const results = await observeFleet(targets, DEPLOY_KEY.privateKey, 3, read);
        expect(most).toBe(3);
        expect(results.map((r) => [r.server, r.error ?? "ok"])).toEqual([
            ["h1", "ok"],
            ["h2", "ok"],
            ["h3", "down"],
            ["h4", "ok"],
            ["h5", "ok"],
            ["h6", "ok"],
            ["h7", "ok"],
        ]);
    });

    test("the stack output says what a host served and when, or why it was not read", () => {
        expect(observedReport({ server: "s", at: "T", observed: IN_SYNC })).toBe("1.1.4 at T");
        expect(observedReport({ server: "s", at: "T", observed: { ...IN_SYNC, serves: "other" } })).toBe(
            "nothing at T",
        );
        expect(observedReport({ server: "s", at: "T", error: "down" })).toBe("not observed at T: down");
    });
});
