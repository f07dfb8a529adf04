#!/bin/sh
# A bounded run of a libFuzzer target, as a meson test (suite 'fuzz').
#
# usage: run_fuzz.sh FUZZER WORKDIR SECONDS CORPUS...
#
# WORKDIR keeps the corpus the fuzzer grows (it persists across runs in the
# build tree) and any crash it finds (crash-*, leak-*, timeout-*, oom-*).
# Exit: 0 no problem found, 1 the fuzzer found one (the input is in
# WORKDIR), 77 the fuzzer could not be built here (meson's "skip").
set -u
if [ $# -lt 3 ]; then
    echo "usage: run_fuzz.sh FUZZER WORKDIR SECONDS CORPUS..." >&2
    exit 99
fi
fuzzer=$1 workdir=$2 seconds=$3
shift 3
if [ ! -x "$fuzzer" ]; then
    echo "skip: $fuzzer was not built (it needs clang with libFuzzer: clang, libclang-rt-*-dev)"
    exit 77
fi
mkdir -p "$workdir/corpus" || exit 99
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$workdir/" \
    "$workdir/corpus" "$@"
status=$?
if [ $status -ne 0 ]; then
    echo "the fuzzer failed (status $status): see the input saved in $workdir/" >&2
    exit 1
fi
exit 0
