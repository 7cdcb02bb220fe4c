#!/usr/bin/env bash
# Runs clang-tidy 14 (the checks of .clang-tidy) over every .cc of the tree,
# or of the folders given, with a build's compile_commands.json; any finding
# fails. deploy/dev/test.sh runs it after its build.
#
#   deploy/dev/tidy.sh                       # the whole tree, build/dev
#   deploy/dev/tidy.sh common relay          # only these folders
#   deploy/dev/tidy.sh --gated               # the folders test.sh holds clean
#   RELAYSCOPE_BUILD_DIR=build/test deploy/dev/tidy.sh
#
# The build directory needs its generated headers (relayscope/v1/*.pb.h):
# any build of it has them; if it has none, this configures it and builds
# only the proto library. RELAYSCOPE_TIDY_JOBS (default nproc) runs that
# many clang-tidy processes. The findings are in <build>/tidy.log.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/dev}
build=$(mkdir -p "$build" && cd "$build" && pwd)
jobs=${RELAYSCOPE_TIDY_JOBS:-$(nproc)}

tidy=$(command -v clang-tidy-14 || true)
runner=$(command -v run-clang-tidy-14 || true)
[[ -n $tidy && -n $runner ]] || { echo "tidy: clang-tidy-14 not found (deploy/dev/deps.sh installs it)" >&2; exit 1; }

if [[ ! -f $build/compile_commands.json ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
fi
cmake --build "$build" --target relayscope_proto >/dev/null

# The folders whose findings are fixed: test.sh fails on a new finding in
# them. A folder joins the list once `deploy/dev/tidy.sh <folder>` passes.
gated=(common protocol relay collector/store collector/query dashboard-api
  agent/pac agent/discovery)

folders=("$@")
if [[ ${folders[0]:-} == --gated ]]; then
  folders=("${gated[@]}")
elif ((${#folders[@]} == 0)); then
  folders=(agent bench collector common dashboard-api protocol relay tests)
fi
pattern="^$root/($(IFS='|'; echo "${folders[*]}"))/.*\\.cc\$"
headers="^$root/(agent|bench|collector|common|dashboard-api|protocol|relay|tests)/.*\\.h\$"

start=$(date +%s)
status=0
"$runner" -clang-tidy-binary "$tidy" -p "$build" -j "$jobs" -quiet \
  -header-filter "$headers" "$pattern" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$build/tidy.log" \
  || status=$?
seconds=$(( $(date +%s) - start ))
files=$(grep -c "\"file\": \"$root/\($(IFS='|'; echo "${folders[*]}" | sed 's/|/\\|/g')\)/" \
  "$build/compile_commands.json" || true)
# Each finding once (a header's finding repeats for every file including it).
findings=$(grep -E '^/.*: (error|warning): ' "$build/tidy.log" | sort -u || true)
if ((status != 0)) || [[ -n $findings ]]; then
  if [[ -n $findings ]]; then
    echo "$findings" | sed "s|^$root/||" >&2
    echo "tidy: $(echo "$findings" | wc -l) finding(s) in ${seconds} s; log $build/tidy.log" >&2
  else
    tail -n 30 "$build/tidy.log" >&2
    echo "tidy: clang-tidy failed in ${seconds} s; log $build/tidy.log" >&2
  fi
  exit 1
fi
echo "tidy: ok (${files} files, ${jobs} jobs, ${seconds} s)"
