# shellcheck shell=bash
# ReleaseInstall: install a release and make the host serve it.
#   usage: install.sh <version> <sdist-sha256> <keep-releases>
#   stdin: the wheelhouse manifest, `sha256sum` format ("<sha256>  <file>" per line)
# Expects the sdist at dist/incoming/WeaveServer-<version>.tar.gz and its wheelhouse at
# dist/incoming/wheelhouse-<version>/ (uploaded by the stack). Any failure before the switch
# leaves the host exactly as it was; a failure after it switches back to the previous release.
# shellcheck source=components/remote/lib.sh
[[ -n ${SYNC_ROOT:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=${1:?version}
expected_sha=${2:?sha256}
keep=${3:?keep releases}
# The stack validated these already; re-check because this script also runs by hand.
[[ $version =~ ^[0-9][0-9a-z.]{0,63}$ ]] || die "bad version '$version'"
[[ $expected_sha =~ ^[0-9a-f]{64}$ ]] || die "bad sha256 '$expected_sha'"
[[ $keep =~ ^[0-9]+$ && $keep -ge 2 ]] || die "keep releases must be 2 or more, got '$keep'"

manifest=$(cat)
require_root
take_lock
step receive "$version"

sdist="$SYNC_INCOMING/WeaveServer-$version.tar.gz"
wheelhouse="$SYNC_INCOMING/wheelhouse-$version"
release="$SYNC_ROOT/releases/$version"

if [[ -f $release/.complete ]]; then
    step reuse "$version is already built; switching only"
else
    [[ -f $sdist ]] || die "$sdist was not uploaded"
    step verify "$version"
    actual_sha=$(sha256sum "$sdist" | cut -d' ' -f1)
    [[ $actual_sha == "$expected_sha" ]] ||
        die "sha256 of $sdist is $actual_sha, expected $expected_sha; host unchanged"
    if ! gzip -t "$sdist" 2>/dev/null || ! tar -tzf "$sdist" >/dev/null 2>&1; then
        die "$sdist is not a readable tar.gz; host unchanged"
    fi
    if [[ -n $manifest ]]; then
        [[ -d $wheelhouse ]] || die "$wheelhouse was not uploaded"
        (cd "$wheelhouse" && sha256sum --strict --quiet -c - <<<"$manifest" >&2) ||
            die "wheelhouse for $version does not match its manifest; host unchanged"
    fi

    step preflight "$version"
    preflight
    python=$(wsgi_python)

    # Built at its final path (venvs aren't relocatable); `.complete` is written last, so a
    # killed build is simply rebuilt by the next deploy.
    pip_dir=$(shared_pip "$python")

    step venv "$version"
    rm -rf "$release"
    if ! "$python" -m venv --without-pip "$release" >&2 9>&-; then
        rm -rf "$release"
        die "$python could not create the virtualenv for $version (python3-venv missing?); host unchanged"
    fi

    step pip "$version"
    export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
    target=$sdist
    build_env=$(shared_build_env "$python" "$pip_dir" "$sdist" "$wheelhouse")
    if [[ -n $build_env ]]; then
        # Build the wheel against the shared build requirements, then install it: the release
        # venv never sees the build tools.
        wheel_dir=$(mktemp -d "$SYNC_ROOT/tools/.wheel.XXXXXX")
        if PYTHONPATH=$build_env "$python" "$pip_dir/pip" wheel --quiet --no-deps --no-build-isolation \
            --check-build-dependencies --no-index -w "$wheel_dir" "$sdist" >&2 9>&-; then
            wheels=("$wheel_dir"/*.whl)
            target=${wheels[0]:-$sdist}
        else
            log "building with the shared build requirements failed; using pip's build isolation"
        fi
    fi
    if ! "$release/bin/python" "$pip_dir/pip" install --quiet --no-index --find-links "$wheelhouse" "$target" >&2 9>&-; then
        rm -rf "$release" "${wheel_dir:-}"
        die "pip could not install $version offline (missing dependency in its wheelhouse?); host unchanged"
    fi
    rm -rf "${wheel_dir:-}"
    installed=$("$release/bin/python" -c 'import importlib.metadata as m; print(m.version("WeaveServer"))' 9>&-) || installed=""
    if [[ $installed != "$version" ]]; then
        rm -rf "$release"
        die "the sdist installed as version '$installed', expected $version; host unchanged"
    fi
    if ! (cd / && env SYNC_INI=/dev/null "$release/bin/python" -c 'import weave.server.wsgi' >&2 9>&-); then
        rm -rf "$release"
        die "$version fails to import weave.server.wsgi; host unchanged"
    fi
    "$release/bin/python" -m compileall -q "$release/lib" >/dev/null 2>&1 9>&- || true
    touch "$release/.complete"
    sync "$release/.complete"
fi

before=$(current_version)
if [[ $before == "$version" ]]; then
    step check "$version is already current"
    if [[ $(cat "$SYNC_DEPLOYED" 2>/dev/null) != "$version" ]]; then
        # The deploy that switched to it never finished (killed mid-reload, say): some daemons
        # may still run the old release. Finish the reload.
        step reload "$version (finishing an interrupted deploy)"
        reload_app || true
    fi
    if ! wait_serving "$version"; then
        reload_app || true
        wait_serving "$version" || die "host does not serve $version although current points at it"
    fi
    mark_deployed "$version"
    step finished "$version (no change)"
    exit 0
fi

# A broken Apache config (anyone's) would make the reload fail after the switch: refuse first.
if ! apache_config_valid; then
    die "Apache config test failed; not switching to $version: $APACHE_ERRORS"
fi

step switch "${before:-none} -> $version"
point_link current "$version"
first_install=""
if ! site_enabled; then
    first_install=yes
    a2enmod -q wsgi >/dev/null
    a2ensite -q sync >/dev/null
    a2dissite -q 000-default >/dev/null 2>&1 || true
fi

step reload "$version"
reloaded=yes
reload_app || reloaded=""

step health "$version"
if [[ -z $reloaded ]] || ! wait_serving "$version"; then
    if [[ -n $before ]]; then
        step rollback "$version -> $before"
        point_link current "$before"
        reload_app || log "reloading $before after switching back failed"
        wait_serving "$before" || log "previous release $before is not healthy either"
        die "$version failed its health check; switched back to $before"
    fi
    rm -f "$SYNC_ROOT/current"
    if [[ -n $first_install ]]; then
        a2dissite -q sync >/dev/null || true
        apache2ctl graceful || true
    fi
    die "$version failed its health check; no previous release to go back to"
fi

if [[ -n $before ]]; then
    point_link previous "$before"
fi

step prune "keep $keep"
# PEP 440 order (1.10 > 1.9) from the packaging copy vendored in the shared pip (already found
# when this deploy built the release).
pip_dir=${pip_dir:-$(shared_pip "$(wsgi_python)")}
PYTHONPATH=$pip_dir "$SYNC_ROOT/releases/$version/bin/python" - "$SYNC_ROOT/releases" "$keep" "$version" "$before" 9>&- <<'PY' |
import os
import sys

from pip._vendor.packaging.version import InvalidVersion, Version

root, keep, current, previous = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
complete, stale = [], []
for name in os.listdir(root):
    if not os.path.isfile(os.path.join(root, name, ".complete")):
        stale.append(name)  # a build that was killed; we hold the lock, so none is running
        continue
    try:
        complete.append((Version(name), name))
    except InvalidVersion:
        continue
complete.sort(reverse=True)
kept = {name for name in (current, previous) if name}
for _, name in complete:
    if len(kept) >= keep:
        break
    kept.add(name)
for name in stale + [name for _, name in complete if name not in kept]:
    if name not in (current, previous):
        print(name)
PY
    while IFS= read -r old; do
        [[ -n $old && $old != "$version" && $old != "$before" ]] || continue
        log "pruning release $old"
        rm -rf "${SYNC_ROOT:?}/releases/$old" "$SYNC_INCOMING/WeaveServer-$old.tar.gz" "$SYNC_INCOMING/wheelhouse-$old"
    done

mark_deployed "$version"
step finished "$version"
