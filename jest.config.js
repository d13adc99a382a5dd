/**
 * Four tiers: unit (mocks, pure functions), fleet (real hosts over SSH), engine (real Pulumi CLI),
 * release (the release command building in the fleet's rootfs, one install on a fleet host).
 */
const tier = (name) => ({
    displayName: name,
    preset: "ts-jest",
    testEnvironment: "node",
    roots: [`<rootDir>/test/${name}`],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] },
});

module.exports = {
    // A tier-level timeout is not a per-project option; the fleet harness sets its own too.
    testTimeout: 900000,
    projects: [tier("unit"), tier("fleet"), tier("engine"), tier("release")],
};
