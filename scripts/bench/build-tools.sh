#!/usr/bin/env bash
# Run on a fleet host (as root): the build step of one release with uv, as stage.sh does it, and
# with pip, as the hosts did before uv (a venv made --without-pip, Debian's pip wheel unpacked
# once and shared, the sdist's build requirements installed once into a shared directory, then
# `pip wheel --no-build-isolation` + `pip install` offline, then compileall). Both as the build
# user, from the same unpacked sdist and wheelhouse, into fresh venvs; the one-time set-up of each
# tool (uv unpacked, pip unpacked, build requirements installed) is done first and not timed.
#   usage: build-tools.sh <sdist> <wheelhouse> <uv-binary> <runs>
# stdout: one JSON object {"uv": [s…], "pip": [s…]}.
set -euo pipefail
export LC_ALL=C
sdist=$1 wheelhouse=$2 uv=$3 runs=$4
[[ -f $sdist && -d $wheelhouse && -x $uv && $runs =~ ^[1-9][0-9]?$ ]] || {
    echo "usage: build-tools.sh <sdist> <wheelhouse> <uv-binary> <runs>" >&2
    exit 2
}
builder=sync-build
python=/usr/bin/python3.11
scratch=$(mktemp -d /var/tmp/sync-bench-build.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"
cp "$sdist" "$scratch/"
cp -r "$wheelhouse" "$scratch/wheelhouse"
chmod -R a+rX "$scratch"
sdist=$scratch/${sdist##*/}
as_builder() {
    setpriv --reuid="$builder" --regid="$builder" --clear-groups --no-new-privs \
        env -i PATH=/usr/bin:/bin HOME="$scratch/home" TMPDIR="$scratch/home" UV_CACHE_DIR="$scratch/home/uv-cache" \
        UV_NO_CONFIG=1 UV_OFFLINE=1 UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$@" </dev/null
}
now() { date +%s%N; }
# Nanoseconds to seconds, three decimals (no bc on the hosts).
seconds_since() { local ns=$(($(now) - $1)); printf '%d.%03d' $((ns / 1000000000)) $((ns / 1000000 % 1000)); }
mkdir -p "$scratch/home"
chown "$builder:$builder" "$scratch/home"

# pip's one-time set-up: Debian's pip wheel unpacked, the build requirements in a shared directory.
shopt -s nullglob
pip_wheels=(/usr/share/python-wheels/pip-*.whl)
[[ ${#pip_wheels[@]} -gt 0 ]] || { echo "no pip wheel in /usr/share/python-wheels (python3-venv)" >&2; exit 1; }
pip_wheel=${pip_wheels[-1]}
mkdir "$scratch/pip"
"$python" -I -m zipfile -e "$pip_wheel" "$scratch/pip"
mapfile -t requires < <("$python" -I -c 'import sys, tarfile, tomllib
with tarfile.open(sys.argv[1]) as t:
    top = t.getnames()[0].split("/")[0]
    print("\n".join(tomllib.load(t.extractfile(top + "/pyproject.toml"))["build-system"]["requires"]))' "$sdist")
install -d -o "$builder" -g "$builder" "$scratch/build-env"
as_builder "$python" "$scratch/pip/pip" install --quiet --no-index --find-links "$scratch/wheelhouse" \
    --target "$scratch/build-env" -- "${requires[@]}" >&2

times_uv=() times_pip=()
for ((i = 0; i < runs; i++)); do
    rm -rf "$scratch/venv" "$scratch/home/wheels" "$scratch/home/uv-cache"
    install -d -o "$builder" -g "$builder" "$scratch/venv"
    started=$(now)
    as_builder "$uv" venv --python "$python" --offline --quiet "$scratch/venv" >&2
    as_builder "$uv" pip install --python "$scratch/venv/bin/python" --offline --no-index --find-links "$scratch/wheelhouse" \
        --compile-bytecode --quiet -- "$sdist" >&2
    times_uv+=("$(seconds_since "$started")")

    rm -rf "$scratch/venv" "$scratch/home/wheels"
    install -d -o "$builder" -g "$builder" "$scratch/venv"
    started=$(now)
    as_builder "$python" -m venv --without-pip "$scratch/venv" >&2
    as_builder env PYTHONPATH="$scratch/build-env" "$python" "$scratch/pip/pip" wheel --quiet --no-deps \
        --no-build-isolation --no-index -w "$scratch/home/wheels" -- "$sdist" >&2
    as_builder "$scratch/venv/bin/python" "$scratch/pip/pip" install --quiet --no-index \
        --find-links "$scratch/wheelhouse" -- "$scratch"/home/wheels/*.whl >&2
    as_builder "$scratch/venv/bin/python" -m compileall -q "$scratch/venv/lib" >/dev/null
    times_pip+=("$(seconds_since "$started")")
done
printf '{"uv": [%s], "pip": [%s]}\n' "$(IFS=,; echo "${times_uv[*]}")" "$(IFS=,; echo "${times_pip[*]}")"
