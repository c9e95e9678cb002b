#!/bin/sh
# Build specdrop's .deb (target/debian/) and .rpm (target/generate-rpm/).
#
# Installs what it needs when missing: cargo-deb and cargo-generate-rpm
# (cargo install), cmake and nasm (apt-get) for the bundled libjpeg-turbo
# that the packaged binary uses for faster JPEG encoding (docs/performance.md).
# Usage: packaging/build.sh            from anywhere in the repository
set -eu
cd "$(dirname "$0")/.."

need_apt=""
command -v cmake >/dev/null || need_apt="$need_apt cmake"
command -v nasm >/dev/null || need_apt="$need_apt nasm"
if [ -n "$need_apt" ]; then
    echo "build.sh: installing$need_apt (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt >/dev/null
fi
cargo deb --version >/dev/null 2>&1 || cargo install --locked cargo-deb
cargo generate-rpm --version >/dev/null 2>&1 || cargo install --locked cargo-generate-rpm

# One build (profile `dist`: release, stripped) serves both packages.
cargo build --profile dist --locked -p specdrop --features turbojpeg
cargo deb --no-build --profile dist -p specdrop
cargo generate-rpm --profile dist -p crates/specdrop
echo "build.sh: built"
ls -1 target/debian/*.deb target/generate-rpm/*.rpm
