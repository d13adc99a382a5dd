#!/usr/bin/env bash
# Build the sample Sync server releases (real WeaveServer sdists) and their wheelhouse.
#
# Usage: scripts/build-releases.sh OUTDIR
#
# OUTDIR/WeaveServer-{1.1.4,1.1.5,1.9,1.10,1.11,2.0}.tar.gz   good releases
# OUTDIR/broken/WeaveServer-3.0.tar.gz   wsgi module raises ImportError at import
# OUTDIR/broken/WeaveServer-3.1.tar.gz   /__version__ serves 0.0.0
# OUTDIR/broken/WeaveServer-3.2.tar.gz   /__heartbeat__ always 503
# OUTDIR/broken/WeaveServer-3.3.tar.gz   truncated bytes of a real 3.3 sdist
# OUTDIR/broken/WeaveServer-3.4.tar.gz   requires six==1.17.0, which the wheelhouse lacks
# OUTDIR/wheelhouse/                     runtime deps + build backend wheels (offline installs), and
#                                        the uv wheel components/remote/layout.sh pins (sha256-checked)
# OUTDIR/SHA256SUMS                      `sha256sum -c` format, paths relative to OUTDIR
#
# Sources: test/fixtures/weave-server (see its README.md). Build tools and wheels come from
# PyPI once and are cached under ${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}; the whole
# output is cached by a hash of the fixture sources and this script, so reruns are offline
# and copy the cached tree. Tarballs are normalized (release/normalize_sdist.py: sorted
# members, fixed mtimes, no gzip timestamp), so a rebuild from the same sources gives
# byte-identical files — the very bytes `npm run release` makes of them (the release tier checks).
# Env: SYNC_BUILD_PYTHON (default python3, must be 3.11+), SYNC_RELEASE_CACHE.
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR" >&2
  exit 2
}
[[ $# -eq 1 && -n $1 ]] || usage

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$SCRIPT_DIR")
FIXTURE=$ROOT/test/fixtures/weave-server
NORMALIZE=$ROOT/release/normalize_sdist.py
CACHE=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}
PYTHON=${SYNC_BUILD_PYTHON:-python3}
OUTDIR=$1

GOOD_VERSIONS=(1.1.4 1.1.5 1.9 1.10 1.11 2.0)
# version:fault — faults are implemented by tools/stamp.py + weave/server/wsgi.py.
BROKEN_VARIANTS=(3.0:import-error 3.1:wrong-version 3.2:heartbeat-fail 3.3:truncated 3.4:missing-dep)
MISSING_DEP=six==1.17.0 # a real PyPI package, deliberately not in the wheelhouse
BUILD_PKG=build==1.2.2.post1
# Fixed timestamp for reproducible tarballs (zip, hence wheels, can't go before 1980).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'build-releases: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The uv wheel the hosts build releases with: SYNC_UV_VERSION, SYNC_UV_WHEEL, SYNC_UV_SHA256.
# shellcheck source=components/remote/layout.sh
source "$ROOT/components/remote/layout.sh"

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set SYNC_BUILD_PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$PYTHON is older than 3.11 (tomllib is needed to read pyproject.toml)"
[[ -f $FIXTURE/pyproject.toml ]] || die "fixture not found: $FIXTURE"

sha256_of_stdin() { sha256sum | cut -d' ' -f1; }

# The pins live in pyproject.toml only: build-system.requires (setuptools, wheel) and
# project.dependencies (runtime). Both sets go into the wheelhouse.
mapfile -t BACKEND_PINS < <("$PYTHON" -c '
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' "$FIXTURE/pyproject.toml")
mapfile -t RUNTIME_PINS < <("$PYTHON" -c '
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' "$FIXTURE/pyproject.toml")
for pin in "${BACKEND_PINS[@]}" "${RUNTIME_PINS[@]}"; do
  [[ $pin == *==* ]] || die "pyproject.toml pin is not exact: $pin"
done

# What the output depends on: the files that go into the sdists, the tools that stamp and
# normalize them, this script, and the interpreter's major.minor (wheel downloads).
fixture_files() {
  (cd "$FIXTURE" && find pyproject.toml weave tools -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z)
}
SRC_KEY=$(
  {
    (cd "$FIXTURE" && fixture_files | xargs -0 sha256sum)
    sha256sum <"${BASH_SOURCE[0]}"
    sha256sum <"$NORMALIZE"
    "$PYTHON" -c 'import sys; print(sys.version_info[:2])'
  } | sha256_of_stdin
)
TOOLS_KEY=$(printf '%s\n' "$BUILD_PKG" "${BACKEND_PINS[@]}" "$("$PYTHON" -c 'import sys; print(sys.version)')" | sha256_of_stdin)
# uv's wheel, as the host layout pins it (scripts/uv-wheel.sh fetches and checks it).
WHEELS_KEY=$(printf '%s\n' "${BACKEND_PINS[@]}" "${RUNTIME_PINS[@]}" "$SYNC_UV_WHEEL" "$SYNC_UV_SHA256" | sha256_of_stdin)

mkdir -p "$CACHE"
exec 9>"$CACHE/.build-releases.lock"
flock 9

# A venv with `build` and the pinned backend, so sdists build with --no-isolation (offline).
ensure_buildtools() {
  local dir=$CACHE/buildtools/$TOOLS_KEY
  if [[ ! -f $dir/.complete ]]; then
    log "creating build tools venv ($BUILD_PKG ${BACKEND_PINS[*]})"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q "$BUILD_PKG" "${BACKEND_PINS[@]}"
    touch "$dir/.complete"
  fi
  BUILD_PY=$dir/bin/python
}

# Wheels for Python 3.11: the runtime deps and the build backend (pip's build isolation), and
# the pinned uv for the hosts' platform, checked against its sha256.
ensure_wheels() {
  local dir=$CACHE/wheels/$WHEELS_KEY
  if [[ ! -f $dir/.complete ]]; then
    log "downloading wheels: ${BACKEND_PINS[*]} ${RUNTIME_PINS[*]} uv==$SYNC_UV_VERSION"
    rm -rf "$dir"
    mkdir -p "$dir"
    "$PYTHON" -m pip download -q --only-binary=:all: --python-version 3.11 \
      --implementation py --abi none --platform any \
      -d "$dir" "${BACKEND_PINS[@]}" "${RUNTIME_PINS[@]}"
    SYNC_BUILD_PYTHON=$PYTHON "$SCRIPT_DIR/uv-wheel.sh" "$dir" >/dev/null
    touch "$dir/.complete"
  fi
  WHEELS_DIR=$dir
}

# build_sdist VERSION DESTDIR [stamp.py options...]
build_sdist() {
  local version=$1 dest=$2
  shift 2
  local src=$STAGE/src-$version
  mkdir -p "$src" "$dest"
  (cd "$FIXTURE" && fixture_files | xargs -0 cp --parents -t "$src")
  "$BUILD_PY" "$src/tools/stamp.py" "$src" "$version" "$@"
  "$BUILD_PY" -m build --sdist --no-isolation --outdir "$dest" "$src" >"$STAGE/build-$version.log" 2>&1 ||
    die "sdist build of $version failed: $(tail -n 20 "$STAGE/build-$version.log")"
  local sdist=$dest/WeaveServer-$version.tar.gz
  [[ -f $sdist ]] || die "expected $sdist, got: $(ls "$dest")"
  "$BUILD_PY" "$NORMALIZE" "$sdist"
}

build_all() {
  local out=$STAGE/out variant version fault size
  for version in "${GOOD_VERSIONS[@]}"; do
    build_sdist "$version" "$out"
  done
  for variant in "${BROKEN_VARIANTS[@]}"; do
    version=${variant%%:*} fault=${variant#*:}
    case $fault in
      import-error | wrong-version | heartbeat-fail)
        build_sdist "$version" "$out/broken" --fault "$fault"
        ;;
      missing-dep)
        build_sdist "$version" "$out/broken" --extra-dep "$MISSING_DEP"
        ;;
      truncated)
        build_sdist "$version" "$STAGE/whole"
        size=$(stat -c %s "$STAGE/whole/WeaveServer-$version.tar.gz")
        head -c "$((size / 2))" "$STAGE/whole/WeaveServer-$version.tar.gz" >"$out/broken/WeaveServer-$version.tar.gz"
        ;;
      *) die "unknown fault $fault" ;;
    esac
  done
  mkdir -p "$out/wheelhouse"
  cp "$WHEELS_DIR"/*.whl "$out/wheelhouse/"
  if ls "$out/wheelhouse/${MISSING_DEP%%==*}"-* >/dev/null 2>&1; then
    die "$MISSING_DEP must not be in the wheelhouse"
  fi
  (cd "$out" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum) >"$STAGE/SHA256SUMS"
  mv "$STAGE/SHA256SUMS" "$out/SHA256SUMS"
}

RELEASES=$CACHE/releases/$SRC_KEY
if [[ -f $RELEASES/.complete ]]; then
  log "sources unchanged (key ${SRC_KEY:0:12}): using cached build"
else
  ensure_buildtools
  ensure_wheels
  mkdir -p "$CACHE/releases"
  STAGE=$(mktemp -d "$CACHE/releases/.stage.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
  log "building ${GOOD_VERSIONS[*]} + broken ${BROKEN_VARIANTS[*]}"
  build_all
  touch "$STAGE/out/.complete"
  rm -rf "$RELEASES"
  mv -T "$STAGE/out" "$RELEASES"
  # Keep only the newest few cached builds.
  find "$CACHE/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.stage.*' -printf '%T@ %p\n' |
    sort -rn | tail -n +6 | cut -d' ' -f2- | xargs -r rm -rf
fi

# Copy (not hardlink: tests corrupt files in OUTDIR, which must not reach the cache).
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
rm -rf "$OUTDIR/broken" "$OUTDIR/wheelhouse" "$OUTDIR/SHA256SUMS"
rm -f "$OUTDIR"/WeaveServer-*.tar.gz
(cd "$RELEASES" && find . -mindepth 1 -maxdepth 1 ! -name .complete -print0 | xargs -0 cp -R -t "$OUTDIR")
(cd "$OUTDIR" && sha256sum --quiet -c SHA256SUMS) || die "checksum verification of $OUTDIR failed"
log "wrote $OUTDIR"
