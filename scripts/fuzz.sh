#!/usr/bin/env bash
# Run every cargo-fuzz target of fuzz/ for RUNS executions each (default 1000000).
#
# Not part of the test suite: a long-running robustness check for the FTP parsers. Works on the
# stable toolchain: RUSTC_BOOTSTRAP=1 lets it accept the -Z sanitizer flags cargo-fuzz passes.
# New inputs libFuzzer finds go to fuzz/target/work-corpus/<target> (ignored by git), so the
# committed seeds in fuzz/corpus/<target> stay small; crashes go to fuzz/artifacts/<target>.
#
# Environment: FUZZ_SANITIZER (default "none": the code under test is safe Rust, so
# AddressSanitizer mostly costs speed; set "address" to use it), FUZZ_TARGETS to pick targets.
set -euo pipefail

runs="${1:-1000000}"
sanitizer="${FUZZ_SANITIZER:-none}"
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
for target in $targets; do
    work_corpus="target/work-corpus/$target"
    mkdir -p "$work_corpus"
    echo "== $target: $runs runs (sanitizer $sanitizer)"
    log="target/fuzz-$target.log"
    start=$(date +%s)
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$work_corpus" "corpus/$target" -- \
        -runs="$runs" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    # The build output and libFuzzer's summary, without its per-input progress lines.
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|^"|dictionary' "$log" | tail -n 40
    echo "== $target: exit $status after $(($(date +%s) - start)) s"
    if [ "$status" -ne 0 ]; then
        echo "== $target failed; full log fuzz/$log, inputs in fuzz/artifacts/$target" >&2
        exit "$status"
    fi
done
