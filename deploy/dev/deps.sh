#!/usr/bin/env bash
# Installs the Debian 12 packages relayscope needs to build, test and run its
# local stack. Idempotent: packages already installed are skipped, and apt is
# not touched at all when nothing is missing. This file is the one package list
# of the project; deploy/dev/demo.sh and deploy/dev/test.sh both call it.
set -euo pipefail

# Build: compiler, CMake/Ninja, and every library the code links.
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  libabsl-dev libssl-dev prometheus-cpp-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev
  libpq-dev libcivetweb-dev civetweb duktape-dev libseccomp-dev
)
# The clang gates of test.sh: clang with libFuzzer and the sanitizer runtimes
# (deploy/dev/fuzz.sh; libclang-rt-14-dev holds libclang_rt.fuzzer), and
# clang-format / clang-tidy 14 (tools/check_format.sh, deploy/dev/tidy.sh).
FUZZ_PACKAGES=(clang libclang-rt-14-dev clang-format clang-tidy)
# Run and test: the real components of the test rig (see shared/DESIGN.md).
RIG_PACKAGES=(
  squid dante-server nginx-light iproute2 iptables prometheus curl
  util-linux procps openssl ca-certificates postgresql systemd python3-yaml
  chromium fonts-dejavu-core
  python3-pacparser  # agent/pac: the differential test's independent PAC engine
)
# The release (deploy/dev/release.sh): dpkg-source for `apt-get source`
# (Debian's curl is rebuilt minimal), the static archive of nghttp2 (the
# others come with the -dev packages above), file (checks the static link),
# xz and zip (the downloads), GNU time (bench/agent_release.sh: peak memory).
RELEASE_PACKAGES=(dpkg-dev libnghttp2-dev file xz-utils zip time)
# The Windows agent (deploy/dev/windows-deps.sh, build-windows-agent.sh):
# the mingw-w64 cross compiler with posix threads (std::thread), patch (the
# curl fix), and wine64, which runs the .exe in the tests and bench P4.
WINDOWS_PACKAGES=(g++-mingw-w64-x86-64-posix patch wine64)
# Benchmarks: perf, to find where a benchmark's time goes (bench/README.md).
PROFILE_PACKAGES=(linux-perf)

missing=()
for pkg in "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}" "${RIG_PACKAGES[@]}" "${RELEASE_PACKAGES[@]}" "${WINDOWS_PACKAGES[@]}" "${PROFILE_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#BUILD_PACKAGES[@]}+${#FUZZ_PACKAGES[@]}+${#RIG_PACKAGES[@]}+${#RELEASE_PACKAGES[@]}+${#WINDOWS_PACKAGES[@]}+${#PROFILE_PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
# Package maintainer scripts would otherwise start squid/nginx/postgresql as
# system services on machines with a working init; the rig starts its own
# instances on loopback, so block service starts for the duration of apt.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if ((added_policy)); then "${SUDO[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: done"
