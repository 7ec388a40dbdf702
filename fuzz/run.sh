#!/usr/bin/env bash
# Replays the committed seed corpora, then fuzzes every target for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]          (default 30)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target runs on a
# scratch copy of fuzz/corpus/<target>/, so the committed corpus does not grow; crash inputs land
# in fuzz/artifacts/<target>/ (git-ignored). Exits non-zero on the first crash, leak or timeout.
#
# Environment: FUZZ_TARGETS (space-separated, default: every target of `cargo fuzz list`),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-max_len=65507"), KEEP_SCRATCH=1 to keep the scratch
# directory (printed at the end).

set -euo pipefail

seconds="${1:-30}"
case "$seconds" in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS_PER_TARGET]" >&2
        exit 2
        ;;
esac

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."

fuzz=(cargo +nightly fuzz)
read -r -a targets <<<"${FUZZ_TARGETS:-$("${fuzz[@]}" list --fuzz-dir "$fuzz_dir" | tr '\n' ' ')}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/peerdrt-fuzz.XXXXXX")"
if [[ "${KEEP_SCRATCH:-0}" != 1 ]]; then
    trap 'rm -rf "$scratch"' EXIT
fi

echo "==> building the fuzz targets"
"${fuzz[@]}" build --fuzz-dir "$fuzz_dir"

summary=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    mkdir -p "$corpus"
    seeds=("$fuzz_dir/corpus/$target"/seed-*)
    if [[ -e "${seeds[0]}" ]]; then
        cp "${seeds[@]}" "$corpus/"
    fi
    count=$(find "$corpus" -type f | wc -l)

    echo "==> $target: replaying $count seed(s)"
    "${fuzz[@]}" run --fuzz-dir "$fuzz_dir" "$target" "$corpus" -- -runs=0 "${extra[@]}" \
        >"$scratch/$target.replay.log" 2>&1 || {
        cat "$scratch/$target.replay.log" >&2
        echo "FAIL: $target crashed on its seed corpus" >&2
        exit 1
    }
    tail -n 2 "$scratch/$target.replay.log"

    echo "==> $target: fuzzing for ${seconds}s"
    "${fuzz[@]}" run --fuzz-dir "$fuzz_dir" "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" \
        >"$scratch/$target.fuzz.log" 2>&1 || {
        tail -n 60 "$scratch/$target.fuzz.log" >&2
        echo "FAIL: $target crashed while fuzzing; see fuzz/artifacts/$target/" >&2
        exit 1
    }
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$target.fuzz.log" | tail -n 1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$scratch/$target.fuzz.log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$scratch/$target.fuzz.log" | tail -n 1)
    echo "$done_line"
    summary+=("$(printf '%-24s %10s exec/s %12s runs  corpus %s -> %s' \
        "$target" "${speed:-?}" "${runs:-?}" "$count" "$(find "$corpus" -type f | wc -l)")")
done

echo "==> all targets passed (${seconds}s each)"
printf '    %s\n' "${summary[@]}"
if [[ "${KEEP_SCRATCH:-0}" == 1 ]]; then
    echo "scratch kept in $scratch"
fi
