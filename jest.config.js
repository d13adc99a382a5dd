/** Three tiers: unit (mocks, pure functions), fleet (real hosts over SSH), engine (real Pulumi CLI). */
const tier = (name, timeout) => ({
    displayName: name,
    preset: "ts-jest",
    testEnvironment: "node",
    roots: [`<rootDir>/test/${name}`],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] },
    testTimeout: timeout,
});

module.exports = {
    projects: [tier("unit", 60000), tier("fleet", 900000), tier("engine", 1800000)],
};
