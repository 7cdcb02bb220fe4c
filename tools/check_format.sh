#!/usr/bin/env bash
# Fails, naming the files, when a tracked .cc/.h file is not formatted with
# the project's .clang-format. Runs as the ctest format_check and from
# deploy/dev/test.sh.
#
#   tools/check_format.sh          # check
#   tools/check_format.sh --fix    # reformat the offending files in place
#
# Pinned to clang-format 14 (Debian 12): other versions format some
# constructs differently, and a check that depends on the developer's
# version would flap.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

format=
for candidate in clang-format-14 clang-format; do
  if command -v "$candidate" >/dev/null &&
      [[ $("$candidate" --version) =~ version\ 14\. ]]; then
    format=$candidate
    break
  fi
done
[[ -n $format ]] || { echo "format: clang-format 14 not found (apt-get install clang-format-14)" >&2; exit 2; }

# Tracked files only (a clean clone has nothing else); the fuzz corpora are
# inputs, not source, whatever their names.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cc' '*.h' ':!:tests/fuzz/corpus/**')
else
  mapfile -t files < <(find . -path ./build -prune -o -path ./tests/fuzz/corpus -prune -o \
    -type f \( -name '*.cc' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi

existing=()
for file in "${files[@]}"; do
  [[ -f $file ]] && existing+=("$file")  # not those deleted, not yet committed
done

# One clang-format process for all files (one per file costs minutes on a
# loaded machine); its diagnostics start with the file name.
status=0
output=$("$format" --dry-run -Werror --style=file "${existing[@]}" 2>&1) || status=$?
mapfile -t bad < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$output" | sort -u)
if ((status != 0 && ${#bad[@]} == 0)); then
  echo "format: $format failed:" >&2
  echo "$output" | head -20 >&2
  exit 2
fi

if ((${#bad[@]} > 0)); then
  if [[ ${1:-} == --fix ]]; then
    "$format" -i --style=file "${bad[@]}"
    echo "format: reformatted ${#bad[@]} file(s): ${bad[*]}"
    exit 0
  fi
  echo "format: ${#bad[@]} file(s) not formatted with .clang-format ($format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "format: fix with tools/check_format.sh --fix (or $format -i FILE)" >&2
  exit 1
fi
echo "format: ok (${#existing[@]} files, $format)"
