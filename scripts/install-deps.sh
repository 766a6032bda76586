#!/usr/bin/env bash
# Installs the system packages mxcall's build and tests need on Debian (run as root, or with sudo
# available). Safe to run again: packages already present are skipped.
set -euo pipefail

packages=(
    pkg-config cmake            # libopus (bundled by the opus crate) builds with cmake
    libasound2-dev              # cpal's ALSA backend
    libopus-dev
    python3 python3-venv        # the Synapse test homeserver
    curl ca-certificates
    alsa-utils                  # aplay/arecord, to inspect the ALSA test devices
    dpkg-dev man-db             # the .deb: dpkg-shlibdeps (Depends:), and `man -w` in its test
    iproute2                    # `ip`: network-namespace tests (a host with only `lo`)
    iptables                    # random packet loss inside those namespaces (`-m statistic`)
    coturn                      # TURN relay for the relay-only call test (tests/resilience.rs)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all system packages present" >&2
    exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
