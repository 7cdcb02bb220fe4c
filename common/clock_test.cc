#include "common/clock.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(FakeClock, StandsStillUntilAdvanced) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Milliseconds(250));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(250));
  clock.AdvanceTo(start);  // never backwards
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(250));
}

TEST(FakeClock, SleeperWakesWhenTimeReachesItsWakeUpAndNotBefore) {
  FakeClock clock;
  const absl::Time wake = clock.Now() + absl::Seconds(5);
  absl::Notification woke;
  std::thread sleeper([&] {
    clock.SleepUntil(wake);
    woke.Notify();
  });
  clock.AwaitBlocked(1);
  clock.Advance(absl::Seconds(4));
  EXPECT_FALSE(woke.HasBeenNotified());
  clock.Advance(absl::Seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke.HasBeenNotified());
  EXPECT_EQ(clock.Now(), wake);
}

TEST(FakeClock, WaitEndsByNotificationOrByAdvancingPastTheDeadline) {
  FakeClock clock;
  Wakeup wakeup;
  const absl::Time deadline = clock.Now() + absl::Seconds(1);
  bool notified = false, timed_out = false;
  std::thread waiter([&] {
    notified = clock.WaitUntil(wakeup, deadline);
    timed_out = !clock.WaitUntil(wakeup, deadline);
  });
  clock.AwaitBlocked(1);
  wakeup.Notify();
  clock.AdvanceTo(deadline);  // ends the second wait, whether it began yet or not
  waiter.join();
  EXPECT_TRUE(notified);
  EXPECT_TRUE(timed_out);
}

TEST(FakeClock, NotificationSentBeforeTheWaitIsNotLost) {
  FakeClock clock;
  Wakeup wakeup;
  wakeup.Notify();
  EXPECT_TRUE(clock.WaitUntil(wakeup, absl::InfiniteFuture()));
}

TEST(FakeClock, AdvanceOnSleepMovesTimeToEachWakeUpAndLogsTheSleeps) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  clock.AdvanceOnSleep(true);
  clock.SleepUntil(start + absl::Milliseconds(200));
  clock.SleepUntil(start + absl::Milliseconds(100));  // already past
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(200));
  const auto sleeps = clock.Sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_EQ(sleeps[0].first, start);
  EXPECT_EQ(sleeps[0].second, start + absl::Milliseconds(200));
  EXPECT_EQ(sleeps[1].first, start + absl::Milliseconds(200));
}

TEST(RealClock, WaitReturnsAtOnceForAPendingNotificationOrAPastDeadline) {
  Clock& clock = Clock::Real();
  Wakeup wakeup;
  wakeup.Notify();
  EXPECT_TRUE(clock.WaitUntil(wakeup, absl::InfiniteFuture()));
  EXPECT_FALSE(clock.WaitUntil(wakeup, clock.Now() - absl::Seconds(1)));
}

}  // namespace
}  // namespace relayscope
