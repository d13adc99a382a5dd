/**
 * Tiers: unit (mocks, pure functions), fleet (real hosts over SSH), engine (real Pulumi CLI),
 * release (the release command building in the fleet's rootfs, one install on a fleet host), and
 * engine-cli: the plain `pulumi up` of a project copy (test/engine/plainCli.test.ts), which needs a
 * fresh fleet of its own, so scripts/test-all.sh runs it after the engine tier on a new fleet.
 */
const tier = (name, options = {}) => ({
    displayName: name,
    preset: "ts-jest",
    testEnvironment: "node",
    roots: [`<rootDir>/test/${options.dir ?? name}`],
    testMatch: options.testMatch ?? ["**/*.test.ts"],
    testPathIgnorePatterns: ["/node_modules/", ...(options.ignore ?? [])],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] },
});

module.exports = {
    // A tier-level timeout is not a per-project option; the fleet harness sets its own too.
    testTimeout: 900000,
    projects: [
        tier("unit"),
        tier("fleet"),
        tier("engine", { ignore: ["/plainCli\\.test\\.ts$"] }),
        tier("engine-cli", { dir: "engine", testMatch: ["**/plainCli.test.ts"] }),
        tier("release"),
    ],
};
