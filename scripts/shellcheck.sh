#!/usr/bin/env bash
# Runs shellcheck on every bash script in the project (remote scripts, fleet, CI).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.sh' .ci/run; find components/remote release scripts test -name '*.sh' 2>/dev/null)
mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u)
shellcheck -x "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"
