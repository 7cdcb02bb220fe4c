#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, starts a local stack
# (reference relays on loopback addresses, with one port intercepted by a
# transparent proxy and one dropped, the collector with its embedded SQLite
# store, and the dashboard API) and runs an agent diagnosis against it that
# uploads its telemetry, ending with the verdict, the report path, the
# dashboard URL and the metrics URL.
#
#   deploy/dev/demo.sh            # start (or restart) the stack, diagnose, and
#                                 # keep serving until Ctrl-C stops everything
#   deploy/dev/demo.sh --detach   # leave the stack running and return
#   deploy/dev/demo.sh stop       # stop what a detached demo started (by PID)
#   deploy/dev/demo.sh status     # what is running
#
# Everything listens on 127.0.0.0/8 only; nothing needs root.
# RELAYSCOPE_DEMO_PREBUILT=1 uses the binaries already in RELAYSCOPE_BUILD_DIR
# (no package check, no build), as the demo's own test does.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/demo}
state=${RELAYSCOPE_DEMO_DIR:-${TMPDIR:-/tmp}/relayscope-demo}
catalogue=$root/deploy/catalogue/demo.textproto

# Stops every process the demo recorded, by its PID: TERM to all at once,
# then KILL what is still there after 5 s.
stop_all() {
  [[ -d $state/pids ]] || return 0
  local pidfile pid names=() pids=()
  for pidfile in "$state"/pids/*.pid; do
    [[ -e $pidfile ]] || continue
    pid=$(<"$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
      names+=("$(basename "$pidfile" .pid)")
      pids+=("$pid")
    fi
    rm -f "$pidfile"
  done
  local i alive
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    echo "demo: stopped ${names[$i]} (pid ${pids[$i]})"
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

detach=0
case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  status) status_all; exit 0 ;;
  start) ;;
  --detach) detach=1 ;;
  *) echo "usage: $0 [start|--detach|stop|status]" >&2; exit 2 ;;
esac

if [[ ${RELAYSCOPE_DEMO_PREBUILT:-0} != 1 ]]; then
  "$root/deploy/dev/deps.sh"
  echo "demo: building into $build"
  mkdir -p "$build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRELAYSCOPE_BUILD_TESTS=OFF -DRELAYSCOPE_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" --target relayscope-relay relayscope-middlebox relayscope-agent \
    relayscope-collector relayscope-dashboard
fi

stop_all
# Ctrl-C, a TERM or a failure stops everything this run started, by PID
# (background jobs of a script ignore SIGINT, so nothing stops by accident).
# Only a detached demo that came up leaves its stack running.
keep_running=0
sleeper=
trap 'rc=$?; [[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null; ((keep_running)) || stop_all; exit $rc' EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM
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

# Reference relays from the demo catalogue. apac-1 has something to explain:
# its port 8080 is answered by an intercepting proxy, its port 8443 dropped
# (relayscope-middlebox; no root, no firewall).
start relay-americas-1 "$state/relay-americas-1.ready" "$build/relay/relayscope-relay" \
  --catalogue="$catalogue" --relay=americas-1 --ready_file="$state/relay-americas-1.ready" \
  --metrics=127.0.0.1:0
start relay-emea-1 "$state/relay-emea-1.ready" "$build/relay/relayscope-relay" \
  --catalogue="$catalogue" --relay=emea-1 --ready_file="$state/relay-emea-1.ready" \
  --metrics=127.0.0.1:0
start relay-apac-1 "$state/relay-apac-1.ready" "$build/relay/relayscope-relay" \
  --listen=127.0.73.1:8200 --ready_file="$state/relay-apac-1.ready" --metrics=127.0.0.1:0
start intercept-apac-1-8080 "$state/intercept.ready" "$build/relay/relayscope-middlebox" \
  --listen=127.0.73.1:8080 --mode=intercept --ready_file="$state/intercept.ready"
start drop-apac-1-8443 "$state/drop.ready" "$build/relay/relayscope-middlebox" \
  --listen=127.0.73.1:8443 --mode=blackhole --ready_file="$state/drop.ready"

# The plugin download server of the demo catalogue: a demo CA (pinned by
# its name in demo.textproto) signs the genuine certificate served on 8443;
# 8080 serves one from a "Demo Inspection CA", as a TLS-inspecting firewall
# would, so the download check has interception to name.
pki=$state/pki
mkdir -p "$pki"
demo_cert() { # demo_cert STEM CA_NAME
  local stem=$1 ca_name=$2
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout "$pki/$stem-ca.key" -out "$pki/$stem-ca.pem" -subj "/O=relayscope demo/CN=$ca_name" \
    2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$pki/$stem.key" -out "$pki/$stem.csr" -subj "/CN=downloads.demo.relayscope.test" \
    2>/dev/null
  printf 'subjectAltName=DNS:downloads.demo.relayscope.test\n' >"$pki/$stem.ext"
  openssl x509 -req -in "$pki/$stem.csr" -CA "$pki/$stem-ca.pem" -CAkey "$pki/$stem-ca.key" \
    -CAcreateserial -days 30 -extfile "$pki/$stem.ext" -out "$pki/$stem.crt" 2>/dev/null
  cat "$pki/$stem.crt" "$pki/$stem-ca.pem" >"$pki/$stem-chain.pem"
}
demo_cert download "relayscope demo CA"
demo_cert inspection "Demo Inspection CA"
start download-8443 "$state/download-8443.ready" "$build/relay/relayscope-middlebox" \
  --listen=127.0.74.1:8443 --mode=tls --cert="$pki/download-chain.pem" \
  --key="$pki/download.key" --ready_file="$state/download-8443.ready"
start download-8080 "$state/download-8080.ready" "$build/relay/relayscope-middlebox" \
  --listen=127.0.74.1:8080 --mode=tls --cert="$pki/inspection-chain.pem" \
  --key="$pki/inspection.key" --ready_file="$state/download-8080.ready"

# Port 0: the collector picks free ports and writes them to its ready file.
start collector "$state/collector.ready" "$build/collector/relayscope-collector" \
  --store="sqlite://$state/collector.db" --catalogue="$catalogue" \
  --allow-unauthenticated --listen=127.0.0.1:0 --metrics=127.0.0.1:0 \
  --ready-file="$state/collector.ready"
grpc_address=$(sed -n 's/^grpc=//p' "$state/collector.ready")
metrics_url="http://$(sed -n 's/^metrics=//p' "$state/collector.ready")/metrics"
collector_flags=(--collector="$grpc_address" --insecure --spool-dir="$state/spool")
start dashboard "$state/dashboard.ready" "$build/dashboard-api/relayscope-dashboard" \
  --collector="$grpc_address" --insecure --listen=127.0.0.1:0 \
  --ready-file="$state/dashboard.ready"
dashboard_url="http://$(sed -n 's/^http=//p' "$state/dashboard.ready")/"

echo "demo: stack is up; running the agent"
set +e
"$build/agent/relayscope-agent" diagnose --catalogue="$catalogue" \
  --report-dir="$state/reports" --agent-id-file="$state/agent-id" --site=demo \
  "${collector_flags[@]}"
verdict_rc=$?
set -e
echo
echo "report:    $state/reports/connrpt.html"
echo "dashboard: $dashboard_url"
echo "metrics:   $metrics_url"
echo "collector: $grpc_address (gRPC)"
echo "logs:      $state/logs"
# The agent exits 0 when every region is reachable, 1 when degraded, 2 when
# unreachable; only a failure to run at all fails the demo.
((verdict_rc <= 2)) || exit "$verdict_rc"
if ((detach)); then
  keep_running=1
  echo "demo: the stack keeps running; stop it with: $0 stop"
  exit 0
fi
echo "demo: serving until Ctrl-C"
# Sleep in the background and wait for it, so a signal is handled at once.
while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
