#include "tests/support/wait_until.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace relayscope::test {

bool WaitUntil(absl::FunctionRef<bool()> predicate, absl::Duration timeout, absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (predicate()) return true;
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    // Never sleep past the deadline: the last call is made at it.
    absl::SleepFor(std::min(poll, deadline - now));
  }
}

}  // namespace relayscope::test
