#!/usr/bin/env bash
# Builds the Wine lane's netio.sys stand-in (tests/wine/netio-standin: NMR registrar + strict WSK
# datagram provider over Winsock) for x86_64-pc-windows-gnu with mingw-w64.
# Output: target/wine/netio.sys.
#
#   tests/wine/build-netio.sh             # release build (cargo no-ops when it is up to date)
#   PROFILE=dev tests/wine/build-netio.sh # debug build
#
# Install it into a prefix as a native override (reference/wine-lane.md):
#   cp target/wine/netio.sys "$WINEPREFIX/drive_c/windows/system32/drivers/netio.sys"
#   wine reg add 'HKCU\Software\Wine\DllOverrides' /v netio.sys /d native /f
# Knobs, read from winedevice.exe's environment: PEERDRT_NETIO_LOG (default C:\netio-standin.log),
# PEERDRT_NETIO_ATTACH_DELAY_MS (50), PEERDRT_NETIO_DETACH_AFTER_MS (unset: the provider never
# detaches on its own), PEERDRT_NETIO_DETACH_TIMEOUT_MS (15000), PEERDRT_NETIO_DEREGISTER_TIMEOUT_MS
# (30000), PEERDRT_NETIO_COMPLETION_DELAY_MS (2), PEERDRT_NETIO_VERBOSE. Wine's services.exe builds
# a service's environment from the registry, not from the shell, so set them there before the
# prefix's services start (wineserver -k restarts them):
#   wine reg add 'HKLM\System\CurrentControlSet\Control\Session Manager\Environment' \
#       /v PEERDRT_NETIO_DETACH_AFTER_MS /d 1500 /f
# The lane asserts on the last line `NETIO-STANDIN SUMMARY: ... violations=0` of the log; every
# broken rule is a line starting `NETIO-STANDIN VIOLATION:`.
#
# Needs the rustup target x86_64-pc-windows-gnu and mingw-w64 (tests/wine/install-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

TARGET=x86_64-pc-windows-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "build-netio: the Rust target $TARGET is not installed; run tests/wine/install-deps.sh" >&2
    exit 2
fi
if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    echo "build-netio: x86_64-w64-mingw32-gcc (mingw-w64) is missing; run tests/wine/install-deps.sh" >&2
    exit 2
fi

profile="${PROFILE:-release}"
target_root="${CARGO_TARGET_DIR:-$root/target}"
build_dir="$target_root/netio-standin"
# The package's .cargo/config.toml picks the target and the mingw linker; run from its directory.
(cd "$root/tests/wine/netio-standin" &&
    cargo build --profile "$profile" --target "$TARGET" --target-dir "$build_dir" ${CARGO_BUILD_FLAGS:-})

out_profile="$profile"
[ "$profile" = dev ] && out_profile=debug
dll="$build_dir/$TARGET/$out_profile/netio.dll"
mkdir -p "$target_root/wine"
cp "$dll" "$target_root/wine/netio.sys.tmp"
mv "$target_root/wine/netio.sys.tmp" "$target_root/wine/netio.sys"
echo "build-netio: $target_root/wine/netio.sys ($(stat -c %s "$target_root/wine/netio.sys") bytes)"
