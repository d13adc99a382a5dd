# shellcheck shell=bash
# ReleaseInstall: install a release and make the host serve it.
#   usage: install.sh <version> <sdist-sha256> <bundle-sha256> <keep-releases>
# Expects the release bundle (layout.sh: one uncompressed tar of SHA256SUMS,
# WeaveServer-<version>.tar.gz and wheelhouse/*) at dist/incoming/WeaveServer-<version>.release.tar,
# uploaded by the stack.
# stdout: one line, the version the host serves at the end of the run (read from the host);
# everything else goes to stderr, and a failure ends with the `die` message.
# Any failure before the switch leaves the host exactly as it was; a failure after it switches
# back to the previous release. The switch is recorded on disk before it is made, so a deploy cut
# off between the switch and its health check is finished or undone by the next run.
# shellcheck source=components/remote/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
cd /

version=${1:-}
expected_sha=${2:-}
expected_bundle_sha=${3:-}
keep=${4:-}
# The stack validated these already; re-check because this script also runs by hand.
[[ $# -eq 4 ]] || die "usage: install.sh <version> <sdist-sha256> <bundle-sha256> <keep-releases>"
[[ $version =~ $SYNC_VERSION_RE ]] || die "bad version '$version'"
[[ $expected_sha =~ ^[0-9a-f]{64}$ ]] || die "bad sdist sha256 '$expected_sha'"
[[ $expected_bundle_sha =~ ^[0-9a-f]{64}$ ]] || die "bad bundle sha256 '$expected_bundle_sha'"
[[ $keep =~ ^[0-9]{1,3}$ && $keep -ge 2 ]] || die "keep releases must be 2 or more, got '$keep'"

require_root
with_lock "$@"

release="$SYNC_ROOT/releases/$version"
bundle="$SYNC_INCOMING/$SYNC_RELEASE_PREFIX$version$SYNC_BUNDLE_SUFFIX"
# The sdist, in the bundle and (uploads of earlier versions of this stack) in SYNC_INCOMING.
sdist_name="$SYNC_RELEASE_PREFIX$version$SYNC_SDIST_SUFFIX"
work=""
BUILD_HOME=""

cleanup() {
    local status=$?
    if [[ -n $BUILD_HOME ]]; then
        stop_builder_processes 2>/dev/null || true
        rm -rf "$BUILD_HOME"
    fi
    [[ -z $work ]] || rm -rf "$work"
    # stdout: exactly one line, what the host serves now ("" when it answers nothing usable).
    printf '%s\n' "$(served_version)"
    exit "$status"
}
trap cleanup EXIT

# A failed build leaves nothing behind: no release directory, no scratch files.
fail_build() {
    stop_builder_processes
    rm -rf "$release"
    die "$*"
}

# A release reused only if it was built from the sdist the stack names: a release re-cut under the
# same version would otherwise never reach the host while the stack records success.
check_recorded_sha() {
    local recorded legacy
    recorded=$(cat "$release/.sdist-sha256" 2>/dev/null || true)
    if [[ -z $recorded ]]; then
        # Built before the sha256 was recorded: the sdist it was verified against is still kept.
        legacy="$SYNC_INCOMING/$sdist_name"
        if [[ -f $legacy && $(sha256sum <"$legacy" | cut -d' ' -f1) == "$expected_sha" ]]; then
            write_file "$release/.sdist-sha256" "$expected_sha"
            return 0
        fi
        die "release $version on this host was built from an unrecorded sdist, the stack has $expected_sha: a re-cut release needs a new version (or remove $release if it is neither current nor previous)"
    fi
    [[ $recorded == "$expected_sha" ]] ||
        die "release $version on this host was built from sha256 $recorded, the stack has $expected_sha: a re-cut release needs a new version"
}

# The bundle, checked before anything is unpacked: its sha256, then every member (regular files
# named as a bundle names them, nothing absolute, no `..`, no links or devices), then, unpacked
# into a root-only directory, every file against SHA256SUMS and the sdist against the stack's sha256.
receive_bundle() {
    local actual names types listed present sdist_sha
    [[ -f $bundle ]] || die "$bundle was not uploaded"
    step verify "$version"
    work=$(mktemp -d "$SYNC_DIST/.extract.XXXXXX")
    # A private copy: the upload directory is writable by the deploy user.
    cp "$bundle" "$work/bundle.tar" || die "could not copy $bundle (disk full?); host unchanged"
    actual=$(sha256sum <"$work/bundle.tar" | cut -d' ' -f1)
    [[ $actual == "$expected_bundle_sha" ]] ||
        die "sha256 of $bundle is $actual, expected $expected_bundle_sha; host unchanged"
    names=$(tar --list --quoting-style=escape -f "$work/bundle.tar" 2>/dev/null) ||
        die "$bundle is not a readable tar; host unchanged"
    types=$(tar --list --verbose --quoting-style=escape -f "$work/bundle.tar" 2>/dev/null | cut -c1 | sort -u) ||
        die "$bundle is not a readable tar; host unchanged"
    [[ $types == - ]] || die "$bundle holds something other than regular files (links, devices, directories); host unchanged"
    local name sdist_seen=""
    while IFS= read -r name; do
        case $name in
            "$SYNC_BUNDLE_SUMS") ;;
            "$sdist_name") sdist_seen=yes ;;
            *)
                [[ $name =~ ^$SYNC_BUNDLE_WHEELS/[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}$ ]] ||
                    die "$bundle holds an unexpected member '$(printable "$name" 120)'; host unchanged"
                ;;
        esac
    done <<<"$names"
    [[ -n $sdist_seen ]] || die "$bundle does not hold $sdist_name; host unchanged"
    [[ $(sort <<<"$names" | uniq -d) == "" ]] || die "$bundle holds a member twice; host unchanged"

    mkdir "$work/x"
    tar -x --no-same-owner --no-same-permissions -f "$work/bundle.tar" -C "$work/x" ||
        die "could not unpack $bundle (disk full?); host unchanged"
    rm -f "$work/bundle.tar"
    [[ -f $work/x/$SYNC_BUNDLE_SUMS ]] || die "$bundle has no $SYNC_BUNDLE_SUMS; host unchanged"
    listed=$(cut -c67- "$work/x/$SYNC_BUNDLE_SUMS" | sort)
    present=$(grep -vxF "$SYNC_BUNDLE_SUMS" <<<"$names" | sort)
    [[ $listed == "$present" ]] || die "$SYNC_BUNDLE_SUMS of $bundle does not list exactly its members; host unchanged"
    (cd "$work/x" && sha256sum --strict --quiet -c "$SYNC_BUNDLE_SUMS" >&2) ||
        die "$bundle does not match its $SYNC_BUNDLE_SUMS; host unchanged"
    sdist="$work/x/$sdist_name"
    wheelhouse="$work/x/$SYNC_BUNDLE_WHEELS"
    sdist_sha=$(sha256sum <"$sdist" | cut -d' ' -f1)
    [[ $sdist_sha == "$expected_sha" ]] ||
        die "the sdist in $bundle has sha256 $sdist_sha, expected $expected_sha; host unchanged"
    if ! gzip -t "$sdist" 2>/dev/null || ! tar -tzf "$sdist" >/dev/null 2>&1; then
        die "$sdist_name is not a readable tar.gz; host unchanged"
    fi
    # Readable (not writable) by the build user.
    mkdir -p "$wheelhouse"
    chmod 0755 "$work" "$work/x" "$wheelhouse"
}

# Built at its final path (venvs aren't relocatable) by the build user, then handed to root;
# `.complete` is written last, so a killed build is simply rebuilt by the next deploy.
build_release() {
    local target installed wheel_dir
    local -a wheels
    step preflight "$version"
    preflight
    ensure_users
    shared_pip "$PYTHON"

    step venv "$version"
    stop_builder_processes
    rm -rf "$release"
    BUILD_HOME=$(mktemp -d "$SYNC_TOOLS/.home.XXXXXX")
    chown "$SYNC_BUILDER:$SYNC_BUILDER" "$BUILD_HOME"
    install -d -m 0755 -o "$SYNC_BUILDER" -g "$SYNC_BUILDER" "$release"
    as_builder "$PYTHON" -m venv --without-pip "$release" >&2 ||
        fail_build "$PYTHON could not create the virtualenv for $version (python3-venv missing? disk full?); host unchanged"

    step pip "$version"
    target=$sdist
    shared_build_env "$PYTHON" "$sdist" "$wheelhouse"
    if [[ -n $BUILD_ENV ]]; then
        # Build the wheel against the shared build requirements, then install it: the release
        # venv never sees the build tools.
        wheel_dir="$BUILD_HOME/wheels"
        if as_builder env PYTHONPATH="$BUILD_ENV" "$PYTHON" "$PIP_DIR/pip" wheel --quiet --no-deps \
            --no-build-isolation --check-build-dependencies --no-index -w "$wheel_dir" -- "$sdist" >&2; then
            wheels=("$wheel_dir"/*.whl)
            target=${wheels[0]:-$sdist}
        else
            log "building with the shared build requirements failed; using pip's build isolation"
        fi
    fi
    as_builder "$release/bin/python" "$PIP_DIR/pip" install --quiet --no-index --find-links "$wheelhouse" \
        -- "$target" >&2 ||
        fail_build "pip could not install $version offline (missing dependency in its wheelhouse?); host unchanged"
    installed=$(as_builder "$release/bin/python" -c 'import importlib.metadata as m; print(m.version("WeaveServer"))' ||
        true)
    [[ $installed == "$version" ]] ||
        fail_build "the sdist installed as version '$(printable "$installed" 64)', expected $version; host unchanged"
    as_builder env SYNC_INI=/dev/null "$release/bin/python" -c 'import weave.server.wsgi' >&2 ||
        fail_build "$version fails to import weave.server.wsgi; host unchanged"
    as_builder "$release/bin/python" -m compileall -q "$release/lib" >/dev/null 2>&1 || true
    # From here on the release is root's: the build user (and the app user) cannot change it.
    seal_tree "$release"
    {
        printf '%s\n' "$expected_sha" >"$release/.sdist-sha256" &&
            sync "$release" &&
            touch "$release/.complete" &&
            sync "$release/.complete"
    } || fail_build "could not mark $version complete (disk full?); host unchanged"
    rm -rf "$BUILD_HOME"
    BUILD_HOME=""
}

# Keep <keep> complete releases in PEP 440 order (1.10 > 1.9), never current or previous, and only
# the uploads of current, previous and this version. The order comes from prune_order.py, run by
# the system Python with the packaging copy vendored in the shared pip: no release's interpreter
# runs as root.
prune() {
    local current previous old name upload_version olds
    step prune "keep $keep"
    current=$(current_version)
    previous=$(previous_version)
    [[ -n $PYTHON ]] || PYTHON=$(wsgi_python) || die "cannot tell which Python $MOD_WSGI was built for"
    shared_pip "$PYTHON"
    olds=$("$PYTHON" -I "$SYNC_SCRIPT_DIR/prune_order.py" "$PIP_DIR" "$SYNC_ROOT/releases" "$keep" "$current" "$previous") ||
        die "could not work out which releases to prune"
    while IFS= read -r old; do
        [[ -n $old && $old != "$version" && $old != "$current" && $old != "$previous" ]] || continue
        log "pruning release $old"
        rm -rf "${SYNC_ROOT:?}/releases/$old"
    done <<<"$olds"
    for old in "$SYNC_INCOMING"/*; do
        name=${old##*/}
        case $name in
            "$SYNC_RELEASE_PREFIX"*"$SYNC_BUNDLE_SUFFIX")
                upload_version=${name#"$SYNC_RELEASE_PREFIX"}
                upload_version=${upload_version%"$SYNC_BUNDLE_SUFFIX"}
                [[ $upload_version == "$version" || $upload_version == "$current" || $upload_version == "$previous" ]] &&
                    continue
                ;;
            "$SYNC_RELEASE_PREFIX"*"$SYNC_SDIST_SUFFIX" | wheelhouse-*) ;; # uploads of earlier versions of this stack
            *) continue ;;
        esac
        log "pruning upload $name"
        rm -rf "$old"
    done
    # Scratch directories of killed runs (we hold the lock: none of them is in use).
    for old in "$SYNC_DIST"/.extract.* "$SYNC_TOOLS"/.pip.* "$SYNC_TOOLS"/.build-env.* "$SYNC_TOOLS"/.home.*; do
        [[ $old == "$work" || $old == "$BUILD_HOME" ]] || rm -rf "$old"
    done
}

# Phase receive: the release reused when it is built already (from the sdist the stack names),
# otherwise its bundle received, verified and built.
obtain_release() {
    step receive "$version"
    if [[ -f $release/.complete ]]; then
        check_recorded_sha
        step reuse "$version is already built; switching only"
    else
        receive_bundle
        build_release
        rm -rf "$work"
        work=""
    fi
}

# Phase check, when the version is current already: make sure the host serves it.
confirm_current() {
    step check "$version is already current"
    if [[ $(deployed_version) != "$version" ]]; then
        # The deploy that switched to it never finished (killed mid-reload, say): some daemons
        # may still run the old release. Finish the reload.
        step reload "$version (finishing an interrupted deploy)"
        reload_app || true
    elif ! apache_running; then
        step reload "$version (Apache is not running)"
        reload_app || true
    fi
    if ! wait_serving "$version" "$RELOAD_FRESH"; then
        reload_app || true
        wait_serving "$version" "$RELOAD_FRESH" ||
            die "host does not serve $version although current points at it: $HEALTH_REPORT"
    fi
    mark_deployed "$version"
}

# Phase switch: point `current` at the release, the switch recorded on disk first.
switch_release() {
    # A broken Apache config (anyone's) would make the reload fail after the switch: refuse first.
    if ! apache_config_valid; then
        die "Apache config test failed; not switching to $version: $APACHE_ERRORS"
    fi
    step switch "${before:-none} -> $version"
    write_file "$SYNC_SWITCHING" "${before:-none} $version"
    point_link current "$version"
    if ! site_enabled; then
        enable_site
    fi
}

# Phase rollback: back to the previous release (or no release at all); ends the run as failed.
roll_back() {
    local why=$1
    if [[ -n $before ]]; then
        switch_back "$version" "$before"
        die "$version failed its health check ($why); switched back to $before"
    fi
    undo_first_install
    rm -f "$SYNC_SWITCHING"
    die "$version failed its health check ($why); no previous release to go back to"
}

# The switch confirmed: `previous` is what served before, and the record of the switch goes.
confirm_switch() {
    finish_switch "${before:-none}" "$version"
    sync "$SYNC_ROOT"
}

before=""
main() {
    recover_switch
    obtain_release
    before=$(current_version)
    if [[ $before == "$version" ]]; then
        confirm_current
        prune
        step finished "$version (no change)"
        return 0
    fi
    switch_release
    # Phases reload and health.
    reload_and_check "$version" "$version" "$version"
    [[ -z $UNHEALTHY ]] || roll_back "$UNHEALTHY"
    confirm_switch
    prune
    step finished "$version"
}

main
