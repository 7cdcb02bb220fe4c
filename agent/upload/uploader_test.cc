// The uploader against the real collector (CollectorServer), on loopback: delivery, resend,
// collector down (spool), recovery (spool delivered in order, exactly once), spool bound, bad
// token.
#include "agent/upload/uploader.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "collector/server/collector_server.h"
#include "common/fake_clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "upload-test-token";

v1::SessionReport Report(const std::string& session_id, int attempts) {
  v1::SessionReport r;
  r.mutable_agent()->set_agent_id("agent-1");
  r.set_session_id(session_id);
  r.mutable_verdict()->set_status(v1::VERDICT_STATUS_REACHABLE);
  r.add_proxies()->mutable_proxy()->set_host("127.0.0.9");
  const v1::Attempt ok =
      test::AttemptBuilder().Session(session_id).StartedAt(absl::Now() - absl::Seconds(2)).Build();
  for (v1::Attempt& a : test::Sequenced(ok, 1, attempts)) *r.add_attempts() = std::move(a);
  return r;
}

// The real collector (CollectorServer, SQLite in memory) on a loopback
// port, with its catalogue and token file in a temp dir.
class Collector {
 public:
  explicit Collector(int port = 0) {
    char pattern[] = "/tmp/relayscope-upload-collector-XXXXXX";
    dir_ = mkdtemp(pattern) != nullptr ? pattern : "";
    EXPECT_FALSE(dir_.empty());
    EXPECT_TRUE(
        WriteFileAtomically(dir_ + "/catalogue.textproto",
                            R"pb(regions {
                                   id: "emea"
                                   relays { id: "emea-1" addresses: "127.0.0.2" ports: 8200 }
                                 })pb")
            .ok());
    EXPECT_TRUE(
        WriteFileAtomically(dir_ + "/tokens", "t " + collector::Sha256Hex(kToken) + "\n").ok());
    collector::CollectorConfig config;
    config.listen = absl::StrCat("127.0.0.1:", port);
    config.store = "sqlite::memory:";
    config.catalogue = dir_ + "/catalogue.textproto";
    config.tokens = dir_ + "/tokens";
    config.metrics = "";
    config.agent_batches_per_second = 1000;
    auto server = collector::CollectorServer::Create(config);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  ~Collector() {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string target() const { return absl::StrCat("127.0.0.1:", port()); }
  int port() const { return server_ ? server_->port() : 0; }
  collector::Store& store() { return server_->store(); }

 private:
  std::string dir_;
  std::unique_ptr<collector::CollectorServer> server_;
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = std::filesystem::temp_directory_path() /
             absl::StrCat("relayscope-spool-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()->random_seed());
    std::filesystem::remove_all(spool_);
  }
  void TearDown() override { std::filesystem::remove_all(spool_); }
  UploadOptions Options(const std::string& target) {
    UploadOptions options;
    options.target = target;
    options.insecure = true;
    options.token = kToken;
    options.spool_dir = spool_;
    options.deadline = absl::Seconds(3);
    options.attempts_per_batch = 10;
    return options;
  }
  size_t SpoolFiles() {
    if (!std::filesystem::exists(spool_)) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(spool_),
                                             std::filesystem::directory_iterator()));
  }
  std::string spool_;
};

TEST(MakeBatches, SplitsAttemptsAndSendsMetadataOnce) {
  auto batches = MakeBatches(Report("s", 25), 10);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].session().attempts_size(), 10);
  EXPECT_EQ(batches[2].session().attempts_size(), 5);
  EXPECT_EQ(batches[0].session().proxies_size(), 1);
  EXPECT_EQ(batches[1].session().proxies_size(), 0);
  EXPECT_EQ(batches[2].session().session_id(), "s");
  EXPECT_EQ(MakeBatches(Report("s", 0), 10).size(), 1u);  // the verdict still goes
}

TEST_F(UploaderTest, DeliversASessionAndAResendCountsAsDuplicates) {
  Collector collector;
  UploadResult first = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(first.error, "");
  EXPECT_EQ(first.delivered_batches, 3u);
  EXPECT_EQ(first.accepted, 25u);
  UploadResult again = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(again.accepted, 0u);
  EXPECT_EQ(again.duplicates, 25u);
  EXPECT_EQ(*collector.store().CountAttempts(), 25u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(UploaderTest, CollectorDownSpoolsAndTheSpoolIsDeliveredInOrderExactlyOnce) {
  int port = 0;
  {
    Collector probe;  // find a free port, then free it: the collector is "down"
    port = probe.port();
  }
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", port));
  down.deadline = absl::Seconds(1);
  const absl::Time start = absl::Now();
  UploadResult spooled = Upload(Report("s-1", 25), down);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // the user is never held up long
  EXPECT_THAT(spooled.error, HasSubstr("unavailable"));
  EXPECT_EQ(spooled.spooled, 3u);
  EXPECT_EQ(SpoolFiles(), 3u);

  Collector collector(port);  // back
  UploadResult delivered = Upload(Report("s-2", 5), Options(collector.target()));
  EXPECT_EQ(delivered.error, "");
  EXPECT_EQ(delivered.delivered_from_spool, 3u);
  EXPECT_EQ(delivered.accepted, 30u);
  EXPECT_EQ(SpoolFiles(), 0u);
  EXPECT_EQ(*collector.store().CountAttempts(), 30u);
  auto session = collector.store().Session("agent-1", "s-1");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->attempts_size(), 25);
  EXPECT_EQ(session->verdict().status(), v1::VERDICT_STATUS_REACHABLE);
}

// A port where no collector listens (found by binding port 0, then freed).
int FreePort() {
  Collector probe;
  return probe.port();
}

TEST_F(UploaderTest, RetriesBackOffWithFullJitterThatDoublesEachTime) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Seconds(10);
  down.max_tries = 4;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_THAT(result.error, HasSubstr("unavailable"));
  EXPECT_EQ(result.spooled, 1u);
  // Four tries, three waits between them, each at most 200 ms doubled per try.
  const auto sleeps = clock.Sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  absl::Duration bound = absl::Milliseconds(200);
  for (const auto& [from, until] : sleeps) {
    EXPECT_GE(until - from, absl::ZeroDuration());
    EXPECT_LE(until - from, bound);
    bound *= 2;
  }
}

TEST_F(UploaderTest, NoWaitBetweenTriesReachesPastTheDeadline) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  const absl::Time start = clock.Now();
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 50;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_EQ(result.spooled, 1u);
  for (const auto& sleep : clock.Sleeps()) EXPECT_LT(sleep.second, start + down.deadline);
  EXPECT_LT(clock.Now(), start + down.deadline);
}

TEST_F(UploaderTest, SpoolStaysWithinItsBoundDroppingTheOldest) {
  UploadOptions down = Options("127.0.0.1:1");
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 1;
  down.spool_max_bytes = 3000;
  uint64_t dropped = 0;
  for (int i = 0; i < 6; ++i) dropped += Upload(Report(absl::StrCat("s-", i), 25), down).dropped;
  EXPECT_GT(dropped, 0u);
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(spool_)) total += entry.file_size();
  EXPECT_LE(total, 3000u + 2000u);  // within the bound but for the newest batch
}

TEST_F(UploaderTest, WrongTokenIsNotRetriedAndKeepsTheBatches) {
  Collector collector;
  UploadOptions options = Options(collector.target());
  options.token = "wrong";
  const absl::Time start = absl::Now();
  UploadResult result = Upload(Report("s-1", 5), options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_THAT(result.error, HasSubstr("(16)"));  // UNAUTHENTICATED
  EXPECT_EQ(result.spooled, 1u);
  EXPECT_EQ(*collector.store().CountAttempts(), 0u);
}

}  // namespace
}  // namespace relayscope::agent
