#!/usr/bin/env bash
# The release command: the agent a customer downloads, from Debian packages
# and Debian source packages only (versions pinned in deploy/dev/release.lock).
#
#   deploy/dev/release.sh [linux|windows|all]     # default: all
#   deploy/dev/release.sh linux-deps             # only the cached Linux dependencies
#
# linux   dist/relayscope-agent-linux-x86_64 (static, stripped) and its .xz
# windows dist/relayscope-agent-windows-x86_64.exe (deploy/dev/build-windows-agent.sh)
#         and its .zip
# Both end with dist/SHA256SUMS over every file in dist/.
#
# Dependencies built from source go to a cache outside the checkout,
# ${RELAYSCOPE_DEPS_CACHE:-~/.cache/relayscope-deps}/<platform>/<name>-<version>-<hash>/,
# keyed by the pinned version and a hash of the build options and of the
# installed Debian packages they compile against; a key whose stamp file
# (written last) exists is reused, anything else is rebuilt from scratch.
# RELAYSCOPE_DIST_DIR overrides dist/, RELAYSCOPE_RELEASE_BUILD_DIR the
# CMake build dir (default build/release-linux, the release-linux preset).
set -euo pipefail
# A failure inside $(...) stops the script too (a die in a helper whose
# output is captured).
shopt -s inherit_errexit
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dist=${RELAYSCOPE_DIST_DIR:-$root/dist}
cache=${RELAYSCOPE_DEPS_CACHE:-$HOME/.cache/relayscope-deps}
lock=$root/deploy/dev/release.lock
target=${1:-all}
case $target in
  linux | windows | all | linux-deps) ;;
  *)
    echo "usage: $0 [linux|windows|all|linux-deps]" >&2
    exit 2
    ;;
esac

# shellcheck source=deploy/dev/release-lib.sh
. "$root/deploy/dev/release-lib.sh"

# The minimal static libcurl of the Linux agent: HTTP and HTTPS, the proxies
# the agent tries (HTTP, HTTPS proxy, SOCKS4/4a/5), proxy authentication
# Basic/Digest/NTLM, HTTP/2 by nghttp2 (the gRPC wire format of the
# uploader), OpenSSL; nothing else. Debian's own libcurl.a cannot be linked
# statically: it wants GSSAPI/krb5, LDAP, SASL, p11-kit, libpsl, libidn2,
# librtmp, libssh2, brotli and zstd, most without a static archive.
#
# No CA bundle is compiled in (CURL_CA_BUNDLE/CURL_CA_PATH none): with
# CURL_CA_FALLBACK libcurl asks OpenSSL for its default verify paths, which
# honour SSL_CERT_FILE/SSL_CERT_DIR; the agent sets SSL_CERT_FILE at start
# to the first system bundle it finds (Debian/Ubuntu, RHEL/Fedora, SUSE,
# Alpine), since Debian's libcrypto.a only knows /usr/lib/ssl.
curl_options=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=OFF -DENABLE_MANUAL=OFF -DCURL_LTO=OFF
  -DHTTP_ONLY=ON -DCURL_DISABLE_PROXY=OFF -DCURL_DISABLE_HTTP_AUTH=OFF -DCURL_DISABLE_CRYPTO_AUTH=OFF
  -DCURL_DISABLE_NTLM=OFF -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_HSTS=ON -DCURL_DISABLE_DOH=ON
  -DCURL_DISABLE_NETRC=ON -DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_MIME=ON -DENABLE_UNIX_SOCKETS=OFF
  -DCURL_USE_OPENSSL=ON -DOPENSSL_USE_STATIC_LIBS=ON -DCURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG=ON
  -DUSE_NGHTTP2=ON -DNGHTTP2_LIBRARY=/usr/lib/x86_64-linux-gnu/libnghttp2.a
  -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF
  -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF -DENABLE_ARES=OFF
  -DENABLE_THREADED_RESOLVER=ON -DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF
  -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON
  -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_CA_FALLBACK=ON
)

# curl_build SRC PREFIX WORK (cached_build's FN). The work dir's random
# name must not reach the objects (curl keeps __FILE__ in its error paths),
# or the agent differs per cache.
curl_build() {
  cmake -S "$1" -B "$3/build" -G Ninja -DCMAKE_INSTALL_PREFIX="$2" \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_C_FLAGS="-ffile-prefix-map=$3=." "${curl_options[@]}"
  ninja -C "$3/build" -j "${RELAYSCOPE_RELEASE_JOBS:-2}"
  cmake --install "$3/build"
}

# build_curl: prints the install prefix of the cached minimal curl.
build_curl() {
  local version key
  version=$(lock_version curl)
  key=$( (
    printf '%s\n' "curl=$version" "${curl_options[@]}" "cflags=-ffile-prefix-map=<work>=."
    for p in libssl-dev libnghttp2-dev gcc libc6-dev cmake; do echo "$p=$(deb_version $p)"; done
  ) | sha256sum | cut -c1-12)
  cached_build curl "$version" "$key" "$cache/linux-x86_64" curl_build
}

build_linux() {
  local curl_prefix build out
  curl_prefix=$(build_curl)
  build=${RELAYSCOPE_RELEASE_BUILD_DIR:-$root/build/release-linux}
  # Reproducible: paths are mapped (cmake/StaticAgent.cmake) and the time
  # fixed (build_agent), so the same tree gives the same bytes.
  log_name="release: linux" build_agent "$build" -DCMAKE_BUILD_TYPE=Release \
    -DRELAYSCOPE_STATIC_AGENT=ON -DCMAKE_PREFIX_PATH="$curl_prefix" \
    -DCURL_DIR="$curl_prefix/lib/cmake/CURL"
  mkdir -p "$dist"
  out=$dist/relayscope-agent-linux-x86_64
  install -m 755 "$build/agent/relayscope-agent" "$out"
  local kind
  kind=$(file -b "$out")
  [[ $kind == *"statically linked"* ]] || die "$out is not statically linked: $kind"
  xz -9e -T1 -c "$out" >"$out.xz"
  log "linux: $out $(stat -c %s "$out") bytes, $out.xz $(stat -c %s "$out.xz") bytes"
  check_budget "$out" "$out.xz"
}

# The download's budget: at most 15 MB stripped and 6 MB compressed. Over
# it the release fails (the agent links no gRPC C++ since its upload went
# to libcurl; it was 16.5 MB with it, 10.8 MB without).
check_budget() {  # BINARY COMPRESSED
  local size packed
  size=$(stat -c %s "$1")
  packed=$(stat -c %s "$2")
  if ((size > 15000000 || packed > 6000000)); then
    log "$(basename "$1") is over the download budget (15 MB stripped, 6 MB compressed): $((size / 1000)) kB, $((packed / 1000)) kB"
    exit 1
  fi
}

build_windows() {
  local script=$root/deploy/dev/build-windows-agent.sh exe
  mkdir -p "$dist"
  "$script" "$dist"
  exe=$dist/relayscope-agent-windows-x86_64.exe
  [[ -f $exe ]] || die "$script did not produce $exe"
  rm -f "$exe.zip"
  # -X: no extra attributes; the fixed time keeps the archive reproducible.
  touch -d "@$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)" "$exe"
  (cd "$dist" && zip -q -X -9 "$(basename "$exe").zip" "$(basename "$exe")")
  log "windows: $exe $(stat -c %s "$exe") bytes, .zip $(stat -c %s "$exe.zip") bytes"
  check_budget "$exe" "$exe.zip"
}

status=0
case $target in
  linux-deps)
    build_curl >/dev/null
    exit 0
    ;;
  linux) build_linux ;;
  windows) build_windows ;;
  all)
    build_linux
    build_windows
    ;;
esac
if [[ -d $dist ]]; then
  (cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort \
    | xargs -r sha256sum >SHA256SUMS)
  log "dist/SHA256SUMS:"
  sed 's/^/  /' "$dist/SHA256SUMS" >&2
fi
exit $status
