#include "common/fake_clock.h"

#include <algorithm>

namespace relayscope {

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() { return absl::FromUnixNanos(now_ns_.load()); }

bool FakeClock::Reached(absl::Time time) const {
  return absl::FromUnixNanos(now_ns_.load()) >= time;
}

void FakeClock::SleepUntil(absl::Time time) {
  absl::MutexLock lock(&mu_);
  sleeps_.emplace_back(Now(), time);
  if (advance_on_sleep_ && !Reached(time)) {
    now_ns_.store(absl::ToUnixNanos(time));
    for (Wakeup* wakeup : waiting_) wakeup->Poke();
  }
  ++blocked_;
  auto reached = [this, time] { return Reached(time); };
  mu_.Await(absl::Condition(&reached));
  --blocked_;
}

bool FakeClock::WaitUntil(Wakeup& wakeup, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    waiting_.push_back(&wakeup);
    ++blocked_;
  }
  // Registered before waiting, so an Advance from now on pokes this wakeup;
  // one before was seen by Reached.
  auto deadline_reached = [this, deadline] { return Reached(deadline); };
  const absl::Condition reached(&deadline_reached);
  const bool woken = wakeup.Await(&reached, absl::InfiniteFuture());
  absl::MutexLock lock(&mu_);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &wakeup));
  --blocked_;
  return woken;
}

void FakeClock::Advance(absl::Duration duration) { AdvanceTo(Now() + duration); }

void FakeClock::AdvanceTo(absl::Time time) {
  absl::MutexLock lock(&mu_);
  if (!Reached(time)) now_ns_.store(absl::ToUnixNanos(time));
  for (Wakeup* wakeup : waiting_) wakeup->Poke();
  // Sleepers' conditions are re-evaluated as mu_ is released.
}

void FakeClock::AdvanceOnSleep(bool on) {
  absl::MutexLock lock(&mu_);
  advance_on_sleep_ = on;
}

void FakeClock::AwaitBlocked(int count) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return blocked_ >= count; };
  mu_.Await(absl::Condition(&enough));
}

std::vector<std::pair<absl::Time, absl::Time>> FakeClock::Sleeps() {
  absl::MutexLock lock(&mu_);
  return sleeps_;
}

}  // namespace relayscope
