// WaitUntil: the one polling wait of the tests. A test that waits for
// something another process or thread does (a log line, a row in a store,
// a counter) polls a predicate, bounded in time, instead of writing its own
// sleep loop.
//
//   ASSERT_TRUE(WaitUntil([&] { return Stored() >= 3; }, absl::Seconds(20)));
//
// It measures real time: use it to wait for real processes, never to assert
// how long something took (unit tests of timing use a fake clock).
#ifndef TESTS_SUPPORT_WAIT_UNTIL_H_
#define TESTS_SUPPORT_WAIT_UNTIL_H_

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace relayscope::test {

// Calls `predicate` until it returns true or `timeout` has passed, sleeping
// `poll` between calls. Returns true as soon as the predicate holds; false
// if it still did not after `timeout` (it is called at least once, and once
// more at the deadline, so a zero timeout still asks once).
bool WaitUntil(absl::FunctionRef<bool()> predicate, absl::Duration timeout,
               absl::Duration poll = absl::Milliseconds(20));

}  // namespace relayscope::test

#endif  // TESTS_SUPPORT_WAIT_UNTIL_H_
