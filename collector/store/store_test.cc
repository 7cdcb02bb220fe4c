#include "collector/store/store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "collector/store/store_internal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rig/postgres.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);  // a minute boundary

v1::Attempt MakeAttempt(uint64_t sequence, absl::Time start, const std::string& relay,
                        uint32_t port, v1::Outcome outcome, int connect_ms = 3) {
  return test::AttemptBuilder()
      .Sequence(sequence)
      .StartedAt(start)
      .To(relay == "emea-1" ? "emea" : "apac", relay, port)
      .Outcome(outcome)
      .Phase(v1::PHASE_TCP_CONNECT, absl::Milliseconds(connect_ms), /*completed=*/true)
      .Build();
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

// One PostgreSQL server per test process (gtest_discover_tests runs each
// test in its own process), a fresh database per test.
class PostgresServer {
 public:
  static PostgresServer& Get() {
    if (instance_ == nullptr) instance_ = new PostgresServer();
    return *instance_;
  }
  // Stops the server if one was started.
  static void Shutdown() {
    delete instance_;
    instance_ = nullptr;
  }
  // Skips (with the reason) when PostgreSQL is not installed.
  absl::StatusOr<std::string> NewDatabase() {
    if (!server_.ok()) return server_.status();
    return (*server_)->CreateDatabase(absl::StrCat("store_test_", databases_++));
  }
  rig::Postgres* server() { return server_.ok() ? server_->get() : nullptr; }
  ~PostgresServer() { std::filesystem::remove_all(dir_); }

 private:
  PostgresServer()
      : dir_(std::filesystem::temp_directory_path() /
             ("relayscope-pg-" + std::to_string(getpid()))),
        server_(Start(dir_)) {}
  static absl::StatusOr<std::unique_ptr<rig::Postgres>> Start(const std::string& dir) {
    std::filesystem::create_directories(dir);
    return rig::Postgres::Start(dir);
  }
  static inline PostgresServer* instance_ = nullptr;
  std::string dir_;
  absl::StatusOr<std::unique_ptr<rig::Postgres>> server_;
  int databases_ = 0;
};

// Stops the shared server at exit, by its PID, however the test ends.
class StopPostgresAtExit : public ::testing::Environment {
 public:
  void TearDown() override { PostgresServer::Shutdown(); }
};
::testing::Environment* const kStopPostgres =
    ::testing::AddGlobalTestEnvironment(new StopPostgresAtExit);

// The same suite against every backend: "sqlite" (in memory) and
// "postgresql" (a real server started by the test).
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url = "sqlite::memory:";
    if (GetParam() == "postgresql") {
      auto database = PostgresServer::Get().NewDatabase();
      if (absl::IsNotFound(database.status())) GTEST_SKIP() << database.status();
      ASSERT_TRUE(database.ok()) << database.status();
      url = *database;
    }
    url_ = url;
    auto store = OpenStore(url);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::string url_;
  std::unique_ptr<Store> store_;
};

std::string BackendName(const ::testing::TestParamInfo<std::string>& param) { return param.param; }
INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         BackendName);

// What only a database server has: other clients, a schema of its own.
class PostgresStoreTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backends, PostgresStoreTest, ::testing::Values("postgresql"), BackendName);

TEST_P(StoreTest, ResentBatchCountsAsDuplicatesAndLeavesRollupsUnchanged) {
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
  EXPECT_EQ(
      store_->Commit(Batch("agent-2", "s-1", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)}))
          ->accepted,
      1u);
  EXPECT_EQ(
      store_->Commit(Batch("agent-1", "s-2", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)}))
          ->accepted,
      1u);
}

TEST_P(StoreTest, ConcurrentOverlappingCommitsCountEachAttemptExactlyOnce) {
  // 8 writers, each sending sequences [t*50, t*50+100): every sequence but
  // the first and last 50 is sent twice.
  std::vector<std::thread> writers;
  writers.reserve(8);
  std::atomic<uint64_t> accepted{0}, duplicates{0};
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int chunk = 0; chunk < 10; ++chunk) {
        std::vector<v1::Attempt> attempts;
        attempts.reserve(10);
        for (int i = 0; i < 10; ++i) {
          attempts.push_back(MakeAttempt(static_cast<uint64_t>(t * 50 + chunk * 10 + i) + 1, kT0,
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

TEST_P(StoreTest, RollupsAreExactPerMinuteAndKeyWithLatencyBuckets) {
  ASSERT_TRUE(
      store_
          ->Commit(
              Batch("agent-1", "s-1",
                    {MakeAttempt(1, kT0 + absl::Seconds(5), "emea-1", 8200, v1::OUTCOME_OK, 3),
                     MakeAttempt(2, kT0 + absl::Seconds(59), "emea-1", 8200, v1::OUTCOME_OK, 40),
                     MakeAttempt(3, kT0 + absl::Seconds(60), "emea-1", 8200, v1::OUTCOME_OK, 20000),
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
  EXPECT_EQ(
      std::accumulate(first.handshake_buckets.begin(), first.handshake_buckets.end(), uint64_t{0}),
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

TEST_P(StoreTest, SessionHasAttemptsInSequenceOrderAndTheLatestMetadata) {
  IngestBatch late = Batch("agent-1", "s-1", {MakeAttempt(2, kT0, "emea-1", 80, v1::OUTCOME_OK)});
  IngestBatch early =
      Batch("agent-1", "s-1", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)});
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
  ASSERT_TRUE(
      store_->Commit(Batch("agent-1", "s-1", {MakeAttempt(3, kT0, "emea-1", 443, v1::OUTCOME_OK)}))
          .ok());
  EXPECT_EQ(store_->Session("agent-1", "s-1")->verdict().summary(), "final");
  EXPECT_EQ(session->agent().site(), "acme");
  EXPECT_EQ(store_->Session("agent-1", "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, PruneRemovesRawAttemptsButKeepsRollups) {
  ASSERT_TRUE(
      store_
          ->Commit(Batch("agent-1", "s-1",
                         {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK),
                          MakeAttempt(2, kT0 + absl::Minutes(10), "emea-1", 8200, v1::OUTCOME_OK)}))
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
    ASSERT_TRUE((*store)
                    ->Commit(Batch("a", "s", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)}))
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
  EXPECT_THAT(std::string(OpenStore("ftp://user:hunter2@x/").status().message()),
              ::testing::Not(HasSubstr("hunter2")));
  EXPECT_EQ(OpenStore("sqlite:///nonexistent-dir/x.db").status().code(),
            absl::StatusCode::kUnavailable);
}

// Failed attempts of two sites, agents and sessions, for the aggregates.
void CommitFleet(Store& store) {
  IngestBatch a = Batch(
      "agent-1", "s-1",
      {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK),
       MakeAttempt(2, kT0 + absl::Seconds(10), "emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE),
       MakeAttempt(3, kT0 + absl::Seconds(20), "apac-1", 8200, v1::OUTCOME_CONNECT_TIMEOUT)});
  a.attempts[1].set_detail("HTTP/1.0 400 Bad Request");
  a.session.mutable_verdict()->set_summary("port 80 intercepted");
  IngestBatch b = Batch(
      "agent-2", "s-9",
      {MakeAttempt(1, kT0 + absl::Minutes(1), "emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE),
       MakeAttempt(2, kT0 + absl::Minutes(2), "emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE)});
  b.agent.set_site("Zeta");  // upper case sorts before lower case, bytewise
  b.attempts[1].set_detail("the latest");
  ASSERT_TRUE(store.Commit(a).ok());
  ASSERT_TRUE(store.Commit(b).ok());
}

TEST_P(StoreTest, FailureGroupsCountSitesAgentsAndKeepTheLatestEvidence) {
  CommitFleet(*store_);
  AttemptFilter all;
  auto groups = store_->FailureGroups(all);
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->size(), 2u);
  const FailureGroup& top = (*groups)[0];
  EXPECT_EQ(top.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(top.port, 80u);
  EXPECT_EQ(top.count, 3u);
  EXPECT_EQ(top.sites, 2u);
  EXPECT_EQ(top.agents, 2u);
  EXPECT_EQ(top.first_seen, kT0 + absl::Seconds(10));
  EXPECT_EQ(top.last_seen, kT0 + absl::Minutes(2));
  EXPECT_EQ(top.example.detail(), "the latest");
  EXPECT_EQ(top.example_agent_id, "agent-2");
  EXPECT_EQ((*groups)[1].outcome, v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ((*groups)[1].relay, "apac-1");
  // Filters: a site, a port, a time range.
  AttemptFilter acme;
  acme.site = "acme";
  EXPECT_EQ((*store_->FailureGroups(acme))[0].count, 1u);
  AttemptFilter port;
  port.ports = {8200};
  port.regions = {"apac"};
  ASSERT_EQ(store_->FailureGroups(port)->size(), 1u);
  AttemptFilter early;
  early.end = kT0 + absl::Minutes(1);
  EXPECT_EQ((*store_->FailureGroups(early))[0].count, 1u);
}

TEST_P(StoreTest, SitesAndActivityAreExact) {
  CommitFleet(*store_);
  auto sites = store_->Sites(AttemptFilter());
  ASSERT_TRUE(sites.ok()) << sites.status();
  ASSERT_EQ(sites->size(), 2u);
  EXPECT_EQ((*sites)[0].site, "Zeta");
  EXPECT_EQ((*sites)[0].attempts, 2u);
  EXPECT_EQ((*sites)[0].failures, 2u);
  EXPECT_EQ((*sites)[0].top_failure, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ((*sites)[1].site, "acme");
  EXPECT_EQ((*sites)[1].agents, 1u);
  EXPECT_EQ((*sites)[1].sessions, 1u);
  EXPECT_EQ((*sites)[1].attempts, 3u);
  EXPECT_EQ((*sites)[1].failures, 2u);
  EXPECT_EQ((*sites)[1].last_seen, kT0 + absl::Seconds(20));
  // A tie (one interference, one timeout): the lower outcome value wins.
  EXPECT_EQ((*sites)[1].top_failure,
            std::min(v1::OUTCOME_PROTOCOL_INTERFERENCE, v1::OUTCOME_CONNECT_TIMEOUT));

  auto activity = store_->Activity(kT0, kT0 + absl::Minutes(3), absl::Minutes(1));
  ASSERT_TRUE(activity.ok()) << activity.status();
  ASSERT_EQ(activity->size(), 3u);
  EXPECT_EQ((*activity)[0].time, kT0);
  EXPECT_EQ((*activity)[0].attempts, 3u);
  EXPECT_EQ((*activity)[0].agents, 1u);
  EXPECT_EQ((*activity)[1].time, kT0 + absl::Minutes(1));
  EXPECT_EQ((*activity)[1].sites, 1u);
  EXPECT_EQ((*activity)[2].sessions, 1u);
  EXPECT_EQ(store_->Activity(kT0, kT0, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, SessionsListNewestFirstWithCountsAndPages) {
  CommitFleet(*store_);
  const absl::Time now = absl::Now();
  auto sessions = store_->Sessions(now - absl::Hours(1), now + absl::Hours(1), "", 0, 10);
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  ASSERT_EQ(sessions->size(), 2u);
  EXPECT_EQ((*sessions)[0].agent_id, "agent-2");  // committed last
  EXPECT_EQ((*sessions)[0].attempts, 2u);
  EXPECT_EQ((*sessions)[1].session_id, "s-1");
  EXPECT_EQ((*sessions)[1].failures, 2u);
  EXPECT_EQ((*sessions)[1].report.verdict().summary(), "port 80 intercepted");
  EXPECT_EQ((*sessions)[1].report.agent().site(), "acme");
  auto second_page = store_->Sessions(now - absl::Hours(1), now + absl::Hours(1), "", 1, 10);
  ASSERT_EQ(second_page->size(), 1u);
  EXPECT_EQ((*second_page)[0].agent_id, "agent-1");
  auto zeta = store_->Sessions(now - absl::Hours(1), now + absl::Hours(1), "Zeta", 0, 10);
  ASSERT_EQ(zeta->size(), 1u);
  EXPECT_TRUE(store_->Sessions(now + absl::Hours(1), now + absl::Hours(2), "", 0, 10)->empty());
}

// Failed and OK attempts every 7 minutes and 13 seconds over three days,
// from 5 agents at 3 sites, in batches committed out of time order: every
// window below starts and ends inside a minute, a 10-minute interval, an
// hour or a day, so the store mixes rollup levels and the attempts of the
// ragged ends. Each answer must be what the attempts themselves give.
struct Spread {
  std::string agent, site, relay;
  uint32_t port;
  absl::Time start;
  v1::Outcome outcome;
};
std::vector<Spread> CommitSpread(Store& store, absl::Time day) {
  const v1::Outcome outcomes[] = {v1::OUTCOME_OK, v1::OUTCOME_CONNECT_TIMEOUT,
                                  v1::OUTCOME_PROTOCOL_INTERFERENCE, v1::OUTCOME_OK};
  std::vector<Spread> all;
  int i = 0;
  for (absl::Time t = day; t < day + absl::Hours(72); t += absl::Seconds(433), ++i) {
    all.push_back({absl::StrCat("agent-", i % 5), absl::StrCat("site-", i % 5 % 3),
                   i % 2 ? "emea-1" : "apac-1", i % 7 < 4 ? 443u : 80u, t, outcomes[i % 4]});
  }
  // Batches of one agent's attempts, committed newest first.
  std::map<std::string, std::vector<const Spread*>> by_agent;
  for (const Spread& s : all) by_agent[s.agent].push_back(&s);
  int session = 0;
  for (auto& [agent, mine] : by_agent) {
    for (size_t first = 0; first < mine.size(); first += 40) {
      std::vector<v1::Attempt> attempts;
      for (size_t j = first; j < std::min(mine.size(), first + 40); ++j) {
        const Spread& s = *mine[j];
        attempts.push_back(
            MakeAttempt(j - first + 1, s.start, s.relay, s.port, s.outcome, 1 + int(j % 30)));
      }
      IngestBatch batch = Batch(agent, absl::StrCat("s-", session++), attempts);
      batch.agent.set_site(mine[first]->site);
      EXPECT_TRUE(store.Commit(std::move(batch)).ok());
    }
  }
  return all;
}

void ExpectFailureGroupsOf(Store& store, const std::vector<Spread>& all, const AttemptFilter& f) {
  struct Expected {
    uint64_t count = 0;
    std::set<std::string> sites, agents;
    absl::Time first = absl::InfiniteFuture(), last = absl::InfinitePast();
  };
  std::map<std::tuple<int, std::string, uint32_t>, Expected> expected;
  for (const Spread& s : all) {
    if (s.outcome == v1::OUTCOME_OK || s.start < f.start || s.start >= f.end) continue;
    if (!f.ports.empty() && f.ports[0] != s.port) continue;
    if (!f.site.empty() && f.site != s.site) continue;
    Expected& e = expected[{static_cast<int>(s.outcome), s.relay, s.port}];
    ++e.count;
    e.sites.insert(s.site);
    e.agents.insert(s.agent);
    e.first = std::min(e.first, s.start);
    e.last = std::max(e.last, s.start);
  }
  auto groups = store.FailureGroups(f);
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->size(), expected.size()) << f.start << " " << f.end;
  for (size_t i = 0; i < groups->size(); ++i) {
    const FailureGroup& g = (*groups)[i];
    const Expected& e = expected[{static_cast<int>(g.outcome), g.relay, g.port}];
    EXPECT_EQ(g.count, e.count) << f.start << " " << f.end << " " << g.relay << ":" << g.port;
    EXPECT_EQ(g.sites, e.sites.size());
    EXPECT_EQ(g.agents, e.agents.size());
    EXPECT_EQ(g.first_seen, e.first);
    EXPECT_EQ(g.last_seen, e.last);
    EXPECT_EQ(absl::FromUnixSeconds(g.example.start_time().seconds()), e.last);
    EXPECT_FALSE(g.example_agent_id.empty());
    if (i > 0) {
      EXPECT_GE((*groups)[i - 1].count, g.count);  // most frequent first
    }
  }
  // A page: the same groups in the same order, its own filled.
  auto page = store.FailureGroupsPage(f, 1, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), groups->size());
  for (size_t i = 1; i < std::min<size_t>(3, page->size()); ++i) {
    const FailureGroup& g = (*page)[i];
    EXPECT_EQ(g.count, (*groups)[i].count);
    EXPECT_EQ(g.sites, (*groups)[i].sites) << f.start << " " << f.end;
    EXPECT_EQ(g.agents, (*groups)[i].agents);
    EXPECT_EQ(g.example_agent_id, (*groups)[i].example_agent_id);
  }
}

TEST_P(StoreTest, FailureGroupsAndReachabilityAreExactAcrossRaggedEdges) {
  const absl::Time day = absl::FromUnixSeconds(1764028800);  // a UTC midnight
  const std::vector<Spread> all = CommitSpread(*store_, day);
  struct Window {
    absl::Time start, end;
  };
  const Window windows[] = {
      {day + absl::Seconds(17), day + absl::Hours(72)},
      {day + absl::Minutes(13) + absl::Seconds(5), day + absl::Minutes(58)},
      {day + absl::Minutes(43), day + absl::Hours(25) + absl::Minutes(17) + absl::Seconds(1)},
      {day + absl::Hours(5) + absl::Minutes(50), day + absl::Hours(53) + absl::Minutes(10)},
      {day + absl::Hours(24), day + absl::Hours(48)},
      {day - absl::Hours(1), day + absl::Minutes(10)},
  };
  for (const Window& w : windows) {
    AttemptFilter f;
    f.start = w.start;
    f.end = w.end;
    ExpectFailureGroupsOf(*store_, all, f);
    f.ports = {80};
    ExpectFailureGroupsOf(*store_, all, f);
    f.ports.clear();
    f.site = "site-1";
    ExpectFailureGroupsOf(*store_, all, f);
  }
  // Reachability over whole minutes, in one step or in steps.
  for (const auto& [from, to, step] :
       {std::tuple{day + absl::Minutes(13), day + absl::Hours(50) + absl::Minutes(29),
                   absl::Hours(51)},
        std::tuple{day + absl::Minutes(40), day + absl::Hours(30), absl::Hours(6)},
        std::tuple{day, day + absl::Hours(72), absl::Hours(24)},
        std::tuple{day + absl::Hours(1), day + absl::Hours(4), absl::Minutes(10)}}) {
    auto rows = store_->ReachabilityRollups(from, to, step);
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::map<std::tuple<int64_t, std::string, uint32_t>, std::pair<uint64_t, uint64_t>> got, want;
    for (const ReachabilityRow& r : *rows) {
      const int64_t index = (r.minute - from) / step;
      ASSERT_GE(r.minute, from);
      ASSERT_LT(r.minute, to);
      // A row never straddles two steps.
      ASSERT_LT(r.minute - from, (index + 1) * step);
      auto& [attempts, ok] = got[{index, r.relay, r.port}];
      attempts += r.attempts;
      ok += r.ok;
      uint64_t histogram = 0;
      for (uint64_t n : r.connect_buckets) histogram += n;
      EXPECT_EQ(histogram, r.attempts);  // every attempt has a connect time
    }
    for (const Spread& s : all) {
      if (s.start < from || s.start >= to) continue;
      auto& [attempts, ok] = want[{(s.start - from) / step, s.relay, s.port}];
      ++attempts;
      ok += s.outcome == v1::OUTCOME_OK;
    }
    EXPECT_EQ(got, want) << from << " " << to << " " << step;
  }
  // After a prune in the middle of an interval, the attempts left.
  const absl::Time cutoff = day + absl::Hours(30) + absl::Minutes(7) + absl::Seconds(3);
  ASSERT_TRUE(store_->PruneAttemptsBefore(cutoff).ok());
  std::vector<Spread> left;
  for (const Spread& s : all) {
    if (s.start >= cutoff) left.push_back(s);
  }
  AttemptFilter everything;
  ExpectFailureGroupsOf(*store_, left, everything);
  AttemptFilter across;
  across.start = day + absl::Hours(29);
  across.end = day + absl::Hours(40) + absl::Seconds(1);
  ExpectFailureGroupsOf(*store_, left, across);
}

TEST_P(PostgresStoreTest, TwoStoresOnOneDatabaseCountEachAttemptOnce) {
  // Two collectors on one database: the same batches retried against both.
  auto other = OpenStore(url_);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<std::thread> writers;
  std::atomic<uint64_t> accepted{0};
  for (int t = 0; t < 6; ++t) {
    Store* store = t % 2 == 0 ? store_.get() : other->get();
    writers.emplace_back([&, store, t] {
      for (int chunk = 0; chunk < 10; ++chunk) {
        std::vector<v1::Attempt> attempts;
        for (int i = 0; i < 20; ++i) {
          // Writers t and t+1 send the same sequences, in opposite orders.
          const int n = t % 2 == 0 ? i : 19 - i;
          attempts.push_back(MakeAttempt(static_cast<uint64_t>(t / 2 * 200 + chunk * 20 + n) + 1,
                                         kT0, n % 2 ? "emea-1" : "apac-1", 8200 + n % 3,
                                         v1::OUTCOME_OK));
        }
        auto r = store->Commit(Batch("agent-1", "s-1", attempts));
        ASSERT_TRUE(r.ok()) << r.status();
        accepted += r->accepted;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(accepted.load(), 600u);
  EXPECT_EQ(*store_->CountAttempts(), 600u);
  EXPECT_EQ(*(*other)->CountAttempts(), 600u);
  EXPECT_EQ(TotalRollupAttempts(*store_), 600u);
}

TEST_P(PostgresStoreTest, SurvivesReopenAndRefusesASchemaFromTheFuture) {
  ASSERT_TRUE(
      store_->Commit(Batch("a", "s", {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK)})).ok());
  store_.reset();
  auto reopened = OpenStore(url_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->CountAttempts(), 1u);
  reopened->reset();
  const std::string database = url_.substr(url_.rfind('/') + 1);
  ASSERT_TRUE(PostgresServer::Get()
                  .server()
                  ->Execute(database, "UPDATE relayscope_schema SET version = 99")
                  .ok());
  auto future = OpenStore(url_);
  EXPECT_EQ(future.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(future.status().message()), HasSubstr("schema version 99"));
}

TEST_P(PostgresStoreTest, AnUnreachableServerIsUnavailableAndThePasswordStaysOut) {
  // Port 1 on loopback: nothing listens there.
  auto store = OpenStore("postgresql://relayscope:hunter2@127.0.0.1:1/x");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(std::string(store.status().message()), ::testing::Not(HasSubstr("hunter2")));
}

TEST_P(PostgresStoreTest, PruneDropsWholeDailyPartitionsAndCountsWhatWentWithThem) {
  const absl::Time today = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 86400 * 86400);
  ASSERT_TRUE(
      store_
          ->Commit(Batch("agent-1", "s-1",
                         {MakeAttempt(1, today - absl::Hours(72), "emea-1", 8200, v1::OUTCOME_OK),
                          MakeAttempt(2, today - absl::Hours(70), "emea-1", 8200, v1::OUTCOME_OK),
                          MakeAttempt(3, today - absl::Hours(47), "emea-1", 8200, v1::OUTCOME_OK),
                          MakeAttempt(4, today + absl::Minutes(1), "emea-1", 8200, v1::OUTCOME_OK),
                          MakeAttempt(5, kT0, "emea-1", 8200, v1::OUTCOME_OK)}))
          .ok());
  const std::string database = url_.substr(url_.rfind('/') + 1);
  const char kPartitions[] =
      "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'attempts'::regclass";
  // Three days on demand, and the default partition (kT0 is a year back).
  EXPECT_EQ(*PostgresServer::Get().server()->QueryValue(database, kPartitions), "4");
  // Day -3 goes whole; of day -2 only the attempt before the cutoff; and
  // kT0's from the default partition.
  auto pruned = store_->PruneAttemptsBefore(today - absl::Hours(47) + absl::Seconds(1));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 4u);
  EXPECT_EQ(*PostgresServer::Get().server()->QueryValue(database, kPartitions), "3");
  EXPECT_EQ(*store_->CountAttempts(), 1u);
  // A resend of pruned attempts stays a duplicate: the session row knows them.
  auto resent = store_->Commit(Batch(
      "agent-1", "s-1", {MakeAttempt(1, today - absl::Hours(72), "emea-1", 8200, v1::OUTCOME_OK)}));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->duplicates, 1u);
  // The dropped day's partition comes back on demand for a new attempt.
  ASSERT_TRUE(
      store_
          ->Commit(Batch("agent-1", "s-2",
                         {MakeAttempt(1, today - absl::Hours(71), "emea-1", 8200, v1::OUTCOME_OK)}))
          .ok());
  EXPECT_EQ(*store_->CountAttempts(), 2u);
}

TEST_P(PostgresStoreTest, MigratesTheKeyedSchemaKeepingItsData) {
  // Schema 2 as the previous collector left it, with one session's rows.
  auto url = PostgresServer::Get().server()->CreateDatabase("migrate_from_2");
  ASSERT_TRUE(url.ok()) << url.status();
  std::string buckets;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) {
      absl::StrAppend(&buckets, ", ", prefix, i, " bigint NOT NULL DEFAULT 0");
    }
  }
  std::string sql = absl::StrCat(
      "CREATE TABLE relayscope_schema (version integer NOT NULL); INSERT INTO relayscope_schema "
      "VALUES (2);"
      "CREATE TABLE attempts (agent_id text COLLATE \"C\" NOT NULL, session_id text COLLATE "
      "\"C\" NOT NULL, sequence bigint NOT NULL, start_us bigint NOT NULL, site text COLLATE "
      "\"C\" NOT NULL, region text COLLATE \"C\" NOT NULL, relay text COLLATE \"C\" NOT NULL, "
      "port bigint NOT NULL, route_kind bigint NOT NULL, outcome bigint NOT NULL, proxy_status "
      "bigint NOT NULL, attempt bytea NOT NULL, PRIMARY KEY (agent_id, session_id, sequence));"
      "CREATE INDEX attempts_by_start ON attempts(start_us);"
      "CREATE TABLE sessions (agent_id text COLLATE \"C\" NOT NULL, session_id text COLLATE "
      "\"C\" NOT NULL, site text COLLATE \"C\" NOT NULL, updated_us bigint NOT NULL, report "
      "bytea NOT NULL, PRIMARY KEY (agent_id, session_id));"
      "CREATE INDEX sessions_by_updated ON sessions(updated_us);"
      "CREATE TABLE rollups (minute bigint NOT NULL, region text COLLATE \"C\" NOT NULL, relay "
      "text COLLATE \"C\" NOT NULL, port bigint NOT NULL, route_kind bigint NOT NULL, outcome "
      "bigint NOT NULL, attempts bigint NOT NULL",
      buckets, ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome));");
  v1::SessionReport report;
  report.set_session_id("s-1");
  report.mutable_agent()->set_agent_id("agent-1");
  report.mutable_agent()->set_site("acme");
  report.mutable_verdict()->set_summary("kept");
  absl::StrAppend(&sql, "INSERT INTO sessions VALUES ('agent-1', 's-1', 'acme', 1, '\\x",
                  absl::BytesToHexString(report.SerializeAsString()), "');");
  const std::vector<std::pair<uint64_t, v1::Outcome>> rows = {
      {1, v1::OUTCOME_OK}, {2, v1::OUTCOME_CONNECT_TIMEOUT}, {4, v1::OUTCOME_OK}};
  for (const auto& [sequence, outcome] : rows) {
    const v1::Attempt a = MakeAttempt(sequence, kT0, "emea-1", 8200, outcome);
    absl::StrAppend(&sql, "INSERT INTO attempts VALUES ('agent-1', 's-1', ", sequence, ", ",
                    absl::ToUnixMicros(kT0), ", 'acme', 'emea', 'emea-1', 8200, ", a.route_kind(),
                    ", ", outcome, ", 0, '\\x", absl::BytesToHexString(a.SerializeAsString()),
                    "');");
  }
  ASSERT_TRUE(PostgresServer::Get().server()->Execute("migrate_from_2", sql).ok());

  auto store = OpenStore(*url);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->CountAttempts(), 3u);
  auto session = (*store)->Session("agent-1", "s-1");
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(session->attempts_size(), 3);
  EXPECT_EQ(session->attempts(2).sequence(), 4u);
  EXPECT_EQ(session->attempts(1).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(session->verdict().summary(), "kept");
  auto listed = (*store)->Sessions(absl::FromUnixMicros(0), absl::FromUnixMicros(2), "", 0, 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].attempts, 3u);
  EXPECT_EQ((*listed)[0].failures, 1u);
  // The migrated sequences still de-duplicate; the gap (3) is new.
  auto again = (*store)->Commit(Batch("agent-1", "s-1",
                                      {MakeAttempt(1, kT0, "emea-1", 8200, v1::OUTCOME_OK),
                                       MakeAttempt(3, kT0, "emea-1", 8200, v1::OUTCOME_OK),
                                       MakeAttempt(4, kT0, "emea-1", 8200, v1::OUTCOME_OK)}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->is_new, (std::vector<bool>{false, true, false}));
  EXPECT_EQ((*store)->Session("agent-1", "s-1")->attempts_size(), 4);
}

TEST(RedactUrl, HidesOnlyThePassword) {
  EXPECT_EQ(RedactUrl("postgresql://u:secret@db:5432/r?sslmode=require"),
            "postgresql://u:***@db:5432/r?sslmode=require");
  EXPECT_EQ(RedactUrl("postgresql://u@db/r"), "postgresql://u@db/r");
  EXPECT_EQ(RedactUrl("postgresql://db/r@x"), "postgresql://db/r@x");
  EXPECT_EQ(RedactUrl("sqlite:///var/lib/x.db"), "sqlite:///var/lib/x.db");
  EXPECT_EQ(RedactUrl("postgresql://u:p@ss@db/r"), "postgresql://u:***@db/r");
}

}  // namespace
}  // namespace relayscope::collector
