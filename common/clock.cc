#include "common/clock.h"

#include "absl/time/clock.h"

namespace relayscope {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time time) override {
    const absl::Duration left = time - absl::Now();
    if (left > absl::ZeroDuration()) absl::SleepFor(left);
  }
  bool WaitUntil(Wakeup& wakeup, absl::Time deadline) override {
    return wakeup.Await(nullptr, deadline);
  }
};

}  // namespace

void Wakeup::Notify() {
  absl::MutexLock lock(&mu_);
  notified_ = true;
}

bool Wakeup::Await(const absl::Condition* also, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return notified_ || (also != nullptr && also->Eval());
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  const bool woken = notified_;
  notified_ = false;
  return woken;
}

void Wakeup::Poke() {
  // Releasing the mutex makes absl re-evaluate every waiter's condition.
  absl::MutexLock lock(&mu_);
}

Clock& Clock::Real() {
  static Clock* const clock = new RealClock();
  return *clock;
}

}  // namespace relayscope
