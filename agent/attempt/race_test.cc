#include "agent/attempt/race.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

// Each fake attempt "hangs" until its deadline or "fails fast" after 1 ms,
// and records when it started relative to the race start.
struct Recorder {
  absl::Mutex mu;
  std::vector<absl::Duration> start_offsets;
  int max_running = 0;
  int running = 0;
};

TEST(Race, HangingAttemptsCostAboutOneTimeoutNotTheirSum) {
  RaceOptions options;
  options.stagger = absl::Milliseconds(20);
  options.attempt_timeout = absl::Milliseconds(300);
  const absl::Time t0 = absl::Now();
  // Four attempts that all hang to their deadline.
  Race(4, options, [](size_t, absl::Time deadline) { absl::SleepFor(deadline - absl::Now()); });
  const absl::Duration elapsed = absl::Now() - t0;
  // Sequential would be 1200 ms; raced it is one timeout plus 3 staggers.
  EXPECT_GE(elapsed, absl::Milliseconds(300 + 3 * 20));
  EXPECT_LT(elapsed, absl::Milliseconds(300 + 3 * 20 + 400));
}

TEST(Race, NextAttemptStartsAsSoonAsOneFailsInsteadOfWaitingForTheStagger) {
  RaceOptions options;
  options.stagger = absl::Seconds(2);
  options.attempt_timeout = absl::Seconds(3);
  Recorder recorder;
  const absl::Time t0 = absl::Now();
  Race(5, options, [&](size_t, absl::Time) {
    {
      absl::MutexLock lock(&recorder.mu);
      recorder.start_offsets.push_back(absl::Now() - t0);
    }
    absl::SleepFor(absl::Milliseconds(1));  // fails fast
  });
  ASSERT_EQ(recorder.start_offsets.size(), 5u);
  // With a 2 s stagger, only fast completions can explain a quick finish.
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(1500));
}

TEST(Race, StaggersWhileEarlierAttemptsAreStillRunning) {
  RaceOptions options;
  options.stagger = absl::Milliseconds(200);
  options.attempt_timeout = absl::Milliseconds(600);
  Recorder recorder;
  const absl::Time t0 = absl::Now();
  Race(3, options, [&](size_t, absl::Time deadline) {
    {
      absl::MutexLock lock(&recorder.mu);
      recorder.start_offsets.push_back(absl::Now() - t0);
    }
    absl::SleepFor(deadline - absl::Now());
  });
  ASSERT_EQ(recorder.start_offsets.size(), 3u);
  std::sort(recorder.start_offsets.begin(), recorder.start_offsets.end());
  // Generous upper margins: CI shares two cores with other tests.
  EXPECT_LT(recorder.start_offsets[0], absl::Milliseconds(100));
  EXPECT_GE(recorder.start_offsets[1], absl::Milliseconds(195));
  EXPECT_LT(recorder.start_offsets[1], absl::Milliseconds(350));
  EXPECT_GE(recorder.start_offsets[2], absl::Milliseconds(395));
  EXPECT_LT(recorder.start_offsets[2], absl::Milliseconds(550));
}

TEST(Race, NeverRunsMoreThanMaxConcurrency) {
  RaceOptions options;
  options.stagger = absl::ZeroDuration();
  options.attempt_timeout = absl::Milliseconds(30);
  options.max_concurrency = 3;
  Recorder recorder;
  auto started = Race(12, options, [&](size_t, absl::Time deadline) {
    {
      absl::MutexLock lock(&recorder.mu);
      recorder.max_running = std::max(recorder.max_running, ++recorder.running);
    }
    absl::SleepFor(deadline - absl::Now());
    absl::MutexLock lock(&recorder.mu);
    --recorder.running;
  });
  EXPECT_EQ(recorder.max_running, 3);
  EXPECT_EQ(std::count(started.begin(), started.end(), true), 12);
}

TEST(Race, SequentialRunsOneAfterAnotherLikeTheOldClient) {
  RaceOptions options;
  options.sequential = true;
  options.attempt_timeout = absl::Milliseconds(60);
  const absl::Time t0 = absl::Now();
  std::atomic<int> concurrent{0}, max_concurrent{0};
  Race(4, options, [&](size_t, absl::Time deadline) {
    int now = ++concurrent;
    int seen = max_concurrent.load();
    while (now > seen && !max_concurrent.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(deadline - absl::Now());
    --concurrent;
  });
  EXPECT_EQ(max_concurrent.load(), 1);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(4 * 60));
}

TEST(Race, BudgetStopsNewStartsButReportsWhichNeverRan) {
  RaceOptions options;
  options.sequential = true;
  options.attempt_timeout = absl::Milliseconds(100);
  options.budget = absl::Milliseconds(150);
  std::vector<int> done;
  absl::Mutex mu;
  auto started = Race(
      5, options, [](size_t, absl::Time deadline) { absl::SleepFor(deadline - absl::Now()); },
      [&](size_t index) {
        absl::MutexLock lock(&mu);
        done.push_back(static_cast<int>(index));
      });
  EXPECT_EQ(started, (std::vector<bool>{true, true, false, false, false}));
  EXPECT_EQ(done, (std::vector<int>{0, 1}));
}

}  // namespace
}  // namespace relayscope::agent
