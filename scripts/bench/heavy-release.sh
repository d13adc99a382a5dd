#!/usr/bin/env bash
# The heavy releases for the benchmark (P2 and P3 "an app whose install takes long"): the sample
# app's 2.0 sdist restamped as 2.1 to 2.4, each also requiring pandas and scipy (numpy, tzdata,
# pytz, python-dateutil come with them), and a wheelhouse of the sample wheelhouse plus those
# wheels for the hosts' CPython 3.11 / x86_64. The wheels come from PyPI once (pip download, cached
# under ${SYNC_RELEASE_CACHE:-~/.cache/sync-release}/bench-heavy); scripts/build-releases.sh and
# its outputs are untouched.
#   usage: scripts/bench/heavy-release.sh RELEASES OUTDIR     (RELEASES: scripts/build-releases.sh output)
set -euo pipefail

[[ $# -eq 2 ]] || {
  echo "usage: $0 RELEASES OUTDIR" >&2
  exit 2
}
RELEASES=$1
OUTDIR=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/bench-heavy
PINS=(pandas==2.2.3 scipy==1.14.1)
VERSIONS=(2.1 2.2 2.3 2.4)

if [[ ! -f $CACHE/wheels/.complete ]]; then
  rm -rf "$CACHE/wheels"
  mkdir -p "$CACHE/wheels"
  python3 -m pip download --quiet --only-binary=:all: --implementation cp --python-version 3.11 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$CACHE/wheels" "${PINS[@]}"
  touch "$CACHE/wheels/.complete"
fi

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR/wheelhouse"
cp "$RELEASES"/wheelhouse/*.whl "$CACHE"/wheels/*.whl "$OUTDIR/wheelhouse/"
for version in "${VERSIONS[@]}"; do
  python3 - "$RELEASES/WeaveServer-2.0.tar.gz" "$OUTDIR/WeaveServer-$version.tar.gz" "$version" "${PINS[@]}" <<'EOF'
import io, sys, tarfile

src, dst, version, pins = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
old = "WeaveServer-2.0"
new = "WeaveServer-" + version
with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
    for info in tin.getmembers():
        data = tin.extractfile(info).read() if info.isfile() else None
        info.name = info.name.replace(old, new, 1)
        if data is not None:
            text = data.decode()
            base = info.name.rsplit("/", 1)[-1]
            if base == "PKG-INFO":
                text = text.replace("Version: 2.0\n", "Version: %s\n" % version, 1)
                text = text.replace(
                    "Requires-Dist: packaging==24.2\n",
                    "Requires-Dist: packaging==24.2\n" + "".join("Requires-Dist: %s\n" % p for p in pins),
                )
            elif base == "requires.txt":
                text += "".join("%s\n" % p for p in pins)
            elif base == "pyproject.toml":
                deps = 'dependencies = ["packaging==24.2"]'
                assert deps in text, "pyproject.toml: dependencies line not found"
                text = text.replace(deps, "dependencies = [%s]" % ", ".join('"%s"' % d for d in ["packaging==24.2"] + pins))
            elif base == "_build.py" or base == "late.py":
                assert '"2.0"' in text, base
                text = text.replace('"2.0"', '"%s"' % version)
            data = text.encode()
            info.size = len(data)
        tout.addfile(info, io.BytesIO(data) if data is not None else None)
EOF
  python3 "$ROOT/release/normalize_sdist.py" "$OUTDIR/WeaveServer-$version.tar.gz" 1704067200
done
echo "heavy releases ${VERSIONS[*]} in $OUTDIR ($(du -sh "$OUTDIR/wheelhouse" | cut -f1) wheelhouse)"
