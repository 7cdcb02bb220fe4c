#include "agent/attempt/race.h"

#include <algorithm>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace relayscope::agent {

std::vector<bool> Race(size_t count, const RaceOptions& options,
                       const std::function<void(size_t, absl::Time)>& run,
                       const std::function<void(size_t)>& on_done) {
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  std::vector<bool> started(count, false);
  const int max_running = options.sequential ? 1 : std::max(1, options.max_concurrency);
  const absl::Time budget_end = clock.Now() + options.budget;

  absl::Mutex mu;
  int running = 0;           // guarded by mu
  uint64_t completions = 0;  // guarded by mu
  // Notified as each attempt finishes: the scheduler waits for that or for
  // the next stagger, whichever comes first.
  Wakeup finished;
  std::vector<std::thread> workers;
  workers.reserve(count);
  absl::Time last_start = absl::InfinitePast();
  uint64_t completions_at_last_start = 0;

  for (size_t i = 0; i < count; ++i) {
    bool go = false;
    absl::Time deadline;
    for (;;) {
      absl::Time wake;
      {
        absl::MutexLock lock(&mu);
        const absl::Time now = clock.Now();
        if (now >= budget_end) break;
        const bool slot_free = running < max_running;
        // RFC 8305 §5: start the next attempt when the previous one failed
        // (here: any finished) or the stagger elapsed.
        go =
            slot_free && (options.sequential || i == 0 || completions > completions_at_last_start ||
                          now >= last_start + options.stagger);
        if (go) {
          ++running;
          last_start = now;
          completions_at_last_start = completions;
          deadline = now + options.attempt_timeout;
          break;
        }
        wake = budget_end;
        if (slot_free && !options.sequential) wake = std::min(wake, last_start + options.stagger);
      }
      clock.WaitUntil(finished, wake);
    }
    if (!go) break;  // budget spent: the rest are reported as not started
    started[i] = true;
    workers.emplace_back([&, i, deadline] {
      run(i, deadline);
      if (on_done) on_done(i);
      {
        absl::MutexLock done_lock(&mu);
        --running;
        ++completions;
      }
      finished.Notify();
    });
  }
  for (std::thread& worker : workers) worker.join();
  return started;
}

}  // namespace relayscope::agent
