#!/usr/bin/env bash
# What the Wine lane (tests/wine/run-lane.sh) and the driver PE test (tests/driver_pe.rs) need on
# a fresh Debian machine: Wine 8 (64-bit), mingw-w64, and the two Windows Rust targets.
# Idempotent; runs as root (CI) or with sudo available.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=0
for tool in wine wineserver x86_64-w64-mingw32-gcc; do
    command -v "$tool" >/dev/null || need_apt=1
done
if [ "$need_apt" = 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # wine: the loader and winedevice.exe; wine64/libwine: the 64-bit runtime; mingw-w64: the
    # netio.sys and bcryptprimitives.dll stand-ins and the linker of the gnu target.
    $SUDO apt-get install -y -qq --no-install-recommends wine wine64 libwine mingw-w64 >/dev/null
fi
# Debian installs the 64-bit loader as wine64 and `wine` only as a wrapper when wine32 is absent
# on some releases; make sure `wine` runs 64-bit programs.
if ! command -v wine >/dev/null && [ -x /usr/lib/wine/wine64 ]; then
    $SUDO ln -sf /usr/lib/wine/wine64 /usr/local/bin/wine
fi

# peerdrt.sys (linked by rustc's own rust-lld) and the user-mode programs run under Wine.
rustup target add x86_64-pc-windows-msvc x86_64-pc-windows-gnu >/dev/null
echo "install-deps: $(wine --version 2>/dev/null), $(x86_64-w64-mingw32-gcc --version | head -1), rust targets ok"
