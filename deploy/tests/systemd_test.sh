#!/usr/bin/env bash
# The systemd units, checked by systemd itself: `systemd-analyze verify`
# with the build's binaries in place of /usr/local/bin (it must print
# nothing: unknown keys and bad values are only warnings there), and
# `systemd-analyze security --offline` with an exposure threshold, so the
# hardening cannot quietly erode. First proves that it catches a broken
# unit. Exit 77 (skipped) without systemd-analyze.
#
#   systemd_test.sh <unit-dir> <build-dir>
set -euo pipefail
units=$(cd "$1" && pwd) build=$(cd "$2" && pwd)
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for unit in "$units"/*.service "$units"/*.timer; do
  sed -e "s|/usr/local/bin/relayscope-agent|$build/agent/relayscope-agent|" \
      -e "s|/usr/local/bin/relayscope-collector|$build/collector/relayscope-collector|" \
      -e "s|/usr/local/bin/relayscope-dashboard|$build/dashboard-api/relayscope-dashboard|" \
      -e "s|/usr/local/bin/relayscope-relay|$build/relay/relayscope-relay|" \
      "$unit" >"$work/$(basename "$unit")"
done
# The template is verified through an instance.
mv "$work/relayscope-relay@.service" "$work/relayscope-relay@emea-1.service"
cd "$work"
services=(relayscope-collector.service relayscope-dashboard.service
          relayscope-relay@emea-1.service relayscope-agent.service)

# verify: exit 0 and not a word on stderr.
check() {
  local out rc=0
  out=$(systemd-analyze verify --man=no "$@" 2>&1) || rc=$?
  [[ $rc -eq 0 && -z $out ]] || { printf '%s\n' "$out"; return 1; }
}

# The check catches a misspelt key and a missing binary.
sed 's/^Type=exec$/Type=exec\nRestartSecs=2s/' relayscope-collector.service >broken.service
if check broken.service >/dev/null; then echo "FAIL: a unit with an unknown key passed"; exit 1; fi
sed "s|$build/collector/relayscope-collector|/nonexistent/relayscope-collector|" \
  relayscope-collector.service >broken.service
if check broken.service >/dev/null; then echo "FAIL: a unit with a missing binary passed"; exit 1; fi
rm broken.service

failed=0
for unit in "${services[@]}" relayscope-agent.timer; do
  if check "$unit"; then echo "ok: verify $unit"; else echo "FAIL: verify $unit"; failed=1; fi
done
# Every --flag on an ExecStart line is one the binary accepts (verify only
# checks that the binary exists).
for unit in "${services[@]}"; do
  exec_line=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | tr -d '\\\n')
  binary=$(sed -E 's/^ExecStart=([^ ]+).*/\1/' <<<"$exec_line")
  known=$("$binary" --helpfull 2>&1 | sed -nE 's/^ +--([a-z0-9_]+) .*/\1/p' || true)
  for flag in $(grep -oE -- '--[a-z0-9_-]+' <<<"$exec_line"); do
    name=${flag#--}
    if ! grep -qx "${name//-/_}" <<<"$known"; then
      echo "FAIL: $unit: $(basename "$binary") has no flag $flag"; failed=1
    fi
  done
done
# Exposure (0 = locked down, 10 = exposed; --threshold counts tenths):
# every service stays at or below 2.0.
for unit in "${services[@]}"; do
  if out=$(systemd-analyze security --offline=yes --threshold=20 "./$unit" 2>&1); then
    echo "ok: $(grep -o 'Overall exposure level.*' <<<"$out")"
  else
    echo "FAIL: $unit is too exposed:"; grep -E '✗|Overall' <<<"$out"; failed=1
  fi
done
exit $failed
