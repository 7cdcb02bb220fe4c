// The scheduler on a FakeClock: every start offset is exact, because time
// moves only when the test advances it (attempts that "hang" sleep to
// their deadline on the fake clock; attempts that "fail fast" return at
// once, at no cost in time).
#include "agent/attempt/race.h"

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using absl::Milliseconds;

// Race() on its own thread over a FakeClock, recording when each attempt
// started and the deadline it was given, relative to the race start.
class FakeRace {
 public:
  // `hangs(i)`: attempt i sleeps to its deadline; otherwise it ends at once.
  FakeRace(size_t count, RaceOptions options, std::function<bool(size_t)> hangs)
      : t0_(clock_.Now()) {
    options.clock = &clock_;
    thread_ = std::thread([this, count, options, hangs] {
      std::vector<bool> started = Race(
          count, options,
          [this, hangs](size_t i, absl::Time deadline) {
            {
              absl::MutexLock lock(&mu_);
              starts_.push_back(clock_.Now() - t0_);
              deadlines_.push_back(deadline - t0_);
              max_running_ = std::max(max_running_, ++running_);
            }
            if (hangs(i)) clock_.SleepUntil(deadline);
            absl::MutexLock lock(&mu_);
            --running_;
          },
          [this](size_t i) {
            absl::MutexLock lock(&mu_);
            done_.push_back(static_cast<int>(i));
          });
      absl::MutexLock lock(&mu_);
      started_ = std::move(started);
    });
  }
  ~FakeRace() {
    if (thread_.joinable()) thread_.join();
  }

  // Waits until `n` attempts have started (a watchdog on the real clock
  // only: nothing here depends on how long the wait takes).
  bool AwaitStarts(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return starts_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }
  void Advance(absl::Duration duration) { clock_.Advance(duration); }
  // Waits for Race() to return; which indexes started.
  std::vector<bool> Finish() {
    thread_.join();
    absl::MutexLock lock(&mu_);
    return started_;
  }
  // Fake time since the race began.
  absl::Duration Elapsed() { return clock_.Now() - t0_; }

  std::vector<absl::Duration> starts() {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  std::vector<absl::Duration> deadlines() {
    absl::MutexLock lock(&mu_);
    return deadlines_;
  }
  std::vector<int> done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  int max_running() {
    absl::MutexLock lock(&mu_);
    return max_running_;
  }

 private:
  FakeClock clock_;
  const absl::Time t0_;
  absl::Mutex mu_;
  std::vector<absl::Duration> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> deadlines_ ABSL_GUARDED_BY(mu_);
  std::vector<int> done_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> started_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

bool Always(size_t) { return true; }
bool Never(size_t) { return false; }

using Offsets = std::vector<absl::Duration>;

TEST(Race, HangingAttemptsCostAboutOneTimeoutNotTheirSum) {
  RaceOptions options;
  options.stagger = Milliseconds(20);
  options.attempt_timeout = Milliseconds(300);
  FakeRace race(4, options, Always);
  for (size_t n = 1; n < 4; ++n) {
    ASSERT_TRUE(race.AwaitStarts(n));
    race.Advance(Milliseconds(20));
  }
  ASSERT_TRUE(race.AwaitStarts(4));
  EXPECT_EQ(race.starts(),
            (Offsets{Milliseconds(0), Milliseconds(20), Milliseconds(40), Milliseconds(60)}));
  // Sequential would be 1200 ms; raced it is one timeout plus 3 staggers.
  EXPECT_EQ(race.deadlines(),
            (Offsets{Milliseconds(300), Milliseconds(320), Milliseconds(340), Milliseconds(360)}));
  race.Advance(Milliseconds(300));
  race.Finish();
  EXPECT_EQ(race.Elapsed(), Milliseconds(300 + 3 * 20));
}

TEST(Race, NextAttemptStartsAsSoonAsOneFailsInsteadOfWaitingForTheStagger) {
  RaceOptions options;
  options.stagger = absl::Seconds(2);
  options.attempt_timeout = absl::Seconds(3);
  FakeRace race(5, options, Never);
  // Time never moves: only the completions can start attempts 1 to 4.
  EXPECT_EQ(race.Finish(), std::vector<bool>(5, true));
  EXPECT_EQ(race.starts(), Offsets(5, absl::ZeroDuration()));
}

TEST(Race, StaggersWhileEarlierAttemptsAreStillRunning) {
  RaceOptions options;
  options.stagger = Milliseconds(200);
  options.attempt_timeout = Milliseconds(600);
  FakeRace race(3, options, Always);
  ASSERT_TRUE(race.AwaitStarts(1));
  race.Advance(Milliseconds(199));  // one short of the stagger: nothing starts
  race.Advance(Milliseconds(1));
  ASSERT_TRUE(race.AwaitStarts(2));
  race.Advance(Milliseconds(200));
  ASSERT_TRUE(race.AwaitStarts(3));
  EXPECT_EQ(race.starts(), (Offsets{Milliseconds(0), Milliseconds(200), Milliseconds(400)}));
  race.Advance(Milliseconds(600));
  race.Finish();
}

TEST(Race, NeverRunsMoreThanMaxConcurrency) {
  RaceOptions options;
  options.stagger = absl::ZeroDuration();
  options.attempt_timeout = Milliseconds(30);
  options.max_concurrency = 3;
  FakeRace race(12, options, Always);
  for (size_t n = 3; n <= 12; n += 3) {
    ASSERT_TRUE(race.AwaitStarts(n));
    race.Advance(Milliseconds(30));
  }
  const std::vector<bool> started = race.Finish();
  EXPECT_EQ(race.max_running(), 3);
  EXPECT_EQ(std::count(started.begin(), started.end(), true), 12);
  // Three at a time, each wave when the previous one reached its deadline.
  Offsets expected;
  for (int wave = 0; wave < 4; ++wave) expected.insert(expected.end(), 3, Milliseconds(30 * wave));
  EXPECT_EQ(race.starts(), expected);
}

TEST(Race, SequentialRunsOneAfterAnotherLikeTheOldClient) {
  RaceOptions options;
  options.sequential = true;
  options.attempt_timeout = Milliseconds(60);
  FakeRace race(4, options, Always);
  for (size_t n = 1; n <= 4; ++n) {
    ASSERT_TRUE(race.AwaitStarts(n));
    race.Advance(Milliseconds(60));
  }
  race.Finish();
  EXPECT_EQ(race.max_running(), 1);
  EXPECT_EQ(race.starts(),
            (Offsets{Milliseconds(0), Milliseconds(60), Milliseconds(120), Milliseconds(180)}));
  EXPECT_EQ(race.Elapsed(), Milliseconds(4 * 60));
}

TEST(Race, BudgetStopsNewStartsButReportsWhichNeverRan) {
  RaceOptions options;
  options.sequential = true;
  options.attempt_timeout = Milliseconds(100);
  options.budget = Milliseconds(150);
  FakeRace race(5, options, Always);
  ASSERT_TRUE(race.AwaitStarts(1));
  race.Advance(Milliseconds(100));
  ASSERT_TRUE(race.AwaitStarts(2));
  race.Advance(Milliseconds(100));
  EXPECT_EQ(race.Finish(), (std::vector<bool>{true, true, false, false, false}));
  EXPECT_EQ(race.done(), (std::vector<int>{0, 1}));
  EXPECT_EQ(race.starts(), (Offsets{Milliseconds(0), Milliseconds(100)}));
}

TEST(Race, BudgetEndsStartsAtItsEndWhileAttemptsStillRun) {
  RaceOptions options;
  options.stagger = Milliseconds(100);
  options.attempt_timeout = absl::Seconds(1);
  options.budget = Milliseconds(250);
  FakeRace race(5, options, Always);
  for (size_t n = 1; n < 3; ++n) {
    ASSERT_TRUE(race.AwaitStarts(n));
    race.Advance(Milliseconds(100));
  }
  ASSERT_TRUE(race.AwaitStarts(3));
  race.Advance(Milliseconds(50));  // the budget is spent at 250 ms, before the next stagger
  race.Advance(absl::Seconds(1));  // the three running attempts reach their deadlines
  EXPECT_EQ(race.Finish(), (std::vector<bool>{true, true, true, false, false}));
  EXPECT_EQ(race.starts(), (Offsets{Milliseconds(0), Milliseconds(100), Milliseconds(200)}));
}

}  // namespace
}  // namespace relayscope::agent
