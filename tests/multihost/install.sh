#!/bin/sh
# Install what the multi-host tests need: iproute2 (ip netns, veth, bridge),
# openssh-server (one sshd per namespace host) and openssh-client (the
# launcher's transport). Idempotent: does nothing when all are present.
set -eu

missing=""
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
if ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
    missing="$missing openssh-client"
fi

if [ -z "$missing" ]; then
    echo "multihost: iproute2, openssh-server and openssh-client already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "multihost: installing$missing"
$SUDO apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
