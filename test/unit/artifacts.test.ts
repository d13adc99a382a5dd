import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadReleaseArtifact } from "../../components/artifacts";

test("finds the sdist and fingerprints it and the wheelhouse", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    fs.writeFileSync(path.join(dir, "WeaveServer-1.10.tar.gz"), "sdist");
    fs.mkdirSync(path.join(dir, "wheelhouse"));
    fs.writeFileSync(path.join(dir, "wheelhouse", "b-1.0-py3-none-any.whl"), "b");
    fs.writeFileSync(path.join(dir, "wheelhouse", "a-1.0-py3-none-any.whl"), "a");
    fs.writeFileSync(path.join(dir, "wheelhouse", "notes.txt"), "ignored");
    const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
    expect(loadReleaseArtifact(dir, "1.10")).toEqual({
        version: "1.10",
        sdistPath: path.join(dir, "WeaveServer-1.10.tar.gz"),
        sha256: sha("sdist"),
        wheelhousePath: path.join(dir, "wheelhouse"),
        wheelhouseManifest: `${sha("a")}  a-1.0-py3-none-any.whl\n${sha("b")}  b-1.0-py3-none-any.whl\n`,
    });
});

test("a missing sdist or folder is an error naming the path", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sync-art-"));
    expect(() => loadReleaseArtifact(dir, "1.9")).toThrow(
        `sync:version 1.9: release file ${path.join(dir, "WeaveServer-1.9.tar.gz")} is missing; build it or fix sync:artifactDir`,
    );
    expect(() => loadReleaseArtifact(path.join(dir, "nope"), "1.9")).toThrow(
        `sync:artifactDir: ${path.join(dir, "nope")} is not a folder`,
    );
});
