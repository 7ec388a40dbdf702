#!/usr/bin/env bash
# Cross-builds peerdrt.sys on Linux: the driver package's library as a cdylib for
# x86_64-pc-windows-msvc, linked by rust-lld with the kernel-driver arguments of build.rs,
# in the `driver` profile (panic = "abort", LTO). Output: target/wine/peerdrt.sys.
#
#   tests/wine/build-driver.sh            # build (cargo no-ops when it is up to date)
#
# Needs the rustup target x86_64-pc-windows-msvc (tests/wine/install-deps.sh). No MSVC, no WDK.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=x86_64-pc-windows-msvc
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "build-driver: the Rust target $TARGET is not installed; run tests/wine/install-deps.sh" >&2
    exit 2
fi

target_dir="${CARGO_TARGET_DIR:-target}"
cargo rustc -p peerdrt --lib --profile driver --target "$TARGET" --crate-type cdylib ${CARGO_BUILD_FLAGS:-}

mkdir -p "$target_dir/wine"
cp "$target_dir/$TARGET/driver/peerdrt.dll" "$target_dir/wine/peerdrt.sys.tmp"
mv "$target_dir/wine/peerdrt.sys.tmp" "$target_dir/wine/peerdrt.sys"
if [ -f "$target_dir/$TARGET/driver/peerdrt.pdb" ]; then
    cp "$target_dir/$TARGET/driver/peerdrt.pdb" "$target_dir/wine/peerdrt.pdb"
fi
echo "build-driver: $target_dir/wine/peerdrt.sys ($(stat -c %s "$target_dir/wine/peerdrt.sys") bytes)"
