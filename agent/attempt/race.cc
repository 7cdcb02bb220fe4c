#include "agent/attempt/race.h"

#include <algorithm>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace relayscope::agent {

std::vector<bool> Race(size_t count, const RaceOptions& options,
                       const std::function<void(size_t, absl::Time)>& run,
                       const std::function<void(size_t)>& on_done) {
  std::vector<bool> started(count, false);
  const int max_running = options.sequential ? 1 : std::max(1, options.max_concurrency);
  const absl::Time budget_end = absl::Now() + options.budget;

  absl::Mutex mu;
  absl::CondVar changed;
  int running = 0;           // guarded by mu
  uint64_t completions = 0;  // guarded by mu
  std::vector<std::thread> workers;
  workers.reserve(count);
  absl::Time last_start = absl::InfinitePast();
  uint64_t completions_at_last_start = 0;

  for (size_t i = 0; i < count; ++i) {
    absl::MutexLock lock(&mu);
    bool go = false;
    for (;;) {
      const absl::Time now = absl::Now();
      if (now >= budget_end) break;
      const bool slot_free = running < max_running;
      // RFC 8305 §5: start the next attempt when the previous one failed
      // (here: any finished) or the stagger elapsed.
      go = slot_free && (options.sequential || i == 0 || completions > completions_at_last_start ||
                         now >= last_start + options.stagger);
      if (go) break;
      absl::Time wake = budget_end;
      if (slot_free && !options.sequential) wake = std::min(wake, last_start + options.stagger);
      changed.WaitWithDeadline(&mu, wake);
    }
    if (!go) break;  // budget spent: the rest are reported as not started
    started[i] = true;
    ++running;
    last_start = absl::Now();
    completions_at_last_start = completions;
    const absl::Time deadline = last_start + options.attempt_timeout;
    workers.emplace_back([&, i, deadline] {
      run(i, deadline);
      if (on_done) on_done(i);
      absl::MutexLock done_lock(&mu);
      --running;
      ++completions;
      changed.SignalAll();
    });
  }
  for (std::thread& worker : workers) worker.join();
  return started;
}

}  // namespace relayscope::agent
