# shellcheck shell=bash disable=SC2154  # $lock comes from the script sourcing this
# Shell helpers of the release scripts (deploy/dev/release.sh,
# deploy/dev/windows-deps.sh): the pinned versions of deploy/dev/release.lock,
# Debian's source packages, installed package versions. Sourced; expects
# $lock (the lock file) and a `log` prefix in $log_name.
log() { echo "${log_name:-release}: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# lock_version NAME: the pinned Debian version of source package NAME.
lock_version() {
  local v
  v=$(sed -n "s/^$1=\([^[:space:]]*\)[[:space:]]*$/\1/p" "$lock")
  [[ -n $v ]] || die "$lock has no line $1=VERSION"
  echo "$v"
}

# The deb-src list `apt-get source` needs; a fresh Debian 12 machine has none.
src_list=/etc/apt/sources.list.d/relayscope-src.sources
ensure_source_available() {  # NAME VERSION
  local updated=0
  if [[ ! -e $src_list ]]; then
    log "adding $src_list (deb-src for bookworm, bookworm-updates, bookworm-security)"
    cat >"$src_list" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -q >&2
    updated=1
  fi
  # (Captured, not piped into grep -q: under pipefail an early grep exit
  # fails the pipe.)
  local versions
  versions=$(apt-cache showsrc --only-source "$1" 2>/dev/null | sed -n 's/^Version: //p' || true)
  if ! grep -qxF "$2" <<<"$versions"; then
    if ((!updated)); then
      log "$1 $2 not in the source lists; apt-get update"
      apt-get update -q >&2
      versions=$(apt-cache showsrc --only-source "$1" 2>/dev/null | sed -n 's/^Version: //p' || true)
    fi
    grep -qxF "$2" <<<"$versions" \
      || die "source package $1=$2 (release.lock) is not on the mirror, which has: $(echo $versions)"
  fi
}

deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || die "package $1 is not installed (deploy/dev/deps.sh)"; }

# fetch_source NAME VERSION WORK: Debian's source package NAME=VERSION
# (its patches applied) unpacked in WORK; prints the source directory.
fetch_source() {
  local name=$1 version=$2 work=$3 src
  ensure_source_available "$name" "$version"
  log "$name $version: fetching Debian's source into $work"
  (cd "$work" && apt-get source -q --only-source "$name=$version" >"$work/source.log" 2>&1) \
    || {
      cat "$work/source.log" >&2
      die "apt-get source $name=$version failed"
    }
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$name-*" | head -1)
  [[ -n $src ]] || die "apt-get source left no $name-* directory in $work"
  echo "$src"
}

# cached_build NAME VERSION KEY DIR FN [ARGS...]: the cached install prefix
# DIR/NAME-VERSION-KEY of Debian's source package NAME=VERSION; when it has
# no stamp, FN SRC PREFIX WORK ARGS... builds and installs it there (run in SRC,
# its output in WORK/build.log), then the stamp is written last. Prints
# the prefix.
cached_build() {
  local name=$1 version=$2 key=$3 dir=$4 fn=$5 prefix work src start
  shift 5
  prefix=$dir/$name-$version-$key
  if [[ -e $prefix/.complete ]]; then
    log "$name $version: cached in $prefix"
    echo "$prefix"
    return
  fi
  start=$(date +%s)
  rm -rf "$prefix"
  mkdir -p "$dir"
  work=$(mktemp -d "$dir/.work-$name-XXXXXX")
  src=$(fetch_source "$name" "$version" "$work")
  log "$name $version: building (log: $work/build.log)"
  (cd "$src" && "$fn" "$src" "$prefix" "$work" "$@") >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2
    die "$name build failed; full log in $work/build.log"
  }
  # curl's CMake lists what it enabled: worth seeing in the release log.
  grep -E '^-- Enabled (features|protocols|SSL backends):' "$work/build.log" >&2 || true
  rm -rf "$work"
  date -u +%FT%TZ >"$prefix/.complete"
  log "$name $version: built in $(($(date +%s) - start)) s"
  echo "$prefix"
}

# build_agent BUILD CMAKE-ARGS...: configures the agent's release build in
# BUILD and builds relayscope-agent, reproducibly: the compilers see one
# fixed time (the last commit's, SOURCE_DATE_EPOCH), and a ccache launcher
# from the environment (CMAKE_{C,CXX}_COMPILER_LAUNCHER) is passed on but
# not its base_dir, which rewrites source paths to relative ones
# (../../agent/cli/flags.cc) before the compiler sees them, so
# -ffile-prefix-map no longer matches and __FILE__ (absl's flag registry
# keeps it) differs from a build without ccache. Needs $root.
build_agent() {
  local build=$1
  shift
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
  export SOURCE_DATE_EPOCH
  export CCACHE_BASEDIR=
  log "configuring $build"
  mkdir -p "$build"
  cmake -S "$root" -B "$build" -G Ninja "$@" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} \
    ${CMAKE_C_COMPILER_LAUNCHER:+-DCMAKE_C_COMPILER_LAUNCHER=$CMAKE_C_COMPILER_LAUNCHER} \
    >"$build/release-configure.log" 2>&1 || {
    cat "$build/release-configure.log" >&2
    die "configure failed"
  }
  log "building relayscope-agent"
  ninja -C "$build" -j "${RELAYSCOPE_RELEASE_JOBS:-2}" relayscope-agent >&2
}
