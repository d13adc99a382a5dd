// prune_order.py: the hosts order releases by PEP 440 without the `packaging` module (no release's
// interpreter or pip runs as root). Checked against an independent PEP 440 implementation and run
// for real on a releases directory.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pep440 from "@renovatebot/pep440";

const SCRIPT = path.join(__dirname, "../../components/remote/prune_order.py");

/** The versions in the order prune_order.py's sort_key gives (python3 -I, as the hosts run it). */
function hostOrder(versions: string[]): string[] {
    const program = [
        "import json, runpy, sys",
        `key = runpy.run_path(${JSON.stringify(SCRIPT)})["sort_key"]`,
        "versions = json.load(sys.stdin)",
        "print(json.dumps(sorted(versions, key=key)))",
    ].join("\n");
    return JSON.parse(execFileSync("python3", ["-I", "-c", program], { input: JSON.stringify(versions) }).toString());
}

const VERSIONS = [
    "1.0",
    "1.0.0",
    "1.0.post1",
    "1.0a1",
    "1.0.dev1",
    "1.0b2",
    "1.0rc1",
    "1.0rc10",
    "1.0rc2",
    "1.1",
    "1.10",
    "1.9",
    "1.11",
    "1.0a1.dev2",
    "1.0.post1.dev3",
    "2",
    "2.0.1",
    "0.9.9",
    "10.0",
    "1.0a1.post2",
    "1.2.3.4.5",
];

test("sorts normalized public versions exactly as PEP 440 does (1.10 > 1.9, 1.0.dev1 < 1.0a1 < 1.0)", () => {
    const expected = [...VERSIONS].sort(pep440.compare);
    const got = hostOrder(VERSIONS);
    // 1.0 and 1.0.0 are equal versions: either order is PEP 440's; compare by rank
    expect(got.map((v) => expected.findIndex((e) => pep440.compare(e, v) === 0))).toEqual(
        expected.map((v) => expected.findIndex((e) => pep440.compare(e, v) === 0)),
    );
    expect(got.indexOf("1.9")).toBeLessThan(got.indexOf("1.10"));
});

test("prunes beyond keep in PEP 440 order, never current or previous; unrecorded trees go too", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-prune-"));
    const releases = path.join(dir, "releases");
    const records = path.join(dir, ".built");
    fs.mkdirSync(releases);
    fs.mkdirSync(records);
    for (const v of ["1.9", "1.10", "1.11", "1.2", "2.0rc1"]) {
        fs.mkdirSync(path.join(releases, v));
        fs.writeFileSync(path.join(records, v), "sha\n");
    }
    fs.mkdirSync(path.join(releases, "3.0")); // a killed build: no record
    fs.mkdirSync(path.join(releases, ".trash.1.1.123")); // not a release
    const pruned = (keep: number, current: string, previous: string): string[] =>
        execFileSync("python3", ["-I", SCRIPT, releases, records, String(keep), current, previous])
            .toString()
            .split("\n")
            .filter(Boolean);
    // keep 2: current and previous only, whatever their rank
    expect(pruned(2, "1.10", "1.2")).toEqual(["3.0", "2.0rc1", "1.11", "1.9"]);
    // keep 3: the newest other one too (2.0rc1 > 1.11)
    expect(pruned(3, "1.10", "1.9")).toEqual(["3.0", "1.11", "1.2"]);
    expect(pruned(10, "1.11", "")).toEqual(["3.0"]);
});
