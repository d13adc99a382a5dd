# shellcheck shell=bash
# The stage step: make a release ready on this host without changing anything it serves.
#   usage: stage.sh <deploy-user> <bundle> <version> <sdist-sha256> <bundle-sha256> <bundle-bytes>
# <bundle>: `-`, the bundle on stdin (<bundle-bytes> of it), read only when the release must be
# built; or the file the stage's entry received and checked already (bootstrap.sh passes it).
# Run by the stage step's entry (installed scripts) or by bootstrap.sh. Prepares the host
# (preflight, the service and build users, /var/sync), then either reuses releases/<version>
# (root's record says it was built from this sdist and the tree is sealed) or receives the bundle
# (sha256, every member, SHA256SUMS, the sdist against the stack's sha256) and builds the release
# at its final path: a venv made by uv as the unprivileged build user, an offline install from the
# bundle's wheelhouse with bytecode compiled, the version and import checks; then every process of
# the build user killed, the tree sealed root-owned and checked, synced, and root's record written.
# stdout: one line, "staged <version>". A failure leaves every served thing as it was and no
# unfinished release tree behind.
# shellcheck source=components/remote/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
# shellcheck source=components/remote/lib_build.sh
source "$SYNC_SCRIPT_DIR/lib_build.sh"
cd /

deploy_user=${1:-}
bundle=${2:-}
version=${3:-}
expected_sha=${4:-}
expected_bundle_sha=${5:-}
bundle_bytes=${6:-}
# The stack validated these already; re-check because this script also runs by hand.
[[ $# -eq 6 ]] || die "usage: stage.sh <deploy-user> <bundle> <version> <sdist-sha256> <bundle-sha256> <bundle-bytes>"
[[ $deploy_user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "bad deploy user '$(printable "$deploy_user" 64)'"
[[ $version =~ $SYNC_VERSION_RE ]] || die "bad version '$(printable "$version" 80)'"
[[ $bundle == - || ($bundle == "$SYNC_DIST"/.incoming.* && $bundle != *..* && -f $bundle && ! -L $bundle) ]] ||
    die "bad bundle '$(printable "$bundle" 200)'"
[[ $expected_sha =~ ^[0-9a-f]{64}$ ]] || die "bad sdist sha256 '$expected_sha'"
[[ $expected_bundle_sha =~ ^[0-9a-f]{64}$ ]] || die "bad bundle sha256 '$expected_bundle_sha'"
[[ $bundle_bytes =~ ^[1-9][0-9]{0,11}$ ]] || die "bad bundle size '$(printable "$bundle_bytes" 20)'"

require_root
install -d -m 0755 -o root -g root "$SYNC_ROOT"
with_lock "$@"
SYNC_STEP=stage

release="$SYNC_RELEASES/$version"
sdist_name="$SYNC_RELEASE_PREFIX$version$SYNC_SDIST_SUFFIX"
work=""
# "yes" from the moment the build user may write releases/<version> until root's record is written.
building=""

cleanup() {
    local status=$?
    if [[ -n $BUILD_HOME || -n $building ]]; then
        stop_builder_processes 2>/dev/null || true
    fi
    [[ -z $BUILD_HOME ]] || rm -rf "$BUILD_HOME"
    # An unfinished tree never survives its run (a SIGKILL'd run's is removed by the next one).
    [[ -z $building ]] || discard_tree "$release"
    [[ -z $work ]] || rm -rf "$work"
    [[ $status -ne 0 ]] || printf 'staged %s\n' "$version"
    exit "$status"
}
trap cleanup EXIT

# Phase prepare: what any release needs on this host.
prepare_host() {
    step preflight "$version"
    # EC2 hosts install packages from cloud-init; wait for it (bounded by the caller's timeout).
    if command -v cloud-init >/dev/null; then
        cloud-init status --wait >/dev/null 2>&1 || log "cloud-init reported an error; checking the platform anyway"
    fi
    preflight
    ensure_users
    migrate_earlier_layout "$PYTHON"
    ensure_layout
    sweep_leftovers
    prune_scripts
}

# A failed build leaves nothing behind: cleanup kills the build user and removes the tree.
fail_build() {
    die "$*"
}

# A tree without root's record (a build that was killed, or one the build user tampered with)
# is removed before a new build — unless something protects it (release_protection: current,
# previous, or either side of a switch not yet confirmed).
clear_unfinished() {
    [[ -e $release || -L $release ]] || return 0
    local protection
    protection=$(release_protection "$version")
    if [[ -n $protection ]]; then
        die "releases/$version is $protection, but root has no record of a finished build of it; not touching it (switch away from it first); host unchanged"
    fi
    stop_builder_processes
    log "removing an unfinished build of $version"
    discard_tree "$release"
}

# Bundles the stage's entry received for a run that was killed before it removed them (an hour
# old: no stage still reads them); earlier versions of this stack uploaded bundles to the deploy
# user's ~/.sync-release (and root kept an incoming/ folder): swept, the deploy user's as that
# user (root never walks its home).
sweep_received() {
    find "$SYNC_DIST" -maxdepth 1 -type f -name '.incoming.*' -mmin +60 -delete
    local home
    home=$(getent passwd "$deploy_user" | cut -d: -f6)
    if [[ -n $home && -d $home/$SYNC_UPLOADS ]]; then
        setpriv --reuid="$deploy_user" --regid="$(id -g "$deploy_user")" --init-groups \
            find "$home/$SYNC_UPLOADS" -maxdepth 1 -type f -name "$SYNC_RELEASE_PREFIX*$SYNC_BUNDLE_SUFFIX" -delete \
            2>/dev/null || true
        rmdir "$home/$SYNC_UPLOADS" 2>/dev/null || true
    fi
    rm -rf "$SYNC_DIST/incoming"
}

# The bundle, checked before anything is unpacked: its sha256, then every member (regular files
# named as a bundle names them, nothing absolute, no `..`, no links or devices), then, unpacked
# into a root-only directory, every file against SHA256SUMS and the sdist against the stack's sha256.
receive_bundle() {
    local actual names types listed present sdist_sha name sdist_seen=""
    step verify "$version"
    work=$(mktemp -d "$SYNC_DIST/.extract.XXXXXX")
    # Into a root-only directory, whole, then checked: from the step's stdin, or the file the
    # entry received.
    if [[ $bundle == - ]]; then
        head -c "$bundle_bytes" >"$work/bundle.tar" || die "could not receive the release bundle (disk full?); host unchanged"
    else
        mv -- "$bundle" "$work/bundle.tar" || die "could not move $bundle (disk full?); host unchanged"
    fi
    bundle="the release bundle"
    actual=$(sha256sum <"$work/bundle.tar" | cut -d' ' -f1)
    [[ $actual == "$expected_bundle_sha" ]] ||
        die "sha256 of the release bundle is $actual, expected $expected_bundle_sha (cut short?); host unchanged"
    names=$(tar --list --quoting-style=escape -f "$work/bundle.tar" 2>/dev/null) ||
        die "$bundle is not a readable tar; host unchanged"
    types=$(tar --list --verbose --quoting-style=escape -f "$work/bundle.tar" 2>/dev/null | cut -c1 | sort -u) ||
        die "$bundle is not a readable tar; host unchanged"
    [[ $types == - ]] || die "$bundle holds something other than regular files (links, devices, directories); host unchanged"
    while IFS= read -r name; do
        case $name in
            "$SYNC_BUNDLE_SUMS") ;;
            "$sdist_name") sdist_seen=yes ;;
            "$SYNC_BUNDLE_SCRIPTS"/*)
                [[ $name =~ ^$SYNC_BUNDLE_SCRIPTS/[a-z0-9_-]+\.(sh|py)$ ]] ||
                    die "$bundle holds an unexpected member '$(printable "$name" 120)'; host unchanged"
                ;;
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
    chmod 0644 "$sdist" "$wheelhouse"/*
}

# Built at its final path (venvs aren't relocatable) by the build user, in its sandbox, then
# handed to root. The tree is the build user's and 0700 until it is sealed: no one else can open
# anything in it while release code can still write there.
build_release() {
    local problem
    ensure_uv "$wheelhouse"

    step venv "$version"
    stop_builder_processes
    BUILD_HOME=$(mktemp -d "$SYNC_TOOLS/.home.XXXXXX")
    chown "$SYNC_BUILDER:$SYNC_BUILDER" "$BUILD_HOME"
    building=yes
    install -d -m 0700 -o "$SYNC_BUILDER" -g "$SYNC_BUILDER" "$release"
    run_builder "$UV" venv --python "$PYTHON" --offline --quiet "$release" ||
        fail_build "uv could not create the virtualenv for $version with $PYTHON (disk full?); host unchanged"

    # The step keeps pip's name: the tests and benchmarks read it as "the release was built".
    step pip "$version (uv $SYNC_UV_VERSION, offline)"
    run_builder "$UV" pip install --python "$release/bin/python" --offline --no-index --find-links "$wheelhouse" \
        --compile-bytecode --quiet -- "$sdist" ||
        fail_build "uv could not install $version offline (missing dependency in its wheelhouse?); host unchanged"
    builder_output 200 "$release/bin/python" -c 'import importlib.metadata as m; print(m.version("WeaveServer"))' ||
        true
    [[ $BUILDER_OUTPUT == "$version" ]] ||
        fail_build "the sdist installed as version '$(printable "$BUILDER_OUTPUT" 64)', expected $version; host unchanged"
    run_builder env SYNC_INI=/dev/null "$release/bin/python" -c 'import weave.server.wsgi' ||
        fail_build "$version fails to import weave.server.wsgi; host unchanged"

    # From here on the release is root's: the build user (and the app user) cannot change it.
    problem=$(seal_tree "$release" "$PYTHON") ||
        fail_build "the build of $version left something root will not serve: $problem; host unchanged"
    problem=$(tree_problem "$release" "$PYTHON")
    [[ -z $problem ]] || fail_build "the build of $version left something root will not serve: $problem; host unchanged"
    # Every file of the release reaches the disk before the record that says it is complete.
    sync -f "$release" || fail_build "could not sync $version to disk; host unchanged"
    write_record "$version" "$expected_sha" || fail_build "could not record $version as built (disk full?); host unchanged"
    building=""
    rm -rf "$BUILD_HOME"
    BUILD_HOME=""
}

# A recorded release whose tree fails the seal check (RELEASE_PROBLEM): one nothing protects is
# rebuilt (root drops its own record first); one current, previous or an unfinished switch needs
# is neither used nor touched, and its record stays, so it is usable again once the cause is gone.
# A tree that is gone altogether (removed by hand) protects nothing: what needs it is broken
# already, and building it again at its path is the repair.
keep_or_forget_record() {
    local protection
    protection=$(release_protection "$version")
    if [[ ! -e $SYNC_RELEASES/$version && ! -L $SYNC_RELEASES/$version ]]; then
        log "release $version is gone from the host although root recorded it${protection:+ (it is $protection)}: building it again"
    elif [[ -n $protection ]]; then
        die "release $version is built but its tree fails the seal check ($RELEASE_PROBLEM); it is $protection: not using it, not rebuilding it, root's record kept — remove the cause (another hard link: find / -xdev -samefile $SYNC_RELEASES/$version/<file>) and run again; host unchanged"
    fi
    log "release $version is built but its tree fails the seal check ($RELEASE_PROBLEM): rebuilding it"
    remove_record "$version"
}

main() {
    prepare_host
    step receive "$version"
    if release_is_staged "$version" "$expected_sha" "$PYTHON"; then
        if [[ $(record_of "$version") == adopted ]]; then
            write_record "$version" "$expected_sha"
        fi
        step reuse "$version is already built"
    else
        if [[ -n $RELEASE_PROBLEM ]]; then
            keep_or_forget_record
        fi
        clear_unfinished
        receive_bundle
        build_release
        rm -rf "$work"
        work=""
    fi
    sweep_received
    step staged "$version"
}

main
