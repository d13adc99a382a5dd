# shellcheck shell=bash
# The host key of an EC2 instance the stack created, read from its console output through the EC2
# API, run on the deployer by the server's `-hostkey` step, once per instance:
#   bash -s sync-console-key <server> <instance-id> <region> <seconds>       stdin: this script
# cloud-init prints the host keys it made at first boot between `-----BEGIN SSH HOST KEY KEYS-----`
# and `-----END SSH HOST KEY KEYS-----` on the instance's console; the EC2 API hands that output only
# to the account's own credentials, so the key is learnt without trusting whoever answers SSH first.
# Polls (the console output appears some time after boot) until the ed25519 line shows, at most
# <seconds>. stdout: that line.
set -euo pipefail
export LC_ALL=C

# `bash -s` makes the first word after it $1: the step's name, so a process list says what runs.
[[ $# -eq 5 && $1 == sync-console-key ]] ||
    { echo "usage: bash -s sync-console-key <server> <instance-id> <region> <seconds>" >&2; exit 2; }
server=$2 instance=$3 region=$4 seconds=$5

key_die() {
    printf '[sync %s hostkey] ERROR: %s\n' "$server" "$*" >&2
    exit 1
}

[[ $instance =~ ^i-[0-9a-f]{8,17}$ ]] || key_die "bad instance id '$instance'"
[[ $region =~ ^([a-z]{2}(-[a-z0-9]+)+-[0-9])?$ ]] || key_die "bad region '$region'"
[[ $seconds =~ ^[1-9][0-9]{0,4}$ ]] || key_die "bad wait '$seconds'"
command -v aws >/dev/null ||
    key_die "reading $instance's host key from its console output needs the AWS CLI on this machine (apt-get install awscli, or AWS's installer), with the credentials Pulumi uses"

query=(ec2 get-console-output --instance-id "$instance" --query Output --output text)
[[ -z $region ]] || query+=(--region "$region")

# The first ed25519 line between cloud-init's markers, in text the CLI may or may not have decoded.
host_key_in() {
    local text=$1
    if [[ $text != *"BEGIN SSH HOST KEY KEYS"* ]]; then
        text=$(base64 -d <<<"$text" 2>/dev/null || true)
    fi
    sed -n '/-----BEGIN SSH HOST KEY KEYS-----/,/-----END SSH HOST KEY KEYS-----/p' <<<"$text" |
        tr -d '\r' | grep -E -m1 '^ssh-ed25519 [A-Za-z0-9+/]+=*( |$)' || true
}

deadline=$((SECONDS + seconds))
error=""
while true; do
    # --latest (Nitro instances) reads the console as it is now; other instances only have the buffered copy.
    if output=$(aws "${query[@]}" --latest 2>/dev/null) || output=$(aws "${query[@]}" 2>&1); then
        key=$(host_key_in "$output")
        if [[ -n $key ]]; then
            printf '%s\n' "$key"
            exit 0
        fi
        error="its console output shows no ssh-ed25519 host key yet"
    else
        error=$(tr '\n' ' ' <<<"$output" | cut -c1-300)
    fi
    ((SECONDS < deadline)) ||
        key_die "no host key for $instance within ${seconds}s: $error (check: aws ec2 get-console-output --instance-id $instance)"
    sleep 10
done
