#!/usr/bin/env bash
# The benchmark command: builds the benchmarks (and a release agent for its
# size), runs P1-P5 of bench/README.md and prints every figure next to the
# baseline measured in the same run. Needs root for P1 (the rig's network
# namespace); as another user P1 is skipped, saying so.
#
#   deploy/dev/bench.sh            # everything (P3's 10 M-attempt store is
#                                  # generated once, ~6 GB, under build/bench-data)
#   deploy/dev/bench.sh P2 P5      # only these
#
# Absolute figures depend on the machine and its load (printed first);
# compare the ratios.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${RELAYSCOPE_BUILD_DIR:-$root/build/dev}
release=$root/build/release
wanted=${*:-P1 P2 P3 P4 P5}
want() { [[ " $wanted " == *" $1 "* ]]; }

"$root/deploy/dev/deps.sh"
jobs=${RELAYSCOPE_BUILD_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELAYSCOPE_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs" --target race_bench ingest_loadgen query_bench metrics_bench \
  agent_footprint seed_bench relayscope-agent relayscope-relay relayscope-collector
# The agent as shipped: optimized, no tests; its stripped copy is measured.
cmake -S "$root" -B "$release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRELAYSCOPE_BUILD_TESTS=OFF \
  -DRELAYSCOPE_BUILD_BENCH=OFF >/dev/null
cmake --build "$release" -j "$jobs" --target relayscope-agent

b=$build/bench
echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
if want P1; then
  echo "== P1 seed scenario: raced vs --sequential (same run)"
  if [[ $(id -u) -eq 0 ]]; then
    "$b/seed_bench" --agent="$build/agent/relayscope-agent" --relay="$build/relay/relayscope-relay"
  else
    echo "P1 skipped: needs root (network namespace, iptables)"
  fi
  echo "== simulated attempts: raced vs sequential scheduler"
  "$b/race_bench" --benchmark_counters_tabular=true
fi
if want P2; then
  echo "== P2 ingest: 1000 streams vs 1 stream vs the store alone (same run)"
  "$b/ingest_loadgen" --collector_binary="$build/collector/relayscope-collector"
fi
if want P3; then
  echo "== P3 FleetQuery over 10 M attempts (baseline: GetSession)"
  "$b/query_bench" --data_dir="$root/build/bench-data"
fi
if want P4; then
  echo "== P4 agent footprint (baselines: /bin/true, curl)"
  "$b/agent_footprint" --agent="$release/agent/relayscope-agent" \
    --relay="$build/relay/relayscope-relay"
fi
if want P5; then
  echo "== P5 /metrics scrape: 10 k series vs 10 series"
  "$b/metrics_bench"
fi
echo "== done; load: $(uptime | sed 's/.*load average: //')"
