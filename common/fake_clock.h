// A clock for tests that moves only when told to: deadlines, staggers and
// backoffs become exact and instant, so a test asserts "started at +250 ms"
// instead of a window of the real clock.
//
// By default time moves only by Advance/AdvanceTo (from the test's thread
// while the code under test sleeps in others). With AdvanceOnSleep(true) a
// SleepUntil moves time to its wake-up itself: simulated time for code that
// only sleeps between steps (an upload's backoff, a scripted network).
// WaitUntil never moves time: it is woken by its event or by an advance.
#ifndef COMMON_FAKE_CLOCK_H_
#define COMMON_FAKE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace relayscope {

class FakeClock final : public Clock {
 public:
  // Starts at `start`, by default a fixed instant (2026-01-01T00:00:00Z).
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600));

  absl::Time Now() override;
  void SleepUntil(absl::Time time) override;
  bool WaitUntil(Wakeup& wakeup, absl::Time deadline) override;

  // Moves time forward (never back), waking every sleeper and waiter whose
  // time has come.
  void Advance(absl::Duration duration);
  void AdvanceTo(absl::Time time);
  // See the header comment.
  void AdvanceOnSleep(bool on);

  // Blocks (on the real clock) until at least `count` threads sleep or wait
  // on this clock.
  void AwaitBlocked(int count);
  // Every SleepUntil so far, as (when it was called, the time it waited
  // for), in call order.
  std::vector<std::pair<absl::Time, absl::Time>> Sleeps();

 private:
  bool Reached(absl::Time time) const;

  absl::Mutex mu_;
  // Written under mu_, read without it by waiters' conditions, which run
  // under their Wakeup's mutex (taking mu_ there would invert the lock
  // order of Advance, which pokes wakeups with mu_ held).
  std::atomic<int64_t> now_ns_;
  bool advance_on_sleep_ ABSL_GUARDED_BY(mu_) = false;
  int blocked_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Wakeup*> waiting_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<absl::Time, absl::Time>> sleeps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace relayscope

#endif  // COMMON_FAKE_CLOCK_H_
