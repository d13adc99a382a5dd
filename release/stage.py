"""The steps of a release that run on the hosts' platform (Debian 12, CPython 3.11, x86_64).

usage: python3.11 -I stage.py fetch-uv|inspect|test|build|wheelhouse|verify --result FILE [options]

release/release.ts runs each step through rootfs-run.sh, inside the fleet's rootfs, as an
unprivileged user; `verify` without a network. Every step writes its outcome as one JSON object to
--result (also on failure, with "error") and logs to stderr. Standard library only: the rootfs
has nothing else. pip is Debian's own wheel (what the hosts run); uv is the pinned wheel from
layout.sh, which release.ts has checked against its sha256 before any step runs it: it makes the
venvs and builds the sdist (fast), and installs releases as the hosts will.
"""

import argparse
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import normalize_sdist  # noqa: E402  (beside this file)

PYTHON = "/usr/bin/python3.11"  # what the hosts build releases with (mod_wsgi's interpreter)
# Debian's pip (python3-pip-whl, a dependency of python3-venv), run from its wheel without a venv.
PIP = [PYTHON, "/usr/share/python-wheels/pip-23.0.1-py3-none-any.whl/pip"]
UV = "/tmp/uv/uv"
# Where tests are looked for: pytest's default file names, outside hidden and cache folders.
TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
SKIP_DIRS = {"__pycache__", "node_modules", "venv", "build", "dist"}
# The hosts' pip platform for a wheel that must match the uv pinned in layout.sh.
UV_PLATFORM = ("--platform", "manylinux_2_17_x86_64", "--python-version", "3.11")
# Runs in the installed release: the WSGI module imports and has an `application`, and the
# distribution's version is what was released (argv: module, distribution).
CHECK = """
import importlib, importlib.metadata, json, sys
module = importlib.import_module(sys.argv[1])
if not callable(getattr(module, "application", None)):
    sys.exit("%s has no callable `application`" % sys.argv[1])
print(json.dumps({"version": importlib.metadata.version(sys.argv[2]), "file": module.__file__}))
"""


class StageError(Exception):
    """A step failed; the message is the one line the release prints."""


def log(message):
    print("stage: %s" % message, file=sys.stderr, flush=True)


def run(argv, what, cwd=None, env=None):
    """Run argv (no shell) with its output on stderr; StageError naming `what` on failure."""
    log("$ " + " ".join(argv))
    started = time.monotonic()
    code = subprocess.run(argv, cwd=cwd, env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL).returncode
    log("  (%.1fs, exit %d)" % (time.monotonic() - started, code))
    if code != 0:
        raise StageError("%s failed (exit %d)" % (what, code))


def unpack_uv(wheel):
    """The uv binary of the (already checked) pinned wheel, at UV."""
    if not os.path.exists(UV):
        with zipfile.ZipFile(wheel) as whl:
            member = next((n for n in whl.namelist() if re.match(r"^uv-[^/]+\.data/scripts/uv$", n)), None)
            if member is None:
                raise StageError("%s holds no uv binary" % os.path.basename(wheel))
            os.makedirs(os.path.dirname(UV))
            with open(UV, "wb") as fh:
                fh.write(whl.read(member))
        os.chmod(UV, 0o755)
    return UV


def make_venv(path, uv_wheel):
    run([unpack_uv(uv_wheel), "venv", "--quiet", "--python", PYTHON, path], "creating the venv %s" % path)
    return os.path.join(path, "bin", "python")


def fetch_uv(args):
    """The pinned uv wheel for the hosts' platform, whichever platform pip would pick here."""
    run(PIP + ["download", "--quiet", "--no-deps", "--only-binary=:all:", *UV_PLATFORM, "--dest", args.out, args.uv],
        "pip download of %s" % args.uv)
    return {"files": sorted(os.listdir(args.out))}


def has_tests(src):
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
        if any(TEST_FILE.match(f) for f in files):
            return True
    return False


def inspect(args):
    """What pyproject.toml says about the release: its name, [tool.sync-release], its tests."""
    path = os.path.join(args.src, "pyproject.toml")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise StageError("no pyproject.toml in the source folder")
    except tomllib.TOMLDecodeError as exc:
        raise StageError("pyproject.toml is not valid TOML: %s" % exc)
    project = data.get("project", {})
    tool = data.get("tool", {})
    extras = project.get("optional-dependencies", {}) if isinstance(project, dict) else {}
    test_extra = next((e for e in ("test", "tests") if e in extras), None)
    return {
        "name": project.get("name") if isinstance(project, dict) else None,
        "tool": tool.get("sync-release") if isinstance(tool, dict) else None,
        "hasTests": has_tests(args.src),
        "testExtra": test_extra,
        "testExtraHasPytest": bool(
            test_extra and any(re.match(r"^\s*pytest\b", str(r), re.I) for r in extras[test_extra])
        ),
    }


def test(args):
    """The project's own tests in a fresh venv: the project (and its test extra) installed, then the command."""
    python = make_venv(args.venv, args.uv_wheel)
    target = args.src + ("[%s]" % args.extra if args.extra else "")
    run([UV, "pip", "install", "--quiet", "--python", python, target] + args.add, "installing the project for its tests")
    env = dict(os.environ, PATH="%s:%s" % (os.path.dirname(python), os.environ["PATH"]), VIRTUAL_ENV=args.venv)
    log("running the tests: %s" % " ".join(args.command))
    started = time.monotonic()
    try:
        code = subprocess.run(args.command, cwd=args.src, env=env, stdin=subprocess.DEVNULL).returncode
    except OSError as exc:
        raise StageError("the test command %s could not run: %s" % (" ".join(args.command), exc.strerror))
    if code != 0:
        raise StageError("the tests failed (%s exited %d)" % (" ".join(args.command), code))
    return {"seconds": round(time.monotonic() - started, 1)}


def sdist_metadata(sdist):
    """Name, version and [build-system] requirements of an sdist, read from its PKG-INFO and pyproject.toml."""
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        try:
            info = email.parser.HeaderParser().parsestr(tar.extractfile("%s/PKG-INFO" % top).read().decode())
        except KeyError:
            raise StageError("%s has no %s/PKG-INFO" % (os.path.basename(sdist), top))
        requires = ["setuptools>=40.8.0"]  # PEP 517's default when pyproject.toml says nothing
        if "%s/pyproject.toml" % top in names:
            pyproject = tomllib.load(tar.extractfile("%s/pyproject.toml" % top))
            requires = pyproject.get("build-system", {}).get("requires", requires)
    return {"name": info["Name"], "version": info["Version"], "buildRequires": list(requires)}


def build(args):
    """The sdist, built by the project's own build backend (uv as the PEP 517 frontend, in an
    isolated environment of the [build-system] requirements), then made reproducible."""
    run([unpack_uv(args.uv_wheel), "build", "--sdist", "--python", PYTHON, "--out-dir", args.out, args.src],
        "building the sdist")
    built = [f for f in os.listdir(args.out) if f.endswith(".tar.gz")]
    if len(built) != 1:
        raise StageError("the build wrote %s, expected one .tar.gz" % (sorted(os.listdir(args.out)) or "nothing"))
    sdist = os.path.join(args.out, built[0])
    normalize_sdist.normalize(sdist, args.epoch)
    return dict(sdist_metadata(sdist), file=built[0])


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def wheelhouse(args):
    """Wheels for the hosts: the sdist's runtime dependencies, its build requirements, the pinned uv."""
    os.makedirs(args.out)
    # The release's own wheel, built by uv (fast), only to let pip resolve what it requires.
    run([unpack_uv(args.uv_wheel), "build", "--wheel", "--python", PYTHON, "--out-dir", "/tmp/own", args.sdist],
        "building a wheel of the sdist")
    own = [os.path.join("/tmp/own", f) for f in os.listdir("/tmp/own") if f.endswith(".whl")]
    run(PIP + ["wheel", "--quiet", "--wheel-dir", args.out] + own, "pip wheel of its runtime dependencies")
    for wheel in os.listdir(args.out):
        if canonical(wheel.split("-")[0]) == canonical(args.dist):
            os.remove(os.path.join(args.out, wheel))  # the release itself travels as its sdist
    if args.require:
        run(
            PIP + ["wheel", "--quiet", "--wheel-dir", args.out, "--"] + args.require,
            "pip wheel of the build requirements",
        )
    shutil.copy(args.uv_wheel, args.out)
    return {"wheels": sorted(os.listdir(args.out))}


def check_install(python, module, dist, version, what):
    """The hosts' import check in an installed release, run from / with an empty ini."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SYNC_INI": "/dev/null"}
    out = subprocess.run(
        [python, "-I", "-c", CHECK, module, dist], cwd="/", env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
    )
    if out.returncode != 0:
        raise StageError("%s: importing %s failed in the installed release" % (what, module))
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if found["version"] != version:
        raise StageError("%s: the installed %s is version %s, not %s" % (what, dist, found["version"], version))
    log("%s: %s imports from %s; %s %s installed" % (what, module, found["file"], dist, version))
    return found


def verify(args):
    """Install offline as a host does, with pip (today's hosts) and with the pinned uv (the next ones)."""
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1", PIP_CONFIG_FILE="/dev/null")
    # As today's hosts do: a venv without pip, Debian's pip run by the venv's interpreter.
    run([PYTHON, "-m", "venv", "--without-pip", "/tmp/verify-pip"], "creating the venv /tmp/verify-pip")
    python = "/tmp/verify-pip/bin/python"
    run(
        [python] + PIP[1:] + ["install", "--quiet", "--no-index", "--find-links", args.wheelhouse, args.sdist],
        "offline pip install from the wheelhouse",
        env=env,
    )
    pip_found = check_install(python, args.wsgi_module, args.dist, args.version, "pip")

    uv = unpack_uv(os.path.join(args.wheelhouse, args.uv_wheel))
    uv_env = dict(os.environ, UV_OFFLINE="1", UV_CACHE_DIR="/tmp/uv-cache")
    run([uv, "venv", "--quiet", "--python", PYTHON, "/tmp/verify-uv"], "uv venv", env=uv_env)
    run(
        [uv, "pip", "install", "--quiet", "--python", "/tmp/verify-uv/bin/python", "--no-index"]
        + ["--find-links", args.wheelhouse, args.sdist],
        "offline uv pip install from the wheelhouse",
        env=uv_env,
    )
    uv_found = check_install("/tmp/verify-uv/bin/python", args.wsgi_module, args.dist, args.version, "uv")
    return {"pip": pip_found, "uv": uv_found}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("fetch-uv")
    p.add_argument("--uv", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("inspect")
    p.add_argument("--src", required=True)
    p = sub.add_parser("test")
    p.add_argument("--src", required=True)
    p.add_argument("--venv", required=True)
    p.add_argument("--extra")
    p.add_argument("--add", action="append", default=[])
    p.add_argument("--uv-wheel", required=True)
    p.add_argument("command", nargs="+")
    p = sub.add_parser("build")
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epoch", required=True, type=int)
    p.add_argument("--uv-wheel", required=True)
    p = sub.add_parser("wheelhouse")
    p.add_argument("--sdist", required=True)
    p.add_argument("--dist", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--uv-wheel", required=True)
    p.add_argument("--require", action="append", default=[])
    p = sub.add_parser("verify")
    p.add_argument("--sdist", required=True)
    p.add_argument("--wheelhouse", required=True)
    p.add_argument("--dist", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--wsgi-module", required=True)
    p.add_argument("--uv-wheel", required=True, help="its file name in the wheelhouse")
    for p in sub.choices.values():
        p.add_argument("--result", required=True)
    args = ap.parse_args(argv)

    steps = {"fetch-uv": fetch_uv, "inspect": inspect, "test": test, "build": build}
    step = dict(steps, wheelhouse=wheelhouse, verify=verify)[args.step]
    try:
        result, code = step(args), 0
    except StageError as exc:
        log("error: %s" % exc)
        result, code = {"error": str(exc)}, 1
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return code


if __name__ == "__main__":
    sys.exit(main())
