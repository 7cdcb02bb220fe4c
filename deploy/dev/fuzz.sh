#!/usr/bin/env bash
# The clang gates of the test command, in one build tree (build/fuzz):
# clang with ASan + UBSan (and libFuzzer's coverage) on all our code, and
# -Werror=thread-safety (cmake/Warnings.cmake), so building it checks every
# ABSL_GUARDED_BY. Then the unit tests under the sanitizers, then every
# libFuzzer target of tests/fuzz for a short while from its checked-in
# corpus: the smoke run of the test command, and how to fuzz for longer.
#
#   deploy/dev/fuzz.sh            # whole build, unit tests, every target 20 s
#   deploy/dev/fuzz.sh 600        # the same, every target 10 min
#   deploy/dev/fuzz.sh 60 proxy_url rest_query   # build and fuzz only these
#
# One build serves both gates: the unit tests link the same instrumented
# libraries as the fuzz targets (the sanitizer runtime provides libFuzzer's
# coverage callbacks), so the sanitizers cost one link per test binary, not
# a second build. RELAYSCOPE_SANITIZED_UNIT_TESTS=0 skips the unit tests.
#
# Fails on any crash, sanitizer report or broken invariant; the input is
# left in build/fuzz/findings/<target>/ (crash-*, leak-*, timeout-*). New
# inputs the fuzzer finds go to build/fuzz/corpus/<target>/ (scratch),
# never into the checked-in corpus. RELAYSCOPE_FUZZ_BUILD_DIR overrides
# the build directory.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_FUZZ_BUILD_DIR:-$root/build/fuzz}
seconds=${1:-20}
shift || true
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: seconds must be a number, not '$seconds'" >&2; exit 2; }

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (deploy/dev/deps.sh installs it)" >&2; exit 1; }

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$build"
start=$(date +%s)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELAYSCOPE_FUZZ=ON -DRELAYSCOPE_BUILD_BENCH=OFF "${launcher[@]}" \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
targets=("$@")
if ((${#targets[@]} == 0)); then
  # Everything (not only what the fuzz targets link): the thread-safety
  # analysis runs over all the code clang compiles.
  cmake --build "$build"
  echo "fuzz: clang build (thread-safety, ASan, UBSan) took $(( $(date +%s) - start )) s"
  mapfile -t targets < <(ls "$root/tests/fuzz/corpus")
  if [[ ${RELAYSCOPE_SANITIZED_UNIT_TESTS:-1} != 0 ]]; then
    start=$(date +%s)
    # UBSan stops at the first finding (-fno-sanitize-recover) and prints
    # where it came from; LeakSanitizer runs at exit of every test binary.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      ctest --test-dir "$build" -L unit --output-on-failure -j "$(nproc)" --timeout 300
    echo "fuzz: unit tests under ASan + UBSan took $(( $(date +%s) - start )) s"
  fi
else
  # Only the fuzz targets and the libraries they link.
  cmake --build "$build" --target relayscope_fuzz
  echo "fuzz: build took $(( $(date +%s) - start )) s"
fi

start=$(date +%s)
failed=()
for target in "${targets[@]}"; do
  binary="$build/tests/fuzz/fuzz_$target"
  seeds="$root/tests/fuzz/corpus/$target"
  [[ -x $binary && -d $seeds ]] || { echo "fuzz: no target '$target'" >&2; exit 2; }
  scratch="$build/corpus/$target"
  findings="$build/findings/$target"
  mkdir -p "$scratch" "$findings"
  log="$build/findings/$target.log"
  # -timeout: one input taking 10 s is a finding (a hang), even in the
  # forking PAC target whose own limit is 250 ms per evaluation.
  if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$findings/" -print_final_stats=1 \
      "$scratch" "$seeds" >"$log" 2>&1; then
    stats=$(grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "$log" \
            | awk '{print $2}' | paste -sd' ')
    echo "fuzz: $target ok (executions, exec/s: $stats)"
  else
    echo "fuzz: $target FAILED; log $log, input in $findings/" >&2
    tail -n 40 "$log" >&2
    failed+=("$target")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crash ($(( $(date +%s) - start )) s)"
