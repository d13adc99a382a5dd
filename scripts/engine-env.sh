# shellcheck shell=bash
# Source this file (`. scripts/engine-env.sh`) to use the engine that
# scripts/build-engine.sh built, fully offline. It only sets variables; it
# never builds. The state backend and PULUMI_CONFIG_PASSPHRASE are left to
# the caller (`pulumi login file://...` or PULUMI_BACKEND_URL).

# Where build-engine.sh put the engine for the pinned version.
# shellcheck source-path=SCRIPTDIR source=../tools/engine/versions.env
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/engine/versions.env"
SYNC_RELEASE_ENGINE_DIR="${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/engine/$PULUMI_ENGINE_VERSION"
export PULUMI_ENGINE_VERSION SYNC_RELEASE_ENGINE_DIR

if [[ ! -x "$SYNC_RELEASE_ENGINE_DIR/bin/pulumi" ]]; then
  echo "engine-env: no engine at $SYNC_RELEASE_ENGINE_DIR/bin; run scripts/build-engine.sh" >&2
fi

# The cached binaries come first, so this `pulumi` (and the plugins beside it)
# win over any other install.
case ":$PATH:" in
  *":$SYNC_RELEASE_ENGINE_DIR/bin:"*) ;;
  *) export PATH="$SYNC_RELEASE_ENGINE_DIR/bin:$PATH" ;;
esac

# Plugins, credentials (the `pulumi login` target) and logs live in the cache,
# not in ~/.pulumi: nothing the user installed elsewhere is picked up.
export PULUMI_HOME="$SYNC_RELEASE_ENGINE_DIR/home"

# Never ask the network for a newer CLI.
export PULUMI_SKIP_UPDATE_CHECK=true

# A missing plugin is an error, never a download from the plugin servers.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

# Never resolve package names through the Pulumi registry service.
export PULUMI_DISABLE_REGISTRY_RESOLVE=true

# The Automation API (@pulumi/pulumi/automation) runs this pinned CLI as is,
# without comparing it to its own minimum version.
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

# Which `command` resource plugin the engine will load for @pulumi/command: "released"
# (installed without a marker), "standin" (tools/command-standin, registered by
# scripts/build-engine.sh with a SYNC_RELEASE_STANDIN marker) or "missing". Reads the
# plugin directory only; never runs the CLI.
sync_release_command_plugin() {
  local root version dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  version=$(sed -n 's/.*"@pulumi\/command": *"\([^"]*\)".*/\1/p' "$root/package.json")
  dir="$PULUMI_HOME/plugins/resource-command-v$version"
  if [[ -e "$dir/SYNC_RELEASE_STANDIN" ]]; then
    echo standin
  elif [[ -x "$dir/pulumi-resource-command" ]]; then
    echo released
  else
    echo missing
  fi
}
SYNC_RELEASE_COMMAND_PLUGIN=$(sync_release_command_plugin)
export SYNC_RELEASE_COMMAND_PLUGIN
