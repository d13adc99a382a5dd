#!/usr/bin/env bash
# Print the path of uv's pinned wheel (components/remote/layout.sh: SYNC_UV_VERSION, SYNC_UV_WHEEL,
# SYNC_UV_SHA256), downloading it from PyPI into the cache the first time; with DIR, also copy it
# into DIR (a wheelhouse). The hosts build every release with this uv, so every wheelhouse the
# stack uploads must hold it.
#   usage: scripts/uv-wheel.sh [DIR]
# Env: SYNC_RELEASE_CACHE (default ~/.cache/sync-release), SYNC_BUILD_PYTHON (default python3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/uv
python=${SYNC_BUILD_PYTHON:-python3}
# shellcheck source=components/remote/layout.sh
source "$root/components/remote/layout.sh"

die() {
    echo "uv-wheel: error: $*" >&2
    exit 1
}
sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }

wheel=$cache/$SYNC_UV_WHEEL
if [[ ! -f $wheel || $(sha256_of "$wheel") != "$SYNC_UV_SHA256" ]]; then
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.download.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_17_x86_64 -d "$tmp" "uv==$SYNC_UV_VERSION" >&2 ||
        die "could not download uv==$SYNC_UV_VERSION from PyPI"
    [[ -f $tmp/$SYNC_UV_WHEEL ]] || die "PyPI gave $(ls "$tmp"), expected $SYNC_UV_WHEEL"
    actual=$(sha256_of "$tmp/$SYNC_UV_WHEEL")
    [[ $actual == "$SYNC_UV_SHA256" ]] || die "$SYNC_UV_WHEEL from PyPI has sha256 $actual, expected $SYNC_UV_SHA256"
    mv -f "$tmp/$SYNC_UV_WHEEL" "$wheel"
fi
if [[ $# -gt 0 ]]; then
    mkdir -p "$1"
    cp -f "$wheel" "$1/$SYNC_UV_WHEEL"
fi
printf '%s\n' "$wheel"
