// What only the SQLite store's schema decides: the append-only attempts
// table, de-duplication kept in the session's row, the upgrade from the
// keyed table of schema 4, and what it does with a session row it cannot
// read. The behaviour every backend shares is in store_test.cc.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "collector/store/store.h"
#include "collector/store/store_internal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);  // a minute boundary

v1::Attempt MakeAttempt(uint64_t sequence, absl::Time start, v1::Outcome outcome) {
  return test::AttemptBuilder()
      .Sequence(sequence)
      .StartedAt(start)
      .To("emea", "emea-1", 8200)
      .Outcome(outcome)
      .Phase(v1::PHASE_TCP_CONNECT, absl::Milliseconds(3), /*completed=*/true)
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

class SqliteFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("relayscope-sqlite-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/collector.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `sql` on the file directly, as an operator (or an older
  // collector) would.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::string dir_, path_;
};

TEST_F(SqliteFile, AttemptsAreAppendedAndTheirBlobsLeaveOutTheColumns) {
  {
    auto store = OpenStore("sqlite://" + path_);
    ASSERT_TRUE(store.ok()) << store.status();
    v1::Attempt fine = MakeAttempt(2, kT0, v1::OUTCOME_CONNECT_TIMEOUT);
    fine.mutable_start_time()->set_nanos(1500);
    fine.set_proxy_status(407);
    ASSERT_TRUE(
        (*store)->Commit(Batch("b", "s", {MakeAttempt(1, kT0, v1::OUTCOME_OK), fine})).ok());
    ASSERT_TRUE((*store)->Commit(Batch("a", "s", {MakeAttempt(1, kT0, v1::OUTCOME_OK)})).ok());
    // Read back whole: the columns are put back, and a start time finer
    // than the column's microsecond stays exact.
    auto session = (*store)->Session("b", "s");
    ASSERT_TRUE(session.ok()) << session.status();
    ASSERT_EQ(session->attempts_size(), 2);
    EXPECT_EQ(session->attempts(1).start_time().nanos(), 1500);
    EXPECT_EQ(session->attempts(1).proxy_status(), 407u);
    EXPECT_EQ(session->attempts(1).relay(), "emea-1");
    EXPECT_EQ(session->attempts(1).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
    EXPECT_EQ(session->attempts(0).sequence(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT rowid, agent_id, attempt FROM attempts ORDER BY rowid",
                               -1, &s, nullptr),
            SQLITE_OK);
  std::vector<std::string> order;
  while (sqlite3_step(s) == SQLITE_ROW) {
    order.push_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)));
    v1::Attempt stored;
    ASSERT_TRUE(stored.ParseFromArray(sqlite3_column_blob(s, 2), sqlite3_column_bytes(s, 2)));
    EXPECT_EQ(stored.sequence(), 0u);
    EXPECT_TRUE(stored.relay().empty());
    EXPECT_EQ(stored.outcome(), v1::OUTCOME_UNSPECIFIED);
    EXPECT_EQ(stored.phases_size(), 1);  // what has no column stays
  }
  sqlite3_finalize(s);
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT sequences, rowids, attempts, failures FROM sessions "
                               "WHERE agent_id = 'b'",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "1-2");
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)), "1-2");
  EXPECT_EQ(sqlite3_column_int(s, 2), 2);
  EXPECT_EQ(sqlite3_column_int(s, 3), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
  // Arrival order, not key order: "b" came first.
  EXPECT_EQ(order, (std::vector<std::string>{"b", "b", "a"}));
}

// A message serialized as an SQL blob literal's hex digits.
std::string HexOf(const google::protobuf::Message& message) {
  std::string hex;
  for (unsigned char c : message.SerializeAsString()) {
    absl::StrAppend(&hex, absl::Hex(c, absl::kZeroPad2));
  }
  return hex;
}

// A store written by a collector of schema 4 (attempts keyed by agent,
// session and sequence, full blobs), made with its own statements.
void WriteSchema4(const std::string& path) {
  std::string buckets;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) {
      absl::StrAppend(&buckets, ", ", prefix, i, " INTEGER NOT NULL DEFAULT 0");
    }
  }
  std::string sql =
      "CREATE TABLE attempts (agent_id TEXT NOT NULL, session_id TEXT NOT NULL,"
      " sequence INTEGER NOT NULL, start_us INTEGER NOT NULL, site TEXT NOT NULL,"
      " region TEXT NOT NULL, relay TEXT NOT NULL, port INTEGER NOT NULL,"
      " route_kind INTEGER NOT NULL, outcome INTEGER NOT NULL, proxy_status INTEGER NOT NULL,"
      " attempt BLOB NOT NULL, PRIMARY KEY (agent_id, session_id, sequence)) WITHOUT ROWID;"
      "CREATE TABLE sessions (agent_id TEXT NOT NULL, session_id TEXT NOT NULL,"
      " site TEXT NOT NULL, updated_us INTEGER NOT NULL, report BLOB NOT NULL,"
      " PRIMARY KEY (agent_id, session_id)) WITHOUT ROWID;"
      "CREATE INDEX sessions_by_updated ON sessions(updated_us);"
      "CREATE INDEX attempts_by_start_covering ON attempts(start_us, outcome, region, relay,"
      " port, route_kind, site, agent_id, session_id);";
  for (const char* table : {"rollups", "rollups_hour", "rollups_day"}) {
    absl::StrAppend(&sql, "CREATE TABLE ", table,
                    " (minute INTEGER NOT NULL, region TEXT NOT NULL, relay TEXT NOT NULL,"
                    " port INTEGER NOT NULL, route_kind INTEGER NOT NULL,"
                    " outcome INTEGER NOT NULL, attempts INTEGER NOT NULL",
                    buckets,
                    ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome))"
                    " WITHOUT ROWID;");
  }
  // Session "s1": sequences 1, 2, 3 and 7 (a gap), one failure; session
  // "s2": sequence 1; "s3" has metadata only.
  auto row = [](const char* session, uint64_t sequence, v1::Outcome outcome) {
    v1::Attempt a =
        MakeAttempt(sequence, kT0 + absl::Seconds(static_cast<int64_t>(sequence)), outcome);
    a.set_session_id(session);
    return absl::StrCat("INSERT INTO attempts VALUES ('agent', '", session, "', ", sequence, ", ",
                        absl::ToUnixMicros(kT0) + static_cast<int64_t>(sequence) * 1000000,
                        ", 'acme', 'emea', 'emea-1', 8200, ", a.route_kind(), ", ", outcome,
                        ", 0, X'", HexOf(a), "');");
  };
  for (uint64_t sequence : {7, 1, 3, 2}) {
    absl::StrAppend(
        &sql, row("s1", sequence, sequence == 3 ? v1::OUTCOME_CONNECT_TIMEOUT : v1::OUTCOME_OK));
  }
  absl::StrAppend(&sql, row("s2", 1, v1::OUTCOME_OK));
  for (const char* session : {"s1", "s2", "s3"}) {
    v1::SessionReport report;
    report.set_session_id(session);
    report.mutable_verdict()->set_summary(absl::StrCat("verdict of ", session));
    absl::StrAppend(&sql, "INSERT INTO sessions VALUES ('agent', '", session, "', 'acme', ",
                    absl::ToUnixMicros(kT0), ", X'", HexOf(report), "');");
  }
  absl::StrAppend(&sql, "PRAGMA user_version=4;");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST_F(SqliteFile, SchemaFourIsUpgradedWithItsSessionsAndTheirDeduplication) {
  WriteSchema4(path_);
  auto store = OpenStore("sqlite://" + path_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->CountAttempts(), 5u);
  auto s1 = (*store)->Session("agent", "s1");
  ASSERT_TRUE(s1.ok()) << s1.status();
  ASSERT_EQ(s1->attempts_size(), 4);
  EXPECT_EQ(s1->attempts(3).sequence(), 7u);
  EXPECT_EQ(s1->attempts(2).outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(s1->attempts(1).outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(s1->verdict().summary(), "verdict of s1");
  auto listed = (*store)->Sessions(kT0 - absl::Hours(1), kT0 + absl::Hours(1), "", 0, 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 3u);
  for (const SessionRow& row : *listed) {
    if (row.session_id == "s1") {
      EXPECT_EQ(row.attempts, 4u);
      EXPECT_EQ(row.failures, 1u);
    } else if (row.session_id == "s3") {
      EXPECT_EQ(row.attempts, 0u);
    }
  }
  // What schema 4 held is still known: the gap (4..6) is new, the rest is
  // a duplicate, in s1 and in s2.
  std::vector<v1::Attempt> resent;
  for (uint64_t sequence = 1; sequence <= 8; ++sequence) {
    resent.push_back(MakeAttempt(sequence, kT0, v1::OUTCOME_OK));
  }
  auto again = (*store)->Commit(Batch("agent", "s1", resent));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted, 4u);  // 4, 5, 6, 8
  EXPECT_EQ(again->duplicates, 4u);
  EXPECT_EQ(again->is_new, (std::vector<bool>{false, false, false, true, true, true, false, true}));
  EXPECT_EQ(
      (*store)->Commit(Batch("agent", "s2", {MakeAttempt(1, kT0, v1::OUTCOME_OK)}))->duplicates,
      1u);
  EXPECT_EQ((*store)->Session("agent", "s1")->attempts_size(), 8);
}

TEST_F(SqliteFile, AnUnreadableSessionRowRefusesItsBatchAndLosesNothingElse) {
  {
    auto store = OpenStore("sqlite://" + path_);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(Batch("a", "s", {MakeAttempt(1, kT0, v1::OUTCOME_OK)})).ok());
  }
  Sql("UPDATE sessions SET sequences = '1-x' WHERE agent_id = 'a'");
  auto store = OpenStore("sqlite://" + path_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto refused = (*store)->Commit(Batch("a", "s", {MakeAttempt(2, kT0, v1::OUTCOME_OK)}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("session s of agent a"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("1-x"));
  // Other sessions are stored, and the refused batch stored nothing.
  EXPECT_TRUE((*store)->Commit(Batch("b", "s", {MakeAttempt(1, kT0, v1::OUTCOME_OK)})).ok());
  EXPECT_EQ(*(*store)->CountAttempts(), 2u);
}

TEST(RangeSet, KeepsSortedDisjointRangesAndReadsItsOwnText) {
  internal::RangeSet set;
  for (uint64_t v : {5, 1, 2, 3, 9, 4, 11, 10}) set.Add(v);
  EXPECT_EQ(set.ToString(), "1-5,9-11");
  EXPECT_TRUE(set.Contains(1));
  EXPECT_TRUE(set.Contains(5));
  EXPECT_FALSE(set.Contains(6));
  EXPECT_FALSE(set.Contains(0));
  EXPECT_FALSE(set.Contains(12));
  set.AddRange(6, 8);
  EXPECT_EQ(set.ToString(), "1-11");
  set.AddRange(UINT64_MAX - 1, UINT64_MAX);
  set.Add(0);
  EXPECT_EQ(set.ToString(), absl::StrCat("0-11,", UINT64_MAX - 1, "-", UINT64_MAX));
  EXPECT_TRUE(set.Contains(UINT64_MAX));
  auto parsed = internal::RangeSet::Parse(set.ToString());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ranges(), set.ranges());
  // A migration may write ranges out of order, overlapping or single.
  EXPECT_EQ(internal::RangeSet::Parse("7-9,1-3,2-4,5-5")->ToString(), "1-5,7-9");
  EXPECT_TRUE(internal::RangeSet::Parse("")->empty());
  for (const char* bad :
       {"1-", "-3", "3-1", "a", "1,,2", " 1", "+1", "1-2-3", "99999999999999999999"}) {
    EXPECT_EQ(internal::RangeSet::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace relayscope::collector
