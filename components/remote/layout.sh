# shellcheck shell=bash
# The constants are used by the scripts that source lib.sh, and by bootstrap.sh.
# shellcheck disable=SC2034
# The host contract the stack must know too, in one place: lib.sh and bootstrap.sh source this
# file, and components/hostLayout.ts reads it (parseLayout). Only `readonly NAME=value` lines,
# comments and blank lines; a value is a plain or double-quoted word that may name an earlier one
# as $NAME, or a single-quoted literal.
readonly SYNC_ROOT=/var/sync
# The scripts, one directory per hash.
readonly SYNC_SCRIPTS="$SYNC_ROOT/scripts"
# One venv per release, at its final path.
readonly SYNC_RELEASES="$SYNC_ROOT/releases"
# Root's record of each release it built, sealed and checked (root-only: the build user never
# writes here). A release counts as staged only with its record.
readonly SYNC_BUILT="$SYNC_ROOT/.built"
# Shared tools (uv) and the build user's scratch homes.
readonly SYNC_TOOLS="$SYNC_ROOT/tools"
# Root's private copies of uploaded bundles while they are checked and unpacked.
readonly SYNC_DIST="$SYNC_ROOT/dist"
# Where earlier versions of the stack uploaded release bundles, relative to the deploy user's home:
# the stage sweeps what they left (the bundle now travels on the stage's own session).
readonly SYNC_UPLOADS=.sync-release
# A release's files: the sdist <prefix><version><sdist suffix> (as setuptools names it) and the
# bundle the stack uploads, <prefix><version><bundle suffix>: one uncompressed tar holding the
# sdist, <wheels>/*, <scripts>/* (components/remote, bootstrap.sh included) and <sums> (sha256sum
# lines for every other member).
readonly SYNC_RELEASE_PREFIX=WeaveServer-
readonly SYNC_SDIST_SUFFIX=.tar.gz
readonly SYNC_BUNDLE_SUFFIX=.release.tar
readonly SYNC_BUNDLE_SUMS=SHA256SUMS
readonly SYNC_BUNDLE_WHEELS=wheelhouse
readonly SYNC_BUNDLE_SCRIPTS=scripts
# A release version: what the stack's config accepts (before PEP 440 parsing) and what the scripts
# take as an argument. Read by bash's =~ and by JavaScript alike.
readonly SYNC_VERSION_RE='^[0-9][0-9a-z.]{0,63}$'
# mod_wsgi daemon processes, and threads per process: what activate.sh takes.
readonly SYNC_WSGI_COUNT_RE='^[1-9][0-9]?$'
# uv builds every release on the hosts. Its wheel travels in the release's wheelhouse like any
# other dependency, is checked against this sha256 and unpacked once per host under tools/.
readonly SYNC_UV_VERSION=0.13.8
readonly SYNC_UV_WHEEL="uv-${SYNC_UV_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
readonly SYNC_UV_SHA256=e18a57b8b352eb7c8feb317b9f6f533c8f0ad9673fd6cf34bbe3cf1a9f6a8984
