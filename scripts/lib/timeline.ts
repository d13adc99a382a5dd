// A host's timeline: /var/sync/events.log ("<epoch seconds.ns> <step> <detail>" a line, written by
// the host scripts' `step`) read into events and the seconds each step took. The one reader the
// engine tier, the benchmarks and their timeline pictures share.

/** One line of a host's /var/sync/events.log. */
export interface HostEvent {
    /** Epoch seconds. */
    at: number;
    step: string;
    detail: string;
}

/** The events of an events.log text (blank lines skipped). */
export function parseEvents(text: string): HostEvent[] {
    return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => {
            const [at, step, ...detail] = line.split(" ");
            return { at: Number(at), step, detail: detail.join(" ") };
        });
}

/** Seconds in each step: an event lasts until the host's next event. */
export function stepSeconds(events: HostEvent[]): Record<string, number> {
    const durations: Record<string, number> = {};
    for (let i = 0; i + 1 < events.length; i++) {
        durations[events[i].step] = (durations[events[i].step] ?? 0) + events[i + 1].at - events[i].at;
    }
    return durations;
}

/** Seconds from the first `from` event to the first `to` event after it (NaN when either is missing). */
export function secondsBetween(events: HostEvent[], from: string, to: string): number {
    const first = events.find((event) => event.step === from);
    const last = first && events.find((event) => event.at >= first.at && event.step === to);
    return first && last ? last.at - first.at : Number.NaN;
}
