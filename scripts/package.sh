#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (installed once, at a pinned version, into the ignored
# .tmp/cargo-bin): a release build, then target/debian/mxcall_<version>-1_<arch>.deb with the
# binary, man pages, shell completions, README, licence and the example systemd user unit
# (Cargo.toml [package.metadata.deb]). Prints the .deb's path on stdout. Needs dpkg-dev
# (dpkg-shlibdeps computes Depends:), which scripts/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
bin=.tmp/cargo-bin/bin/cargo-deb
if ! { [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; }; then
    echo "package.sh: installing cargo-deb $CARGO_DEB_VERSION into .tmp/cargo-bin" >&2
    cargo install --locked --quiet --version "$CARGO_DEB_VERSION" --root .tmp/cargo-bin cargo-deb >&2
fi
# cargo-deb runs `cargo build --release` (stripped: [profile.release] strip = true).
"$bin" --locked --output target/debian/ >&2
ls -t target/debian/mxcall_*.deb | head -1
