#!/usr/bin/env bash
# Register plugins built elsewhere (by hand, outside this repository) into a PULUMI_HOME of their
# own, for an engine-tier run with them instead of the command stand-in:
#
#   scripts/released-plugins.sh DIR HOME
#
# DIR holds `pulumi-resource-command` (the `command` resource plugin, the version package.json
# pins for @pulumi/command) and, when one could be built, `pulumi-language-nodejs` (the nodejs
# language host, the version of the CLI in tools/engine; without it the engine tier's inline runs
# still use the released command plugin, and the plain-CLI test is reported skipped). HOME must be a new or empty directory outside the engine cache
# (scripts/build-engine.sh owns <cache>/engine/<v>/home and the stand-in registered there; this
# never touches it). Refuses a DIR whose command plugin is the sync-release stand-in. Writes
# HOME/SYNC_RELEASE_PLUGINS (where each plugin came from, its sha256) and prints it.
#
# Used by `SYNC_RELEASE_PLUGINS=DIR scripts/test-all.sh engine`. Nothing here builds or
# downloads a plugin; the CLI comes from scripts/build-engine.sh.
set -euo pipefail

die() { printf 'released-plugins: error: %s\n' "$*" >&2; exit 1; }
(($# == 2)) || die "usage: $0 DIR HOME"
dir=$1 home=$2
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source-path=SCRIPTDIR source=../tools/engine/versions.env
. "$repo_root/tools/engine/versions.env"
cache_root=${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}
pulumi=$cache_root/engine/$PULUMI_ENGINE_VERSION/bin/pulumi
[[ -x "$pulumi" ]] || die "$pulumi is missing: run scripts/build-engine.sh"
command_version=$(sed -n 's/.*"@pulumi\/command": *"\([^"]*\)".*/\1/p' "$repo_root/package.json")
nodejs_version=${PULUMI_ENGINE_VERSION#v}

[[ -d "$dir" ]] || die "SYNC_RELEASE_PLUGINS: $dir is not a directory"
dir=$(cd "$dir" && pwd -P)
[[ -x "$dir/pulumi-resource-command" ]] || die "$dir/pulumi-resource-command is missing or not executable"
language=no
[[ ! -e "$dir/pulumi-language-nodejs" ]] || language=yes
[[ $language == no || -x "$dir/pulumi-language-nodejs" ]] || die "$dir/pulumi-language-nodejs is not executable"
# The stand-in says what it is in its schema description; a released plugin never does.
if grep -qF 'Stand-in for pulumi-command' "$dir/pulumi-resource-command"; then
  die "$dir/pulumi-resource-command is the sync-release stand-in, not a released plugin"
fi

mkdir -p "$home"
home=$(cd "$home" && pwd -P)
engine_home=$(mkdir -p "$cache_root/engine" && cd "$cache_root/engine" && pwd -P)
case "$home/" in
  "$engine_home"/*) die "$home is inside the engine cache ($engine_home); give a home of its own" ;;
esac
[[ -z "$(ls -A "$home")" ]] || die "$home is not empty"

export PULUMI_HOME=$home PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
"$pulumi" plugin install resource command "$command_version" --file "$dir/pulumi-resource-command" >/dev/null ||
  die "pulumi plugin install resource command $command_version failed"
# `pulumi plugin install` refuses the nodejs language host ("bundled with Pulumi"); the CLI looks
# for a bundled plugin on $PATH, then beside its own binary, then in the plugin cache, so it goes
# into the cache by hand, in the layout `plugin install` uses.
plugins=("resource-command-v$command_version/pulumi-resource-command")
wanted=("command resource $command_version")
if [[ $language == yes ]]; then
  mkdir -p "$home/plugins/language-nodejs-v$nodejs_version"
  cp "$dir/pulumi-language-nodejs" "$home/plugins/language-nodejs-v$nodejs_version/"
  plugins+=("language-nodejs-v$nodejs_version/pulumi-language-nodejs")
  wanted+=("nodejs language $nodejs_version")
fi
for p in "${plugins[@]}"; do
  cmp -s "$home/plugins/$p" "$dir/${p#*/}" || die "$home/plugins/$p is not the file from $dir"
done
listed=$("$pulumi" plugin ls 2>/dev/null) || die "pulumi plugin ls failed"
for want in "${wanted[@]}"; do
  grep -Eq "^${want// /[[:space:]]+}[[:space:]]" <<<"$listed" || die "pulumi plugin ls does not list $want: $listed"
done
{
  printf 'source %s\n' "$dir"
  printf 'resource command %s %s\n' "$command_version" "$(sha256sum <"$dir/pulumi-resource-command" | cut -d' ' -f1)"
  if [[ $language == yes ]]; then
    printf 'language nodejs %s %s\n' "$nodejs_version" "$(sha256sum <"$dir/pulumi-language-nodejs" | cut -d' ' -f1)"
  else
    printf 'language nodejs none (the plain-CLI test is skipped)\n'
  fi
} >"$home/SYNC_RELEASE_PLUGINS"
printf 'released-plugins: PULUMI_HOME=%s\n' "$home"
sed 's/^/released-plugins:   /' "$home/SYNC_RELEASE_PLUGINS"
