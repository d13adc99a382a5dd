# shellcheck shell=bash
# What a host holds and serves, read before the stack plans: run ON THE HOST as root by the
# observation (components/observe.ts), sent by the deployer over its own ssh (on-host.sh), never
# installed there, so a host with nothing of ours yet answers too:
#   remote command: [sudo -n ]timeout 20 bash -s
#   stdin:          this script, then: observe <version> <sdist-sha256> <scripts-hash>
# Read-only: it takes no lock, writes nothing and starts nothing but curl, and reads no content
# back to the deployer — /etc/sync.ini is compared with root's record of the settings last applied,
# as sha256s, here. Prints one `key=value` line each (values: versions, yes/no words, nothing the
# app could choose but a version):
#   current   the release `current` resolves to (none: no release)
#   sealed    yes: that release has root's record and its tree is root's and not writable by others;
#             gone: the link points at nothing
#   deployed  the release whose last deploy ran to the end (none)
#   switching yes: a switch was cut off before its health check
#   serves    the version the app answers on /__version__ (none: no answer; other: not a version)
#   staged    yes: <version> has root's record naming <sdist-sha256> and a sealed tree
#   scripts   yes: /var/sync/scripts/<scripts-hash> is complete and still hashes to it
#   ini       applied: /etc/sync.ini is what the last settings step applied; changed; missing;
#             none: no settings were ever applied
set -euo pipefail
export LC_ALL=C
shopt -s nullglob

observe() {
    local version=$1 sdist_sha=$2 hash=$3
    local root=/var/sync version_re='^[0-9][0-9a-z.]{0,63}$' target current="none" sealed="no" served
    [[ $version =~ $version_re && $sdist_sha =~ ^[0-9a-f]{64}$ && $hash =~ ^[0-9a-f]{16}$ ]] ||
        { echo "observe: bad arguments" >&2; return 2; }

    if [[ -L $root/current ]]; then
        target=$(readlink "$root/current")
        current=${target##*/}
        [[ $target == "releases/$current" && $current =~ $version_re ]] || current="bad"
    fi
    if [[ $current != none && $current != bad ]]; then
        if [[ ! -d $root/releases/$current ]]; then
            sealed="gone"
        elif [[ -n $(recorded "$root" "$current") ]] && tree_sealed "$root/releases/$current"; then
            sealed="yes"
        fi
    fi
    echo "current=$current"
    echo "sealed=$sealed"
    echo "deployed=$(word_of "$root/.deployed")"
    echo "switching=$([[ -e $root/.switching ]] && echo yes || echo no)"
    served=$(curl -q -s --noproxy '*' --max-time 3 --max-filesize 200 http://127.0.0.1/__version__ 2>/dev/null |
        head -c 200 | tr -d '\n' || true)
    if [[ -z $served ]]; then
        echo "serves=none"
    elif [[ $served =~ $version_re ]]; then
        echo "serves=$served"
    else
        echo "serves=other"
    fi
    if [[ $(recorded "$root" "$version") == "$sdist_sha" ]] && tree_sealed "$root/releases/$version"; then
        echo "staged=yes"
    else
        echo "staged=no"
    fi
    if [[ -f $root/scripts/$hash/.complete ]] &&
        [[ $(cd "$root/scripts/$hash" && sha256sum -- * 2>/dev/null | sha256sum | cut -c1-16) == "$hash" ]]; then
        echo "scripts=yes"
    else
        echo "scripts=no"
    fi
    echo "ini=$(ini_state "$root")"
}

# The sdist sha256 root recorded for a release ("" when none).
recorded() {
    local record="$1/.built/$2"
    [[ -f $record && ! -L $record ]] || return 0
    head -c 64 "$record"
}

# Root's and not writable by anyone else: what a release switched to must be (the stage and the
# activation check every link and file type too; this is the quick look).
tree_sealed() {
    [[ -d $1 && ! -L $1 ]] || return 1
    [[ -z $(find "$1" \( ! -user root -o ! -group root -o \( ! -type l -perm /6022 \) \) -print -quit 2>/dev/null) ]]
}

# A one-word file (a version) or "none".
word_of() {
    local word=""
    [[ -f $1 && ! -L $1 ]] && word=$(head -c 80 "$1" | head -n 1)
    [[ $word =~ ^[0-9][0-9a-z.]{0,63}$ ]] || word="none"
    printf '%s\n' "$word"
}

ini_state() {
    local applied actual
    [[ -f $1/.ini-applied ]] || { echo none; return 0; }
    applied=$(head -c 64 "$1/.ini-applied")
    [[ -f /etc/sync.ini ]] || { echo missing; return 0; }
    actual=$(sha256sum </etc/sync.ini | cut -c1-64)
    [[ $actual == "$applied" ]] && echo applied || echo changed
}
