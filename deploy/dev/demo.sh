#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, starts a local stack
# (reference relays on loopback addresses, the collector with its embedded
# SQLite store, and the dashboard API once it is built) and runs an agent
# diagnosis against it that uploads its telemetry, ending with the verdict,
# the report path and the dashboard URL.
#
#   deploy/dev/demo.sh          # start (or restart) the stack and diagnose
#   deploy/dev/demo.sh stop     # stop everything the demo started (by PID)
#   deploy/dev/demo.sh status   # what is running
#
# The stack keeps running after the script ends so the dashboard can be
# browsed; everything listens on 127.0.0.0/8 only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/demo}
state=${RELAYSCOPE_DEMO_DIR:-${TMPDIR:-/tmp}/relayscope-demo}
catalogue=$root/deploy/catalogue/demo.textproto

stop_all() {
  [[ -d $state/pids ]] || return 0
  local pidfile pid
  for pidfile in "$state"/pids/*.pid; do
    [[ -e $pidfile ]] || continue
    pid=$(<"$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      echo "demo: stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

status_all() {
  local pidfile pid
  for pidfile in "$state"/pids/*.pid; do
    [[ -e $pidfile ]] || { echo "demo: nothing running"; return 0; }
    pid=$(<"$pidfile")
    if kill -0 "$pid" 2>/dev/null; then s=running; else s=dead; fi
    echo "demo: $(basename "$pidfile" .pid) pid=$pid $s"
  done
}

case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  status) status_all; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

"$root/deploy/dev/deps.sh"

echo "demo: building into $build"
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELAYSCOPE_BUILD_TESTS=OFF -DRELAYSCOPE_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
targets=(relayscope-relay relayscope-agent)
for optional in relayscope-collector relayscope-dashboard; do
  if ninja -C "$build" -t targets all 2>/dev/null | grep -q "^$optional:"; then
    targets+=("$optional")
  fi
done
cmake --build "$build" --target "${targets[@]}"

stop_all
mkdir -p "$state/pids" "$state/logs" "$state/reports"

# start NAME READY_FILE CMD...: runs CMD in the background, records its own
# PID, and waits (bounded) for it to write READY_FILE.
start() {
  local name=$1 ready=$2; shift 2
  rm -f "$ready"
  "$@" >"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/pids/$name.pid"
  for _ in $(seq 100); do
    [[ -s $ready ]] && return 0
    kill -0 "$(<"$state/pids/$name.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: $name did not start; its log:" >&2
  tail -n 20 "$state/logs/$name.log" >&2
  exit 1
}

# Reference relays from the demo catalogue. One port is left closed on
# purpose (apac-1:8443) so the diagnosis has something to explain.
start relay-americas-1 "$state/relay-americas-1.ready" "$build/relay/relayscope-relay" \
  --catalogue="$catalogue" --relay=americas-1 --ready_file="$state/relay-americas-1.ready" \
  --metrics=127.0.0.1:0
start relay-emea-1 "$state/relay-emea-1.ready" "$build/relay/relayscope-relay" \
  --catalogue="$catalogue" --relay=emea-1 --ready_file="$state/relay-emea-1.ready" \
  --metrics=127.0.0.1:0
start relay-apac-1 "$state/relay-apac-1.ready" "$build/relay/relayscope-relay" \
  --listen=127.0.73.1:8200,127.0.73.1:8080 --ready_file="$state/relay-apac-1.ready" \
  --metrics=127.0.0.1:0

collector_flags=()
collector_line="(collector not built)"
if [[ -x $build/collector/relayscope-collector ]]; then
  # Port 0: the collector picks free ports and writes them to its ready file.
  start collector "$state/collector.ready" "$build/collector/relayscope-collector" \
    --store="sqlite://$state/collector.db" --catalogue="$catalogue" \
    --allow-unauthenticated --listen=127.0.0.1:0 --metrics=127.0.0.1:0 \
    --ready-file="$state/collector.ready"
  grpc_address=$(sed -n 's/^grpc=//p' "$state/collector.ready")
  metrics_address=$(sed -n 's/^metrics=//p' "$state/collector.ready")
  collector_flags=(--collector="$grpc_address" --insecure --spool-dir="$state/spool")
  collector_line="grpc $grpc_address, metrics http://$metrics_address/metrics"
fi
dashboard_url="(dashboard not built)"
if [[ -x $build/dashboard-api/relayscope-dashboard ]]; then
  start dashboard "$state/dashboard.ready" "$build/dashboard-api/relayscope-dashboard" \
    --collector="${grpc_address:-127.0.0.1:50051}" --insecure --listen=127.0.0.1:0 \
    --ready-file="$state/dashboard.ready"
  dashboard_url="http://$(sed -n 's/^http=//p' "$state/dashboard.ready")/"
fi

echo "demo: stack is up; running the agent"
set +e
"$build/agent/relayscope-agent" diagnose --catalogue="$catalogue" \
  --report-dir="$state/reports" --agent-id-file="$state/agent-id" --site=demo \
  "${collector_flags[@]}"
verdict_rc=$?
set -e
echo
echo "report:    $state/reports/connrpt.html"
echo "collector: $collector_line"
echo "dashboard: $dashboard_url"
echo "logs:      $state/logs   (stop the stack with: $0 stop)"
# The agent exits 0 when every region is reachable, 1 when degraded, 2 when
# unreachable; only a failure to run at all fails the demo.
((verdict_rc <= 2)) || exit "$verdict_rc"
