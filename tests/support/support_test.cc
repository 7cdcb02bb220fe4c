// The shared test helpers do what the tests rely on: the builders make
// attempts the way the tests describe them, the fixtures are read byte for
// byte, and WaitUntil stops as soon as its predicate holds.
#include <filesystem>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"
#include "tests/support/testdata.h"
#include "tests/support/wait_until.h"

namespace relayscope::test {
namespace {

TEST(AttemptBuilder, DefaultsToAnAttemptTheValidatorAccepts) {
  const absl::Time before = absl::Now();
  const v1::Attempt a = AttemptBuilder().Build();
  EXPECT_EQ(a.session_id(), "s-1");
  EXPECT_EQ(a.sequence(), 1u);
  EXPECT_EQ(a.region(), "emea");
  EXPECT_EQ(a.relay(), "emea-1");
  EXPECT_EQ(a.port(), 8200u);
  EXPECT_EQ(a.route_kind(), v1::ROUTE_KIND_DIRECT);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_OK);
  EXPECT_LE(a.start_time().seconds(), absl::ToUnixSeconds(before));
  EXPECT_EQ(a.start_time().nanos(), 0);
  EXPECT_EQ(a.phases_size(), 0);
}

TEST(AttemptBuilder, SetsWhatTheTestSays) {
  const absl::Time t0 = absl::FromUnixSeconds(1764000000);
  const v1::Attempt a = AttemptBuilder()
                            .Session("s-9")
                            .Sequence(7)
                            .StartedAt(t0 + absl::Milliseconds(900))
                            .To("apac", "apac-1", 443)
                            .Address("127.0.0.2")
                            .Route(v1::ROUTE_KIND_HTTP_CONNECT)
                            .Outcome(v1::OUTCOME_PROXY_AUTH_REQUIRED)
                            .ProxyStatus(407)
                            .PageTitle("Request Error")
                            .Detail("why")
                            .Phase(v1::PHASE_TCP_CONNECT, absl::Milliseconds(1003), true)
                            .Build();
  EXPECT_EQ(a.session_id(), "s-9");
  EXPECT_EQ(a.sequence(), 7u);
  EXPECT_EQ(a.start_time().seconds(), 1764000000);  // whole seconds
  EXPECT_EQ(a.start_time().nanos(), 0);
  EXPECT_EQ(a.region(), "apac");
  EXPECT_EQ(a.relay(), "apac-1");
  EXPECT_EQ(a.port(), 443u);
  EXPECT_EQ(a.address(), "127.0.0.2");
  EXPECT_EQ(a.route_kind(), v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(a.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(a.proxy_status(), 407u);
  EXPECT_EQ(a.interference().page_title(), "Request Error");
  EXPECT_EQ(a.detail(), "why");
  ASSERT_EQ(a.phases_size(), 1);
  EXPECT_EQ(a.phases(0).phase(), v1::PHASE_TCP_CONNECT);
  EXPECT_EQ(a.phases(0).duration().seconds(), 1);
  EXPECT_EQ(a.phases(0).duration().nanos(), 3000000);
  EXPECT_TRUE(a.phases(0).completed());
}

TEST(UploadBatch, NumbersCopiesAndStampsTheSessionOnEveryAttempt) {
  const v1::Attempt refused = AttemptBuilder().Outcome(v1::OUTCOME_CONNECTION_REFUSED).Build();
  const v1::UploadRequest r = UploadBatch(3, "agent-1", "session-2", Sequenced(refused, 21, 4));
  EXPECT_EQ(r.batch_id(), 3u);
  EXPECT_EQ(r.session().agent().agent_id(), "agent-1");
  EXPECT_EQ(r.session().session_id(), "session-2");
  ASSERT_EQ(r.session().attempts_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.session().attempts(i).sequence(), 21u + i);
    EXPECT_EQ(r.session().attempts(i).session_id(), "session-2");
    EXPECT_EQ(r.session().attempts(i).outcome(), v1::OUTCOME_CONNECTION_REFUSED);
  }
  EXPECT_TRUE(Sequenced(refused, 1, 0).empty());
}

TEST(Testdata, ReadsAFixtureByteForByte) {
  const std::string reg = ReadTestdata("agent/discovery/testdata/per-scheme.reg");
  EXPECT_THAT(reg, ::testing::StartsWith("Windows Registry Editor Version 5.00\r\n\r\n"));
  EXPECT_TRUE(std::filesystem::exists(TestdataPath("agent/discovery/testdata/per-scheme.reg")));
}

TEST(Testdata, AMissingFixtureFailsTheTestWithItsPath) {
  EXPECT_NONFATAL_FAILURE(EXPECT_EQ(ReadTestdata("no/such/testdata/file"), ""),
                          "no/such/testdata/file");
}

TEST(WaitUntil, ReturnsAsSoonAsThePredicateHolds) {
  int calls = 0;
  EXPECT_TRUE(WaitUntil([&] { return ++calls == 3; }, absl::Hours(1), absl::ZeroDuration()));
  EXPECT_EQ(calls, 3);
}

TEST(WaitUntil, GivesUpAtTheDeadlineAfterAskingAtLeastOnce) {
  int calls = 0;
  EXPECT_FALSE(WaitUntil([&] { return ++calls < 0; }, absl::ZeroDuration()));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace relayscope::test
