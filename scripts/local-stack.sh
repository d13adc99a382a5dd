#!/usr/bin/env bash
# The local stack's runner (scripts/local-stack.ts) on the Node.js the README's commands use
# (scripts/lib/node-env.sh: the machine's own when it is 22 or newer, else the one
# scripts/setup-machine.sh installed in the cache):
#   scripts/local-stack.sh preview [--diff] | up | refresh | destroy | pulumi ARGS...
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/node-env.sh
. scripts/lib/node-env.sh
sync_node_env
TS_NODE_TRANSPILE_ONLY=true exec node -r ts-node/register scripts/local-stack.ts "$@"
