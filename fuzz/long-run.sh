#!/usr/bin/env bash
# The long fuzzing run: every target, one after another, for RUNS executions each (default
# 10 million) or at most MAX_SECONDS (default 3600) — whichever comes first. Prints, per target,
# the executions, executions per second, coverage (edges and features), the corpus growth and
# whether it crashed. Not part of CI (fuzz/run.sh is); the figures go in the closing report.
#
#   fuzz/long-run.sh [TARGET...]          (default: every target of `cargo fuzz list`)
#
# Environment: RUNS, MAX_SECONDS, SANITIZER (address | none; default address), OUT (directory for
# the logs and the grown corpora; default a fresh temporary directory, kept; a corpus already
# there is continued), ASAN_OPTIONS (default quarantine_size_mb=0: the quarantine only serves
# use-after-free detection, which safe Rust does not need — peerdrt-core and peerdrt-abi forbid
# unsafe code — and with it half of the reassembly target's time went to clearing fresh pages),
# FUZZ_ARGS (extra libFuzzer flags for every target, e.g. "-entropic=0": on node_inputs, whose
# inputs each touch ~10,000 features, libFuzzer's entropic schedule took ~40% of the time).

set -uo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."
runs="${RUNS:-10000000}"
max_seconds="${MAX_SECONDS:-3600}"
sanitizer="${SANITIZER:-address}"
out="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/peerdrt-fuzz-long.XXXXXX")}"
mkdir -p "$out"
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=0}"

fuzz=(cargo +nightly fuzz)
read -r -a extra <<<"${FUZZ_ARGS:-}"
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    read -r -a targets <<<"$("${fuzz[@]}" list --fuzz-dir "$fuzz_dir" | tr '\n' ' ')"
fi
"${fuzz[@]}" build --fuzz-dir "$fuzz_dir" -s "$sanitizer" || exit 1

for target in "${targets[@]}"; do
    corpus="$out/corpus/$target"
    mkdir -p "$corpus" "$out/artifacts/$target"
    cp "$fuzz_dir/corpus/$target"/seed-* "$corpus/" 2>/dev/null || true
    seeds=$(find "$corpus" -type f | wc -l)
    log="$out/$target.log"
    start=$(date +%s)
    "${fuzz[@]}" run --fuzz-dir "$fuzz_dir" -s "$sanitizer" "$target" "$corpus" -- \
        -runs="$runs" -max_total_time="$max_seconds" -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$target/" "${extra[@]}" >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    crashes=$(find "$out/artifacts/$target" -type f | wc -l)
    printf '%-24s rc=%d %ss execs=%s exec/s=%s %s corpus %s->%s crashes=%s\n' \
        "$target" "$rc" "$elapsed" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$seeds" \
        "$(find "$corpus" -type f | wc -l)" "$crashes" | tee -a "$out/summary.txt"
done
echo "logs, corpora and artifacts in $out"
