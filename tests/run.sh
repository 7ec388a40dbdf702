#!/usr/bin/env bash
# The project's whole test suite, as the README's second command runs it:
#   1. every workspace test (unit, property, edge, simulator, engine, daemons, shim, C program,
#      INF, the .sys PE check, and the tshark external check of the codec);
#   2. the fuzz targets: their committed corpora replayed, then a bounded fuzzing run each
#      (FUZZ_SECONDS, default 30);
#   3. the Wine lane: peerdrt.sys loaded under Wine, driven through \\.\PeerDrt, in a mixed cloud
#      with Linux nodes, and unloaded cleanly (SKIP_WINE_LANE=1 skips it, e.g. on a machine
#      without Wine; CI never sets it).
# Needs what .ci/run installs: tshark, wine + mingw-w64 + the Windows Rust targets
# (tests/wine/install-deps.sh), nightly and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp "${TMPDIR:-/tmp}/peerdrt-tests.XXXXXX")"
trap 'rm -f "$log"' EXIT

echo "== cargo test --workspace"
# --no-fail-fast: one failing binary must not hide the results of the others.
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"

echo "== fuzz targets: corpus replay + ${FUZZ_SECONDS:-30}s each"
fuzz/run.sh "${FUZZ_SECONDS:-30}"

if [[ "${SKIP_WINE_LANE:-0}" != 1 ]]; then
    echo "== the Wine lane"
    tests/wine/run-lane.sh
fi

# One closing line over every cargo test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
