#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in
# build/fuzz and runs each for a short while from its checked-in corpus:
# the smoke run of the test command, and how to fuzz for longer.
#
#   deploy/dev/fuzz.sh            # every target, 20 s each
#   deploy/dev/fuzz.sh 600        # every target, 10 min each
#   deploy/dev/fuzz.sh 60 proxy_url rest_query   # only these
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
# Only the fuzz targets and the libraries they link.
cmake --build "$build" --target relayscope_fuzz
echo "fuzz: build took $(( $(date +%s) - start )) s"

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ls "$root/tests/fuzz/corpus")
fi

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
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no crash"
