#!/usr/bin/env bash
# The test command: installs missing Debian packages, checks the structure,
# builds, and runs every gate. .ci/run calls exactly this.
#
#   deploy/dev/test.sh               # everything
#   deploy/dev/test.sh -L unit       # extra arguments go to the g++ ctest run
#
# The gates, in order (cheap first, so a mistake fails in seconds):
#   1. layering and format: tools/check_layering.py, tools/check_format.sh
#   2. the g++ build (warnings are errors) and its whole ctest suite
#   3. clang-tidy (deploy/dev/tidy.sh --gated) over the folders held clean,
#      with that build's compile_commands.json; RELAYSCOPE_TIDY=0 skips it
#   4. release-linux: deploy/dev/release.sh linux (the static agent; its
#      minimal curl comes from the dependency cache after the first run),
#      then the tests that run it in an empty chroot (e2e_static_agent_test)
#      with RELAYSCOPE_STATIC_AGENT set; release-windows: release.sh windows
#      (the .exe; its cross-built dependencies cached the same way), then
#      the tests that run it under wine64 (e2e_windows_agent_test) with
#      RELAYSCOPE_WINDOWS_AGENT set. RELAYSCOPE_RELEASE_GATE=0 skips both,
#      RELAYSCOPE_WINDOWS=0 only the Windows one
#   5. deploy/dev/fuzz.sh: one clang build (build/fuzz) with
#      -Werror=thread-safety, ASan and UBSan; the unit tests under the
#      sanitizers, then every libFuzzer target for RELAYSCOPE_FUZZ_SECONDS
#      (default 20) from its seed corpus; 0 skips this step
#
# Integration tests need root (network namespaces, iptables); as another user
# they skip with a message saying so.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/test}

timings=()
gate() {  # gate <name> <command...>: runs it, records how long it took
  local name=$1 start
  shift
  start=$(date +%s)
  "$@"
  timings+=("$name $(($(date +%s) - start)) s")
}
summary() { ((${#timings[@]} == 0)) || printf 'test: %s\n' "${timings[@]}"; }
trap summary EXIT

"$root/deploy/dev/deps.sh"

gate layering python3 "$root/tools/check_layering.py"
gate format "$root/tools/check_format.sh"

mkdir -p "$build"
configure_and_build() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRELAYSCOPE_WERROR=ON >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
  cmake --build "$build"
}
gate build configure_and_build

jobs=${RELAYSCOPE_TEST_JOBS:-$(nproc)}
gate ctest ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 300 "$@"

if [[ ${RELAYSCOPE_TIDY:-1} != 0 ]]; then
  gate tidy env RELAYSCOPE_BUILD_DIR="$build" "$root/deploy/dev/tidy.sh" --gated
fi

if [[ ${RELAYSCOPE_RELEASE_GATE:-1} != 0 ]]; then
  release_linux() {
    RELAYSCOPE_DIST_DIR="$build/dist" "$root/deploy/dev/release.sh" linux
    RELAYSCOPE_STATIC_AGENT="$build/dist/relayscope-agent-linux-x86_64" \
      ctest --test-dir "$build" --output-on-failure --timeout 300 -R '^StaticAgentInAnEmptyRoot\.'
  }
  gate release-linux release_linux

  # The Windows agent: its dependencies cross-built with mingw-w64 from
  # Debian's sources (cached like curl's), the .exe, one booted Wine prefix
  # that each test copies, then the tests that run it under wine64.
  # RELAYSCOPE_WINDOWS=0 skips this part.
  if [[ ${RELAYSCOPE_WINDOWS:-1} != 0 ]]; then
    release_windows() {
      RELAYSCOPE_DIST_DIR="$build/dist" "$root/deploy/dev/release.sh" windows
      local template=$build/wine-template
      if [[ ! -e $template/.booted ]]; then
        rm -rf "$template"
        WINEPREFIX=$template WINEDEBUG=-all WINEDLLOVERRIDES='mscoree=d;mshtml=d' \
          /usr/lib/wine/wine64 wineboot -i
        WINEPREFIX=$template /usr/lib/wine/wineserver -w
        touch "$template/.booted"
      fi
      RELAYSCOPE_WINDOWS_AGENT="$build/dist/relayscope-agent-windows-x86_64.exe" \
        RELAYSCOPE_WINE_TEMPLATE="$template" \
        ctest --test-dir "$build" --output-on-failure --timeout 300 -R '^WindowsAgentUnderWine\.'
    }
    gate release-windows release_windows
  fi
fi

fuzz_seconds=${RELAYSCOPE_FUZZ_SECONDS:-20}
if ((fuzz_seconds > 0)); then
  gate clang-sanitizers-fuzz "$root/deploy/dev/fuzz.sh" "$fuzz_seconds"
fi
