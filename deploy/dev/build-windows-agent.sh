#!/usr/bin/env bash
# The Windows agent: OUT_DIR/relayscope-agent-windows-x86_64.exe, cross-built
# with mingw-w64 (cmake/toolchains/mingw-w64-x86_64.cmake) against the
# libraries deploy/dev/windows-deps.sh builds from Debian's sources, static
# (libgcc, libstdc++, winpthreads included), stripped, reproducible, and
# importing only Windows' own DLLs (checked). deploy/dev/release.sh windows
# calls it; RELAYSCOPE_WINDOWS_BUILD_DIR overrides build/release-windows.
#
#   deploy/dev/build-windows-agent.sh OUT_DIR
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out_dir=${1:?usage: $0 OUT_DIR}
build=${RELAYSCOPE_WINDOWS_BUILD_DIR:-$root/build/release-windows}
log_name=windows
# shellcheck source=deploy/dev/release-lib.sh
. "$root/deploy/dev/release-lib.sh"

roots=$("$root/deploy/dev/windows-deps.sh")
IFS=';' read -r openssl _ _ _ curl <<<"$roots"  # openssl abseil protobuf nghttp2 curl
[[ -n $curl ]] || die "windows-deps.sh printed no prefixes: $roots"

# Reproducible: one fixed time (build_agent), no build or source path in
# the objects, no link time in the PE header.
map="-ffile-prefix-map=$root=. -ffile-prefix-map=$build=build"
build_agent "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/mingw-w64-x86_64.cmake" \
  -DRELAYSCOPE_MINGW_ROOTS="$roots" -DCMAKE_BUILD_TYPE=Release -DRELAYSCOPE_AGENT_ONLY=ON \
  -DRELAYSCOPE_DUKTAPE_FROM_SOURCE=ON -DRELAYSCOPE_WERROR=ON \
  -DProtobuf_PROTOC_EXECUTABLE=/usr/bin/protoc -DCURL_DIR="$curl/lib/cmake/CURL" \
  -DOPENSSL_ROOT_DIR="$openssl" -DOPENSSL_USE_STATIC_LIBS=ON \
  -DCMAKE_C_FLAGS="$map" -DCMAKE_CXX_FLAGS="$map -ffunction-sections -fdata-sections" \
  -DCMAKE_EXE_LINKER_FLAGS="-static -Wl,--gc-sections -Wl,--no-insert-timestamp"

mkdir -p "$out_dir"
exe=$out_dir/relayscope-agent-windows-x86_64.exe
x86_64-w64-mingw32-strip -o "$exe" "$build/agent/relayscope-agent.exe"
# Only Windows' own DLLs: anything else (libstdc++-6.dll, libwinpthread-1.dll,
# a dependency built shared) would be missing on the customer's machine.
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\tDLL Name: //p' | sort -fu)
system='^(kernel32|advapi32|user32|shell32|ole32|oleaut32|ws2_32|winhttp|crypt32|secur32|bcrypt|iphlpapi|msvcrt|userenv|ntdll|rpcrt4|shlwapi|wldap32|normaliz|dbghelp|api-ms-win-.*)\.dll$'
others=$(grep -viE "$system" <<<"$dlls" || true)
[[ -z $others ]] || die "$exe imports DLLs that are not Windows' own: $(tr '\n' ' ' <<<"$others")"
log "$exe $(stat -c %s "$exe") bytes; imports $(tr '\n' ' ' <<<"$dlls")"
