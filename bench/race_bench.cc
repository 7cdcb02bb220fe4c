// Diagnosis wall time: racing attempts versus the old sequential order.
//
// Each simulated attempt either fails fast (1 ms, a refusal) or hangs to its
// deadline (a DROP), as on the seed's network where 2 of 8 ports were
// dropped. BM_Sequential is the baseline; the ratio of their wall times is
// the speed-up recorded in bench/README.md.
#include <benchmark/benchmark.h>

#include "absl/time/clock.h"
#include "agent/attempt/race.h"

namespace relayscope::agent {
namespace {

// The defaults' ratio: 250 ms stagger for a 5 s timeout is 1:20. A hanging
// attempt delays the next start by at most one stagger.
constexpr absl::Duration kTimeout = absl::Milliseconds(400);
constexpr absl::Duration kStagger = absl::Milliseconds(20);

void Simulated(size_t index, absl::Time deadline) {
  // Every fourth attempt is dropped and hangs to its deadline.
  if (index % 4 == 1) {
    absl::SleepFor(deadline - absl::Now());
  } else {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void Run(benchmark::State& state, bool sequential) {
  RaceOptions options;
  options.attempt_timeout = kTimeout;
  options.stagger = kStagger;
  options.sequential = sequential;
  const size_t attempts = static_cast<size_t>(state.range(0)) * 4;
  for (auto _ : state) {
    Race(attempts, options, Simulated);
  }
  state.counters["attempts"] = static_cast<double>(attempts);
  state.counters["timeouts"] = static_cast<double>(attempts) / 4;
}

void BM_Sequential(benchmark::State& state) { Run(state, true); }
void BM_Race(benchmark::State& state) { Run(state, false); }

BENCHMARK(BM_Sequential)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Race)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace relayscope::agent

BENCHMARK_MAIN();
