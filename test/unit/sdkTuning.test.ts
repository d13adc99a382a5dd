// components/sdkTuning.ts patches three things of the SDK this version ships; each must still be
// there, or the patch silently does nothing (and the preview is twice as slow).
import { tunePulumiSdk } from "../../components/sdkTuning";

afterEach(() => {
    jest.resetModules();
    delete process.env.SYNC_PROGRAM_DEBUG;
});

test("turns off stack capture, source positions and debug messages in this SDK version", async () => {
    const saved = Error.stackTraceLimit;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const log = require("@pulumi/pulumi/log") as typeof import("@pulumi/pulumi/log");
    const before = {
        callsites: (pulumi.Resource as unknown as { callsites(): unknown[] }).callsites,
        debug: log.debug,
    };
    try {
        expect(tunePulumiSdk(pulumi)).toEqual(["stack traces", "source positions", "debug messages"]);
        expect(Error.stackTraceLimit).toBe(1);
        expect((pulumi.Resource as unknown as { callsites(): unknown[] }).callsites()).toEqual([]);
        expect(log.debug).not.toBe(before.debug);
        await expect(log.debug("x")).resolves.toBeUndefined();
        // the SDK reaches both through the objects patched here (resource.js: Resource.callsites(),
        // runtime/*.js: log.debug(...) on the module)
        expect(before.callsites).toBeInstanceOf(Function);
    } finally {
        Error.stackTraceLimit = saved;
    }
});

test("SYNC_PROGRAM_DEBUG=1 keeps everything", () => {
    process.env.SYNC_PROGRAM_DEBUG = "1";
    const saved = Error.stackTraceLimit;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    expect(tunePulumiSdk(pulumi)).toEqual([]);
    expect(Error.stackTraceLimit).toBe(saved);
});
