// Racing many attempts so that a whole diagnosis costs about one timeout.
//
// Attempts start staggered in the spirit of Happy Eyeballs (RFC 8305 §5):
// the next one starts when the stagger has elapsed since the last start or
// as soon as any running attempt finishes, whichever comes first, with at
// most `max_concurrency` running. Every attempt runs to its own deadline, so
// the result covers every route, not just the first that works.
// `sequential` reproduces the old one-after-another behaviour as a baseline.
#ifndef AGENT_ATTEMPT_RACE_H_
#define AGENT_ATTEMPT_RACE_H_

#include <cstddef>
#include <functional>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"

namespace relayscope::agent {

struct RaceOptions {
  // RFC 8305 recommends 250 ms as the connection attempt delay.
  absl::Duration stagger = absl::Milliseconds(250);
  // Each attempt's own deadline, counted from its start.
  absl::Duration attempt_timeout = absl::Seconds(5);
  int max_concurrency = 16;
  // No attempt starts after the budget is spent; those are reported as not
  // started. Running attempts still end at their own deadline.
  absl::Duration budget = absl::Seconds(60);
  bool sequential = false;
  // What staggers, deadlines and the budget are measured on; nullptr: the
  // system clock.
  Clock* clock = nullptr;
};

// Runs `run(index, deadline)` for index 0..count-1 in that order of
// preference, as described above, and waits for all started ones. `run` must
// return by `deadline` (plus a small margin for cleanup) and is called from
// worker threads. `on_done(index)`, if given, is called as each finishes.
// Returns, per index, whether it started (false only when the budget ran out).
std::vector<bool> Race(size_t count, const RaceOptions& options,
                       const std::function<void(size_t, absl::Time)>& run,
                       const std::function<void(size_t)>& on_done = nullptr);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_RACE_H_
