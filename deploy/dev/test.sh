#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds, and runs the
# whole ctest suite (unit + integration). .ci/run calls exactly this.
#
#   deploy/dev/test.sh               # everything
#   deploy/dev/test.sh -L unit       # extra arguments go to ctest
#
# After ctest, the fuzz smoke (deploy/dev/fuzz.sh): every libFuzzer target
# for RELAYSCOPE_FUZZ_SECONDS (default 20) from its seed corpus, in a clang
# build of its own (build/fuzz); 0 skips it.
#
# Integration tests need root (network namespaces, iptables); as another user
# they skip with a message saying so.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/test}

"$root/deploy/dev/deps.sh"

mkdir -p "$build"
start=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELAYSCOPE_WERROR=ON >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
cmake --build "$build"
echo "test: build took $(( $(date +%s) - start )) s"

jobs=${RELAYSCOPE_TEST_JOBS:-$(nproc)}
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 300 "$@"

fuzz_seconds=${RELAYSCOPE_FUZZ_SECONDS:-20}
if ((fuzz_seconds > 0)); then
  "$root/deploy/dev/fuzz.sh" "$fuzz_seconds"
fi
