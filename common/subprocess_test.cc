#include "common/subprocess.h"

#include <signal.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

// Generous: these tests assert what happened, never how long it took.
constexpr absl::Duration kPlenty = absl::Seconds(30);

TEST(RunSubprocess, CollectsStdoutAndExitStatus) {
  auto result = RunSubprocess({"/bin/echo", "hello", "relay"}, kPlenty, 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_status, 0);
  EXPECT_EQ(result->out, "hello relay\n");
  EXPECT_EQ(result->err, "");
  EXPECT_FALSE(result->timed_out);
  EXPECT_FALSE(result->truncated);
}

TEST(RunSubprocess, KeepsStderrApartAndReportsANonZeroExit) {
  auto result = RunSubprocess({"/bin/sh", "-c", "echo out; echo oops >&2; exit 3"}, kPlenty, 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_status, 3);
  EXPECT_EQ(result->out, "out\n");
  EXPECT_EQ(result->err, "oops\n");
}

TEST(RunSubprocess, LooksTheProgramUpInPath) {
  auto result = RunSubprocess({"echo", "found"}, kPlenty, 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->out, "found\n");
}

TEST(RunSubprocess, AMissingProgramIsNotFound) {
  auto result = RunSubprocess({"relayscope-no-such-program"}, kPlenty, 1024);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("relayscope-no-such-program"));
}

TEST(RunSubprocess, AnEmptyArgvIsInvalid) {
  EXPECT_EQ(RunSubprocess({}, kPlenty, 1024).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunSubprocess, StdinIsEmpty) {
  auto result = RunSubprocess({"/bin/cat"}, kPlenty, 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_status, 0);
  EXPECT_EQ(result->out, "");
}

// The child prints its PID (exec keeps it) and then sleeps past the
// deadline: it must be reported, and gone (killed and reaped) on return.
TEST(RunSubprocess, AChildSleepingPastTheDeadlineIsKilledAndReported) {
  auto result =
      RunSubprocess({"/bin/sh", "-c", "echo $$; exec sleep 60"}, absl::Milliseconds(300), 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_FALSE(result->truncated);
  EXPECT_EQ(result->exit_status, -1);
  pid_t pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result->out), &pid)) << result->out;
  EXPECT_NE(kill(pid, 0), 0);
  EXPECT_EQ(errno, ESRCH);
}

// Closing stdout and stderr is not exiting: the deadline still applies.
TEST(RunSubprocess, AChildThatClosesItsOutputButRunsOnIsKilledAtTheDeadline) {
  auto result = RunSubprocess({"/bin/sh", "-c", "exec >&- 2>&-; exec sleep 60"},
                              absl::Milliseconds(300), 1024);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->exit_status, -1);
}

// `yes` never stops on its own: only the bound ends it, well before the
// deadline.
TEST(RunSubprocess, OutputOverTheBoundIsCutAndTheChildKilled) {
  auto result = RunSubprocess({"/usr/bin/yes", "relayscope"}, kPlenty, 1000);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->truncated);
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->out.size(), 1000u);
  EXPECT_EQ(result->out.substr(0, 11), "relayscope\n");
  EXPECT_EQ(result->exit_status, -1);
}

TEST(RunSubprocess, StderrOverTheBoundIsCutToo) {
  auto result = RunSubprocess({"/bin/sh", "-c", "head -c 5000 /dev/zero >&2"}, kPlenty, 100);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->truncated);
  EXPECT_EQ(result->err.size(), 100u);
}

}  // namespace
}  // namespace relayscope
