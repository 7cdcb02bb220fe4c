#include "collector/store/store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <numeric>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);  // a minute boundary

v1::Attempt MakeAttempt(uint64_t sequence, absl::Time start, const std::string& relay,
                        uint32_t port, v1::Outcome outcome, int connect_ms = 3) {
  v1::Attempt a;
  a.set_session_id("s-1");
  a.set_sequence(sequence);
  a.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  a.set_region(relay == "emea-1" ? "emea" : "apac");
  a.set_relay(relay);
  a.set_port(port);
  a.set_route_kind(v1::ROUTE_KIND_DIRECT);
  a.set_outcome(outcome);
  auto* connect = a.add_phases();
  connect->set_phase(v1::PHASE_TCP_CONNECT);
  connect->mutable_duration()->set_seconds(connect_ms / 1000);
  connect->mutable_duration()->set_nanos((connect_ms % 1000) * 1000000);
  connect->set_completed(true);
  return a;
}

IngestBatch Batch(const std::string& agent, const std::string& session,
                  std::vector<v1::Attempt> attempts) {
  IngestBatch batch;
  batch.agent.set_agent_id(agent);
  batch.agent.set_site("acme");
  batch.session_id = session;
  for (auto& a : attempts) a.set_session_id(session);
  batch.attempts = std::move(attempts);
  return batch;
}

uint64_t TotalRollupAttempts(Store& store) {
  auto rows = store.Rollups(kT0 - absl::Hours(1), kT0 + absl::Hours(1));
  EXPECT_TRUE(rows.ok()) << rows.status();
  uint64_t total = 0;
  for (const RollupRow& r : *rows) total += r.attempts;
  return total;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, ResentBatchCountsAsDuplicatesAndLeavesRollupsUnchanged) {
  auto batch = Batch("agent-1", "s-1",
                     {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK),
                      MakeAttempt(2, kT0, "emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE),
                      MakeAttempt(3, kT0, "apac-1", 8200, v1::OUTCOME_CONNECT_TIMEOUT)});
  auto first = store_->Commit(batch);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->accepted, 3u);
  EXPECT_EQ(first->duplicates, 0u);
  auto again = store_->Commit(batch);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicates, 3u);
  EXPECT_EQ(first->is_new, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(again->is_new, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(*store_->CountAttempts(), 3u);
  EXPECT_EQ(TotalRollupAttempts(*store_), 3u);
  // The same sequence numbers from another agent or session are new.
  EXPECT_EQ(store_->Commit(Batch("agent-2", "s-1", {MakeAttempt(1, kT0, "emea-1", 8200,
                                                                v1::OUTCOME_OK)}))
                ->accepted,
            1u);
  EXPECT_EQ(store_->Commit(Batch("agent-1", "s-2", {MakeAttempt(1, kT0, "emea-1", 8200,
                                                                v1::OUTCOME_OK)}))
                ->accepted,
            1u);
}

TEST_F(StoreTest, ConcurrentOverlappingCommitsCountEachAttemptExactlyOnce) {
  // 8 writers, each sending sequences [t*50, t*50+100): every sequence but
  // the first and last 50 is sent twice.
  std::vector<std::thread> writers;
  std::atomic<uint64_t> accepted{0}, duplicates{0};
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int chunk = 0; chunk < 10; ++chunk) {
        std::vector<v1::Attempt> attempts;
        for (int i = 0; i < 10; ++i) {
          attempts.push_back(MakeAttempt(static_cast<uint64_t>(t * 50 + chunk * 10 + i + 1), kT0,
                                         "emea-1", 8200, v1::OUTCOME_OK));
        }
        auto r = store_->Commit(Batch("agent-1", "s-1", attempts));
        ASSERT_TRUE(r.ok()) << r.status();
        accepted += r->accepted;
        duplicates += r->duplicates;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(accepted.load(), 450u);  // sequences 1..450
  EXPECT_EQ(duplicates.load(), 800u - 450u);
  EXPECT_EQ(*store_->CountAttempts(), 450u);
  EXPECT_EQ(TotalRollupAttempts(*store_), 450u);
}

TEST_F(StoreTest, RollupsAreExactPerMinuteAndKeyWithLatencyBuckets) {
  ASSERT_TRUE(store_
                  ->Commit(Batch("agent-1", "s-1",
                                 {MakeAttempt(1, kT0 + absl::Seconds(5), "emea-1", 8200,
                                              v1::OUTCOME_OK, 3),
                                  MakeAttempt(2, kT0 + absl::Seconds(59), "emea-1", 8200,
                                              v1::OUTCOME_OK, 40),
                                  MakeAttempt(3, kT0 + absl::Seconds(60), "emea-1", 8200,
                                              v1::OUTCOME_OK, 20000),
                                  MakeAttempt(4, kT0 + absl::Seconds(61), "emea-1", 80,
                                              v1::OUTCOME_CONNECTION_REFUSED)}))
                  .ok());
  auto rows = store_->Rollups(kT0, kT0 + absl::Minutes(2));
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  const RollupRow& first = (*rows)[0];
  EXPECT_EQ(first.minute, kT0);
  EXPECT_EQ(first.port, 8200u);
  EXPECT_EQ(first.attempts, 2u);
  EXPECT_EQ(first.connect_buckets[2], 1u);  // 3 ms: <= 5 ms
  EXPECT_EQ(first.connect_buckets[5], 1u);  // 40 ms: <= 50 ms
  EXPECT_EQ(std::accumulate(first.handshake_buckets.begin(), first.handshake_buckets.end(), 0u),
            0u);  // no handshake phase recorded
  // Within a minute, rows come in key order: port 80 before 8200.
  EXPECT_EQ((*rows)[1].minute, kT0 + absl::Minutes(1));
  EXPECT_EQ((*rows)[1].port, 80u);
  EXPECT_EQ((*rows)[1].outcome, v1::OUTCOME_CONNECTION_REFUSED);
  EXPECT_EQ((*rows)[2].port, 8200u);
  EXPECT_EQ((*rows)[2].connect_buckets[kLatencyBuckets - 1], 1u);  // 20 s: +Inf
  // The range is half-open.
  EXPECT_EQ(store_->Rollups(kT0, kT0 + absl::Minutes(1))->size(), 1u);
}

TEST_F(StoreTest, SessionHasAttemptsInSequenceOrderAndTheLatestMetadata) {
  IngestBatch late = Batch("agent-1", "s-1", {MakeAttempt(2, kT0, "emea-1", 80, v1::OUTCOME_OK)});
  IngestBatch early = Batch("agent-1", "s-1", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)});
  early.session.mutable_verdict()->set_summary("first");
  late.session.mutable_verdict()->set_summary("final");
  ASSERT_TRUE(store_->Commit(early).ok());
  ASSERT_TRUE(store_->Commit(late).ok());
  auto session = store_->Session("agent-1", "s-1");
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(session->attempts_size(), 2);
  EXPECT_EQ(session->attempts(0).sequence(), 1u);
  EXPECT_EQ(session->attempts(1).sequence(), 2u);
  EXPECT_EQ(session->verdict().summary(), "final");
  // A later batch of attempts only (no verdict, no proxies) keeps it.
  ASSERT_TRUE(store_->Commit(Batch("agent-1", "s-1", {MakeAttempt(3, kT0, "emea-1", 443,
                                                                  v1::OUTCOME_OK)}))
                  .ok());
  EXPECT_EQ(store_->Session("agent-1", "s-1")->verdict().summary(), "final");
  EXPECT_EQ(session->agent().site(), "acme");
  EXPECT_EQ(store_->Session("agent-1", "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, PruneRemovesRawAttemptsButKeepsRollups) {
  ASSERT_TRUE(store_
                  ->Commit(Batch("agent-1", "s-1",
                                 {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK),
                                  MakeAttempt(2, kT0 + absl::Minutes(10), "emea-1", 8200,
                                              v1::OUTCOME_OK)}))
                  .ok());
  auto pruned = store_->PruneAttemptsBefore(kT0 + absl::Minutes(5));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1u);
  EXPECT_EQ(*store_->CountAttempts(), 1u);
  EXPECT_EQ(TotalRollupAttempts(*store_), 2u);
}

TEST(StoreFile, SurvivesReopenAndRefusesASchemaFromTheFuture) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("relayscope-store-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/collector.db";
  {
    auto store = OpenStore("sqlite://" + path);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(Batch("a", "s", {MakeAttempt(1, kT0, "emea-1", 8200,
                                                              v1::OUTCOME_OK)}))
                    .ok());
  }
  {
    auto store = OpenStore("sqlite://" + path);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->CountAttempts(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto future = OpenStore("sqlite://" + path);
  EXPECT_EQ(future.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(future.status().message()), HasSubstr("schema version 99"));
  std::filesystem::remove_all(dir);
}

TEST(StoreUrl, OnlyKnownStoresOpen) {
  EXPECT_EQ(OpenStore("mysql://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("sqlite://relative.db").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStore("postgresql://db/relayscope").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(OpenStore("sqlite:///nonexistent-dir/x.db").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace relayscope::collector
