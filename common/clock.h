// The clock behind the agent's deadlines, staggers and backoffs, as an
// interface so that tests run time by hand (leveldb's Env, envoy's
// TimeSource). Clock::Real() is the system clock; FakeClock
// (common/fake_clock.h) is the test one.
//
// Code that waits for "this time, or an event, whichever is first" (the
// race scheduler) waits on a Wakeup that the event's thread notifies, so a
// fake clock can wake it when time is advanced by hand.
#ifndef COMMON_CLOCK_H_
#define COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace relayscope {

// An event to wait for with Clock::WaitUntil. A notification is kept until
// a wait consumes it, so one sent before the wait starts is not lost.
class Wakeup {
 public:
  // Makes the current or the next WaitUntil on this wakeup return true.
  void Notify();

  // For Clock implementations: blocks until notified, `also` (when given)
  // holds, or the system clock reaches `deadline`. Consumes the
  // notification; true when there was one. `also` must not block.
  bool Await(const absl::Condition* also, absl::Time deadline);
  // For Clock implementations: re-evaluates the `also` of a waiter.
  void Poke();

 private:
  absl::Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;
  // Blocks until Now() >= time (returns at once for a time in the past).
  virtual void SleepUntil(absl::Time time) = 0;
  // Blocks until `wakeup` is notified or Now() >= deadline. True when woken
  // by the notification, which it consumes; false at the deadline.
  virtual bool WaitUntil(Wakeup& wakeup, absl::Time deadline) = 0;

  // The system clock. Never destroyed; safe from any thread.
  static Clock& Real();
};

}  // namespace relayscope

#endif  // COMMON_CLOCK_H_
