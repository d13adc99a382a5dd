// Releases whose code runs as the build user while a host builds them: a wheel with a `.pth` file
// (the interpreter runs its `import` line at every start of the release's venv: the build's
// version and import checks), and an sdist that depends on it. Built here, locally, with
// the fixture's own stamp.py on a copy of a sample sdist; nothing in the sample releases changes.
import * as fs from "fs";
import * as path from "path";
import { ReleaseArtifact, releaseArtifactFrom, sdistFileName } from "../../components/artifacts";
import { REPO, run } from "./hostHarness";

/** The sample release the variants are made from (any good one would do). */
const BASE_VERSION = "1.9";

const BUILD = String.raw`
import base64, gzip, hashlib, os, shutil, subprocess, sys, tarfile, zipfile

base, base_version, version, dist, hook, out, stamp = sys.argv[1:8]

# The wheel: <dist>.pth runs "import <dist>_hook" at every interpreter start of the venv.
files = {
    dist + ".pth": "import %s_hook\n" % dist,
    dist + "_hook.py": hook,
    "%s-1.0.dist-info/METADATA" % dist: "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % dist,
    "%s-1.0.dist-info/WHEEL" % dist: "Wheel-Version: 1.0\nGenerator: sync-release-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "%s-1.0.dist-info/RECORD" % dist
def member(name):
    # Fixed time, mode 0644: the same bytes every time.
    info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
    info.external_attr = 0o100644 << 16
    return info
lines = []
wheel_path = os.path.join(out, "wheelhouse", "%s-1.0-py3-none-any.whl" % dist)
with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as whl:
    for name, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append("%s,sha256=%s,%d" % (name, digest, len(data)))
        whl.writestr(member(name), data)
    lines.append(record + ",,")
    whl.writestr(member(record), "\n".join(lines) + "\n")

# The sdist: the base one unpacked, stamped as <version> depending on <dist>==1.0, packed again.
work = os.path.join(out, "sdist-work")
shutil.rmtree(work, ignore_errors=True)
with tarfile.open(base) as tar:
    tar.extractall(work, filter="data")
tree = os.path.join(work, "WeaveServer-" + version)
os.rename(os.path.join(work, "WeaveServer-" + base_version), tree)
subprocess.run([sys.executable, stamp, tree, version, "--extra-dep", dist + "==1.0"], check=True)
for info in ("PKG-INFO", "WeaveServer.egg-info/PKG-INFO"):
    p = os.path.join(tree, info)
    text = open(p, encoding="utf-8").read().replace("Version: %s\n" % base_version, "Version: %s\n" % version, 1)
    open(p, "w", encoding="utf-8").write(text.replace("Requires-Dist:", "Requires-Dist: %s==1.0\nRequires-Dist:" % dist, 1))
with open(os.path.join(tree, "WeaveServer.egg-info/requires.txt"), "a", encoding="utf-8") as req:
    req.write("%s==1.0\n" % dist)
# The same bytes every time (fixed times and owners, members in name order): a used fleet that
# built this version before reuses it rather than refusing it as re-cut.
def normalized(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 1704067200
    return info
with open(os.path.join(out, "WeaveServer-%s.tar.gz" % version), "wb") as raw:
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(tree, arcname="WeaveServer-" + version, filter=normalized)
shutil.rmtree(work)
`;

/**
 * Release `version` (a plain N.N version), bundled like any other, whose wheelhouse also holds
 * `<dist>-1.0`, a wheel whose `<dist>.pth` imports the module `hook` (Python source) at every
 * start of the release's interpreter; the sdist depends on `<dist>==1.0`. Files go to `scratch`.
 */
export async function hookRelease(
    dir: string,
    scratch: string,
    version: string,
    dist: string,
    hook: string,
): Promise<ReleaseArtifact> {
    const out = fs.mkdtempSync(path.join(scratch, `hook-${version}-`));
    const wheelhouse = path.join(out, "wheelhouse");
    fs.mkdirSync(wheelhouse);
    for (const wheel of fs.readdirSync(path.join(dir, "wheelhouse"))) {
        fs.copyFileSync(path.join(dir, "wheelhouse", wheel), path.join(wheelhouse, wheel));
    }
    const made = await run("python3", [
        "-c",
        BUILD,
        path.join(dir, sdistFileName(BASE_VERSION)),
        BASE_VERSION,
        version,
        dist,
        hook,
        out,
        path.join(REPO, "test/fixtures/weave-server/tools/stamp.py"),
    ]);
    if (made.code !== 0) {
        throw new Error(`could not build the hook release ${version}: ${made.stderr}`);
    }
    return releaseArtifactFrom(version, path.join(out, sdistFileName(version)), wheelhouse);
}

// The detached process a pinning release starts: a session of its own, the name a reload once
// waited for, every signal it may ignore ignored, /etc/sync.ini open for good.
const PINNED = String.raw`
import signal, time
for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
held = open("/etc/sync.ini")
while True:
    time.sleep(3600)
`;

/**
 * The hook of a release that tries to pin itself on a host (issue 25): in the app user's processes
 * only, three seconds after the interpreter starts (a daemon's start: after the reload that started
 * it is done), double-fork and exec the detached process above, named `(wsgi:sync)`, its command
 * line ending with `sync-pin-<version>` (what the tests look for).
 */
export function pinningHook(version: string): string {
    return String.raw`import os, pwd, threading, time
PINNED = ${JSON.stringify(PINNED)}
def _pin():
    time.sleep(3)
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.execv("/usr/bin/python3", ["(wsgi:sync)", "-I", "-S", "-c", PINNED, "sync-pin-${version}"])
try:
    app_user = os.getuid() == pwd.getpwnam("sync").pw_uid
except KeyError:
    app_user = False
if app_user:
    threading.Thread(target=_pin, daemon=True).start()
`;
}
