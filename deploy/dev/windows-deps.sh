#!/usr/bin/env bash
# The Windows agent's libraries, cross-built with Debian 12's mingw-w64 from
# Debian's own source packages (versions pinned in deploy/dev/release.lock;
# Debian ships none of them for mingw): OpenSSL, abseil, protobuf (the
# library only; the host's protoc generates the code), nghttp2 and a minimal
# libcurl (HTTP only, the proxies the agent tries, NTLM/Negotiate through
# SSPI, HTTP/2, OpenSSL). Only static archives and headers, only what the
# agent links; no tests, docs, programs or shared libraries.
#
#   deploy/dev/windows-deps.sh      # prints the install prefixes, ';'-separated
#
# Each goes to ${RELAYSCOPE_DEPS_CACHE:-~/.cache/relayscope-deps}/mingw64/
# <name>-<version>-<hash>/, keyed by its pinned version, its build options,
# the toolchain's package versions and the keys of what it builds against;
# a stamp written last marks it complete (an interrupted build is redone).
# RELAYSCOPE_RELEASE_JOBS sets the parallelism (default 2).
set -euo pipefail
# A failure inside $(...) stops the script too (a die in a helper whose
# output is captured).
shopt -s inherit_errexit
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${RELAYSCOPE_DEPS_CACHE:-$HOME/.cache/relayscope-deps}/mingw64
lock=$root/deploy/dev/release.lock
toolchain=$root/cmake/toolchains/mingw-w64-x86_64.cmake
jobs=${RELAYSCOPE_RELEASE_JOBS:-2}
log_name=windows-deps
# shellcheck source=deploy/dev/release-lib.sh
. "$root/deploy/dev/release-lib.sh"

command -v x86_64-w64-mingw32-g++-posix >/dev/null \
  || die "x86_64-w64-mingw32-g++-posix not found (deploy/dev/deps.sh installs g++-mingw-w64-x86-64-posix)"

toolchain_key=$(
  for p in g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev binutils-mingw-w64-x86-64 cmake; do
    echo "$p=$(deb_version $p)"
  done
  sha256sum "$toolchain" | cut -c1-16
)

# build NAME KEY-INPUTS BUILD-FUNCTION: the cached prefix of NAME, built by
# BUILD-FUNCTION SRC PREFIX WORK when missing (release-lib.sh's
# cached_build); prints the prefix. The work dir's random name must not
# reach the objects: CFLAGS/CXXFLAGS map it.
build() {
  local name=$1 version key
  version=$(lock_version "$name")
  key=$(printf '%s\n' "$name=$version" "$2" "$toolchain_key" | sha256sum | cut -c1-12)
  cached_build "$name" "$version" "$key" "$cache" with_prefix_map "$3"
}
with_prefix_map() {  # SRC PREFIX WORK FN
  export CFLAGS="-O2 -ffile-prefix-map=$3=." CXXFLAGS="-O2 -ffile-prefix-map=$3=."
  "$4" "$1" "$2" "$3"
}

cmake_build() {  # SRC PREFIX ROOTS OPTIONS...: configure, build and install a CMake project
  local src=$1 prefix=$2 roots=$3
  shift 3
  cmake -S "$src" -B "$src/relayscope-build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DRELAYSCOPE_MINGW_ROOTS="$roots" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF "$@"
  ninja -C "$src/relayscope-build" -j "$jobs"
  cmake --install "$src/relayscope-build"
}

# OpenSSL 3.0: the two libraries and their headers (install_dev), no
# programs, tests, docs, engines, legacy provider or loadable modules.
openssl_options=(mingw64 no-shared no-module no-tests no-engine no-legacy no-ssl3 no-comp no-dso)
build_openssl() {
  # Configure's own -O3 stays: CFLAGS would replace it, so only the
  # prefix map is added (an option it passes to the compiler).
  unset CFLAGS CXXFLAGS
  ./Configure "${openssl_options[@]}" --prefix="$2" --libdir=lib \
    CC=x86_64-w64-mingw32-gcc-posix AR=x86_64-w64-mingw32-gcc-ar-posix \
    RANLIB=x86_64-w64-mingw32-gcc-ranlib-posix RC=x86_64-w64-mingw32-windres \
    "-ffile-prefix-map=$3=."
  make -j "$jobs" build_libs
  make install_dev
}

# abseil: the agent's C++ standard, so absl's options match the agent's.
abseil_options=(-DCMAKE_CXX_STANDARD=20 -DABSL_PROPAGATE_CXX_STD=ON -DABSL_BUILD_TESTING=OFF)
build_abseil() { cmake_build "$1" "$2" "" "${abseil_options[@]}"; }

# protobuf 3.21: libprotobuf only (the host's protoc 3.21.12 generates).
protobuf_options=(-Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF
  -Dprotobuf_BUILD_LIBPROTOC=OFF -Dprotobuf_WITH_ZLIB=OFF -Dprotobuf_BUILD_SHARED_LIBS=OFF
  -Dprotobuf_MSVC_STATIC_RUNTIME=OFF)
build_protobuf() { cmake_build "$1" "$2" "" "${protobuf_options[@]}"; }

# nghttp2: the library only. Without HAVE_CLOCK_GETTIME=OFF it uses a
# clock_gettime mingw lacks as a static symbol (curl's link then fails on
# time_now_sec).
nghttp2_options=(-DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON -DENABLE_SHARED_LIB=OFF
  -DENABLE_DOC=OFF -DHAVE_CLOCK_GETTIME=OFF)
build_nghttp2() { cmake_build "$1" "$2" "" "${nghttp2_options[@]}"; }

# curl 7.88: as the Linux release's (deploy/dev/release.sh), plus SSPI
# (NTLM and Negotiate with the logon's credentials), with the OpenSSL
# backend rather than Schannel (the agent inspects the proxy's certificate
# through OpenSSL's SSL_CTX, and ALPN for the upload's HTTP/2 works without
# a patch; CURLSSLOPT_NATIVE_CA gives it the Windows root store), and the
# upstream fix of CURL_SOCKOPT_ALREADY_CONNECTED (deploy/dev/patches/).
curl_patch=$root/deploy/dev/patches/curl-7.88.1-sockopt-already-connected.patch
curl_options=(
  -DBUILD_CURL_EXE=OFF -DENABLE_MANUAL=OFF -DCURL_LTO=OFF -DCURL_STATIC_CRT=OFF
  -DHTTP_ONLY=ON -DCURL_DISABLE_PROXY=OFF -DCURL_DISABLE_HTTP_AUTH=OFF -DCURL_DISABLE_CRYPTO_AUTH=OFF
  -DCURL_DISABLE_NTLM=OFF -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON -DCURL_DISABLE_DOH=ON
  -DCURL_DISABLE_NETRC=ON -DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_MIME=ON -DENABLE_UNIX_SOCKETS=OFF
  -DCURL_USE_OPENSSL=ON -DCURL_USE_SCHANNEL=OFF -DOPENSSL_USE_STATIC_LIBS=ON
  -DCURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG=ON -DUSE_WIN32_IDN=OFF
  -DUSE_NGHTTP2=ON -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF
  -DCURL_USE_LIBPSL=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF
  -DENABLE_ARES=OFF -DENABLE_THREADED_RESOLVER=ON -DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF
  -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON
  -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_CA_FALLBACK=OFF
)
build_curl() {
  patch -p1 <"$curl_patch"
  # nghttp2 is a static archive: without this its header declares every
  # function dllimport (__imp_nghttp2_*), which no archive defines.
  export CFLAGS="$CFLAGS -DNGHTTP2_STATICLIB"
  # SSPI with the OpenSSL backend: curl 7.88's CMake offers CURL_WINDOWS_SSPI
  # only with Schannel (a cmake_dependent_option), so it is defined here as
  # curl_config.h would (curl_sspi.c and the NTLM/Negotiate SSPI code then
  # build; secur32.dll is loaded at run time).
  export CFLAGS="$CFLAGS -DUSE_WINDOWS_SSPI"
  cmake_build "$1" "$2" "$openssl_prefix;$nghttp2_prefix" "${curl_options[@]}" \
    -DOPENSSL_ROOT_DIR="$openssl_prefix" -DNGHTTP2_INCLUDE_DIR="$nghttp2_prefix/include" \
    -DNGHTTP2_LIBRARY="$nghttp2_prefix/lib/libnghttp2.a"
  # The agent's NTLM/Negotiate with the logon's credentials depends on it.
  # (Not grep -q: under pipefail nm's SIGPIPE would fail the check.)
  x86_64-w64-mingw32-nm "$2/lib/libcurl.a" | grep ' T Curl_sspi_global_init' >/dev/null || {
    echo "libcurl was built without SSPI" >&2
    return 1
  }
}

openssl_prefix=$(build openssl "${openssl_options[*]}" build_openssl)
abseil_prefix=$(build abseil "${abseil_options[*]}" build_abseil)
protobuf_prefix=$(build protobuf "${protobuf_options[*]}" build_protobuf)
nghttp2_prefix=$(build nghttp2 "${nghttp2_options[*]}" build_nghttp2)
curl_prefix=$(build curl "${curl_options[*]} -DNGHTTP2_STATICLIB -DUSE_WINDOWS_SSPI $(sha256sum "$curl_patch" | cut -c1-16) $openssl_prefix $nghttp2_prefix" build_curl)
echo "$openssl_prefix;$abseil_prefix;$protobuf_prefix;$nghttp2_prefix;$curl_prefix"
