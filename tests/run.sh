#!/usr/bin/env bash
# The project's whole test suite, as the README's second command runs it:
#   1. every workspace test (unit, property, edge, and the tshark external check);
#   2. the fuzz targets: their committed corpora replayed, then a bounded fuzzing run each.
# FUZZ_SECONDS (default 30) bounds each fuzz target's run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace --locked

echo "== fuzz targets: corpus replay + ${FUZZ_SECONDS:-30}s each"
fuzz/run.sh "${FUZZ_SECONDS:-30}"
