#!/usr/bin/env bash
# P4 for the release: the static Linux agent (deploy/dev/release.sh linux)
# beside the dynamic developer build, measured in the same run. For each:
# the stripped size and its xz -9e size, and the median over --runs of the
# peak RSS (GNU time's maxrss), the CPU time (user + sys) and the wall time
# of a 12-route diagnosis: 3 relays x 4 ports on loopback, all answering,
# each with the full relay handshake (the routes of bench/agent_footprint).
# No root needed: the relays listen on 127.0.91.x.
#
#   bench/agent_release.sh [--runs=5] [--static=dist/relayscope-agent-linux-x86_64]
#                          [--dynamic=build/dev/agent/relayscope-agent]
#                          [--relay=build/dev/relay/relayscope-relay]
#                          [--windows=dist/relayscope-agent-windows-x86_64.exe]
# The Windows row (when the .exe exists) runs it under wine64 in a prefix of
# its own, with its wineserver kept up between runs (-p), so a run pays for
# Wine's process start but not for booting the prefix; its peak RSS and CPU
# include Wine's own runtime (ntdll, kernel32 and the rest in-process).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5
static=$root/dist/relayscope-agent-linux-x86_64
dynamic=$root/build/dev/agent/relayscope-agent
relay=$root/build/dev/relay/relayscope-relay
windows=$root/dist/relayscope-agent-windows-x86_64.exe
wine=/usr/lib/wine/wine64
for arg in "$@"; do
  case $arg in
    --runs=*) runs=${arg#*=} ;;
    --static=*) static=${arg#*=} ;;
    --dynamic=*) dynamic=${arg#*=} ;;
    --relay=*) relay=${arg#*=} ;;
    --windows=*) windows=${arg#*=} ;;
    *)
      echo "usage: $0 [--runs=N] [--static=PATH] [--dynamic=PATH] [--relay=PATH] [--windows=EXE]" >&2
      exit 64
      ;;
  esac
done
for f in "$static" "$dynamic" "$relay"; do
  [[ -x $f ]] || {
    echo "agent_release: $f is missing (deploy/dev/release.sh linux; ninja -C build/dev relayscope-agent relayscope-relay)" >&2
    exit 1
  }
done
[[ -x /usr/bin/time ]] || {
  echo "agent_release: needs GNU time (/usr/bin/time; deploy/dev/deps.sh)" >&2
  exit 1
}

dir=$(mktemp -d /tmp/relayscope-p4-XXXXXX)
relay_pid=
cleanup() {
  if [[ -d $dir/wine ]]; then
    WINEPREFIX=$dir/wine /usr/lib/wine/wineserver -k 2>/dev/null || true
  fi
  if [[ -n $relay_pid ]]; then
    kill "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

listen=()
{
  echo 'name: "p4"'
  for r in 1 2 3; do
    echo "regions { id: \"r$r\" display_name: \"Region $r\" relays { id: \"relay-$r\" addresses: \"127.0.91.$r\" ports: [8200, 8201, 8202, 8203] } }"
    for p in 8200 8201 8202 8203; do listen+=("127.0.91.$r:$p"); done
  done
} >"$dir/catalogue.textproto"
"$relay" --listen="$(
  IFS=,
  echo "${listen[*]}"
)" --ready-file="$dir/relay.ready" >"$dir/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do
  [[ -e $dir/relay.ready ]] && break
  kill -0 "$relay_pid" 2>/dev/null || {
    cat "$dir/relay.log" >&2
    exit 1
  }
  sleep 0.1
done
[[ -e $dir/relay.ready ]] || {
  echo "agent_release: the relay did not start" >&2
  exit 1
}

median() { LC_ALL=C sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# measure NAME BINARY [RUNNER...]: one table row; RUNNER (wine64) runs it.
measure() {
  local name=$1 binary=$2 copy=$dir/$1.stripped rss=() cpu=() wall=() i path_prefix=""
  shift 2
  local runner=("$@")
  if ((${#runner[@]} > 0)); then
    copy=$dir/$name.exe
    path_prefix=Z:
    cp "$binary" "$copy"
  else
    strip -o "$copy" "$binary" 2>/dev/null || cp "$binary" "$copy"
  fi
  local size xz_size
  size=$(stat -c %s "$copy")
  xz_size=$(xz -9e -T1 -c "$copy" | wc -c)
  for ((i = 0; i < runs; i++)); do
    rm -rf "$dir/reports"
    /usr/bin/time -f '%M %U %S %e' -o "$dir/time" env -i PATH=/usr/bin:/bin HOME="$dir" \
      WINEPREFIX="$dir/wine" WINEDEBUG=-all ${runner[@]+"${runner[@]}"} \
      "$copy" diagnose --catalogue="$path_prefix$dir/catalogue.textproto" --discover=false --quiet \
      --timeout=5s --report-dir="$path_prefix$dir/reports" --agent-id-file="$path_prefix$dir/agent-id" \
      >"$dir/run.log" 2>&1 || {
      echo "agent_release: $name exited non-zero (not every route worked?):" >&2
      cat "$dir/run.log" >&2
      exit 1
    }
    grep -q REACHABLE "$dir/run.log" || {
      echo "agent_release: $name did not find the relays reachable" >&2
      exit 1
    }
    read -r m u s e <"$dir/time"
    rss+=("$m")
    cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN {print (u + s) * 1000}')")
    wall+=("$(awk -v e="$e" 'BEGIN {print e * 1000}')")
  done
  printf '%s %s %s %s %s %s\n' "$name" "$size" "$xz_size" \
    "$(printf '%s\n' "${rss[@]}" | median)" "$(printf '%s\n' "${cpu[@]}" | median)" \
    "$(printf '%s\n' "${wall[@]}" | median)" >>"$dir/rows"
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(uptime | sed 's/.*load average: //'); $runs runs each, medians"
measure dynamic "$dynamic"
measure static "$static"
if [[ -f $windows && -x $wine ]]; then
  WINEPREFIX=$dir/wine WINEDEBUG=-all WINEDLLOVERRIDES='mscoree=d;mshtml=d' "$wine" wineboot -i \
    >"$dir/wineboot.log" 2>&1
  WINEPREFIX=$dir/wine /usr/lib/wine/wineserver -w  # the one wineboot left, gone
  WINEPREFIX=$dir/wine /usr/lib/wine/wineserver -p  # stays up until the cleanup's -k
  measure windows-under-wine "$windows" "$wine"
else
  echo "== no Windows row: $windows or $wine is missing (deploy/dev/release.sh windows)"
fi
echo "== load at the end: $(uptime | sed 's/.*load average: //')"
awk '
  { name[NR]=$1; size[NR]=$2; xz[NR]=$3; rss[NR]=$4; cpu[NR]=$5; wall[NR]=$6 }
  END {
    printf "| agent | stripped | xz -9e | peak RSS | CPU | wall |\n|---|---|---|---|---|---|\n"
    for (i = 1; i <= NR; i++) {
      r = (i == 1) ? "" : sprintf(" (%.2fx)", rss[i] / rss[1])
      c = (i == 1) ? "" : sprintf(" (%.2fx)", cpu[i] / cpu[1])
      printf "| %s | %.1f MB | %.1f MB | %.1f MB%s | %.0f ms%s | %.0f ms |\n", name[i],
        size[i] / 1e6, xz[i] / 1e6, rss[i] / 1024, r, cpu[i], c, wall[i]
    }
  }' "$dir/rows"
