import { parseEvents, secondsBetween, stepSeconds } from "../../scripts/lib/timeline";

const LOG = [
    "100.0 preflight 1.2",
    "100.5 receive 1.2",
    "101.0 pip 1.2 (uv 0.13.8, offline)",
    "",
    "104.0 staged 1.2",
    "110.0 switch 1.1 -> 1.2",
    "111.5 finished 1.2",
].join("\n");

test("an events.log reads as events, a step lasting until the next; spans between steps", () => {
    const events = parseEvents(LOG);
    expect(events[2]).toEqual({ at: 101, step: "pip", detail: "1.2 (uv 0.13.8, offline)" });
    expect(events).toHaveLength(6);
    expect(stepSeconds(events)).toEqual({ preflight: 0.5, receive: 0.5, pip: 3, staged: 6, switch: 1.5 });
    expect(secondsBetween(events, "preflight", "staged")).toBe(4);
    expect(secondsBetween(events, "switch", "preflight")).toBeNaN();
});
