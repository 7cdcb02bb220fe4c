// The embedded SQLite store. One writer connection owned by a committer
// thread (group commit: everything queued goes into one transaction and one
// fsync), one reader connection for queries (WAL lets it read while the
// writer writes).
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <tuple>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "collector/store/store.h"
#include "collector/store/store_internal.h"

namespace relayscope::collector {
namespace {

// Durability: WAL with synchronous=FULL syncs the WAL at every commit, so a
// batch acknowledged to an agent survives a crash or power loss.
// synchronous=NORMAL would be faster but can lose the last transactions on
// power loss, which breaks "acked means stored".
//
// cache_size: the attempts' primary key arrives in random order (agent ids),
// so every commit touches leaf pages all over the table; with SQLite's
// default 2 MB cache most of them were re-read from the OS on each commit.
// wal_autocheckpoint: a checkpoint copies each page changed since the last
// one, and runs inside the commit that crosses the threshold; every 40 MB
// instead of every 4 MB, a page changed by many commits is copied once
// (P2 in bench/README.md: +30% ingest with 1000 streams).
constexpr char kPragmas[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;"
    "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;";

using internal::BucketColumns;

// Rollup tables, finest first: per minute, 10 minutes, hour, day. `minute`
// is the start of a row's interval (unix seconds) in all of them. `table`
// is keyed by every dimension; `reach_table` sums route kinds and outcomes
// (keeping the OK count) for the reachability matrix. The 10-minute level
// keeps the ragged ends of a window that does not end on the hour to a few
// minutes of per-minute rows (P3 in bench/README.md).
struct RollupLevel {
  const char* table;
  const char* reach_table;
  int64_t seconds;
};
constexpr RollupLevel kRollupLevels[] = {{"rollups", "reach_minute", 60},
                                         {"rollups_10m", "reach_10m", 600},
                                         {"rollups_hour", "reach_hour", 3600},
                                         {"rollups_day", "reach_day", 86400}};
constexpr int kRollupLevelCount = 4;
constexpr int64_t kRollupLevelSeconds[] = {60, 600, 3600, 86400};

// Failure-pattern rollup tables, one per internal::kFailureLevelSeconds.
constexpr const char* kFailureTables[] = {"failures_10m", "failures_hour", "failures_day"};

using internal::CoverRange;

// The coarsest level whose rows never straddle two of a caller's steps.
int UsableLevel(int64_t from, int64_t to, int64_t step) {
  return internal::UsableLevel(kRollupLevelSeconds, kRollupLevelCount, from, to, step);
}

// The attempts table's columns (schema 5): no key, rows in arrival order.
// `attempt` is the serialized attempt without the fields held in columns.
constexpr char kAttemptColumnDefs[] =
    "agent_id TEXT NOT NULL, session_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
    " start_us INTEGER NOT NULL, site TEXT NOT NULL, region TEXT NOT NULL,"
    " relay TEXT NOT NULL, port INTEGER NOT NULL, route_kind INTEGER NOT NULL,"
    " outcome INTEGER NOT NULL, proxy_status INTEGER NOT NULL, attempt BLOB NOT NULL";

// The columns an attempt is read back from (internal::AttemptColumns, then
// the blob), in ReadAttempt's order.
constexpr char kAttemptReadColumns[] =
    "sequence, start_us, region, relay, port, route_kind, outcome, proxy_status, attempt";

// Schema 5: attempts appended in arrival order (a rowid table: a commit
// writes the table's last pages, not a leaf per session), with
// de-duplication moved to the session's row: the sequences it holds (a
// range set, "1-12"), the rowids of its attempts, and its counts. Existing
// attempts are copied session by session, so each session's rowids are one
// range. A session row is now appended too, found by a narrow unique index
// (P2 in bench/README.md).
std::string AppendOnlyMigration() {
  return absl::StrCat(
      "CREATE TABLE attempts_v5 (", kAttemptColumnDefs,
      ");"
      "INSERT INTO attempts_v5 SELECT agent_id, session_id, sequence, start_us, site, region,"
      " relay, port, route_kind, outcome, proxy_status, attempt FROM attempts"
      " ORDER BY agent_id, session_id, sequence;"
      "DROP TABLE attempts;"
      "ALTER TABLE attempts_v5 RENAME TO attempts;"
      "CREATE INDEX attempts_by_start_covering ON attempts(start_us, outcome, region, relay, "
      "port, route_kind, site, agent_id, session_id);"
      "CREATE TABLE sessions_v5 ("
      " agent_id TEXT NOT NULL, session_id TEXT NOT NULL, site TEXT NOT NULL,"
      " updated_us INTEGER NOT NULL, report BLOB NOT NULL,"
      " attempts INTEGER NOT NULL, failures INTEGER NOT NULL,"
      " sequences TEXT NOT NULL, rowids TEXT NOT NULL);"
      "INSERT INTO sessions_v5 SELECT s.agent_id, s.session_id, s.site, s.updated_us, s.report,"
      " COALESCE(a.n, 0), COALESCE(a.f, 0), COALESCE(q.ranges, ''),"
      " COALESCE(a.lo || '-' || a.hi, '') FROM sessions s"
      " LEFT JOIN (SELECT agent_id, session_id, COUNT(*) AS n, SUM(outcome != ",
      v1::OUTCOME_OK,
      ") AS f, MIN(rowid) AS lo, MAX(rowid) AS hi FROM attempts GROUP BY agent_id, session_id)"
      " a USING (agent_id, session_id)"
      // Consecutive sequences share sequence - row_number(): one range each.
      " LEFT JOIN (SELECT agent_id, session_id, group_concat(lo || '-' || hi, ',') AS ranges"
      " FROM (SELECT agent_id, session_id, MIN(sequence) AS lo, MAX(sequence) AS hi FROM"
      " (SELECT agent_id, session_id, sequence, sequence - ROW_NUMBER() OVER (PARTITION BY"
      " agent_id, session_id ORDER BY sequence) AS run FROM attempts)"
      " GROUP BY agent_id, session_id, run) GROUP BY agent_id, session_id)"
      " q USING (agent_id, session_id)"
      " ORDER BY s.updated_us;"
      "DROP TABLE sessions;"
      "ALTER TABLE sessions_v5 RENAME TO sessions;"
      "CREATE UNIQUE INDEX sessions_by_key ON sessions(agent_id, session_id);"
      "CREATE INDEX sessions_by_updated ON sessions(updated_us);");
}

// Schema migrations, applied in order; PRAGMA user_version counts them.
std::vector<std::string> Migrations() {
  std::string bucket_defs;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) {
      absl::StrAppend(&bucket_defs, ", ", prefix, i, " INTEGER NOT NULL DEFAULT 0");
    }
  }
  std::string sums;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) absl::StrAppend(&sums, ", SUM(", prefix, i, ")");
  }
  // 4: hourly and daily rollups, filled from the per-minute ones.
  std::string coarse;
  for (const RollupLevel& l : {kRollupLevels[2], kRollupLevels[3]}) {
    absl::StrAppend(
        &coarse, "CREATE TABLE ", l.table,
        " (minute INTEGER NOT NULL, region TEXT NOT NULL, relay TEXT NOT NULL,"
        " port INTEGER NOT NULL, route_kind INTEGER NOT NULL, outcome INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL",
        bucket_defs,
        ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome)) WITHOUT ROWID;",
        "INSERT INTO ", l.table, " SELECT minute / ", l.seconds, " * ", l.seconds,
        " AS m, region, relay, port, route_kind, outcome, SUM(attempts)", sums,
        " FROM rollups GROUP BY m, region, relay, port, route_kind, outcome;");
  }
  // 5: the 10-minute level; reachability rollups per region, relay and port
  // at every level; failure-pattern rollups (P3 in bench/README.md). Filled
  // from the rollups and attempts already stored; relayscope_idset is the
  // aggregate the store registers on its connections (an id set from ids
  // or from sets).
  std::string windows = absl::StrCat(
      "CREATE TABLE rollups_10m (minute INTEGER NOT NULL, region TEXT NOT NULL,"
      " relay TEXT NOT NULL, port INTEGER NOT NULL, route_kind INTEGER NOT NULL,"
      " outcome INTEGER NOT NULL, attempts INTEGER NOT NULL",
      bucket_defs,
      ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome)) WITHOUT ROWID;"
      "INSERT INTO rollups_10m SELECT minute / 600 * 600 AS m, region, relay, port, route_kind,"
      " outcome, SUM(attempts)",
      sums, " FROM rollups GROUP BY m, region, relay, port, route_kind, outcome;");
  for (const RollupLevel& l : kRollupLevels) {
    absl::StrAppend(&windows, "CREATE TABLE ", l.reach_table,
                    " (minute INTEGER NOT NULL, region TEXT NOT NULL, relay TEXT NOT NULL,"
                    " port INTEGER NOT NULL, attempts INTEGER NOT NULL, ok INTEGER NOT NULL",
                    bucket_defs, ", PRIMARY KEY (minute, region, relay, port)) WITHOUT ROWID;",
                    "INSERT INTO ", l.reach_table,
                    " SELECT minute, region, relay, port, SUM(attempts), SUM(CASE WHEN outcome = ",
                    v1::OUTCOME_OK, " THEN attempts ELSE 0 END)", sums, " FROM ", l.table,
                    " GROUP BY minute, region, relay, port;");
  }
  for (int level = 0; level < internal::kFailureLevels; ++level) {
    const int64_t w = internal::kFailureLevelSeconds[level];
    absl::StrAppend(
        &windows, "CREATE TABLE ", kFailureTables[level],
        " (minute INTEGER NOT NULL, outcome INTEGER NOT NULL, region TEXT NOT NULL,"
        " relay TEXT NOT NULL, port INTEGER NOT NULL, route_kind INTEGER NOT NULL,"
        " n INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL,"
        " agents BLOB NOT NULL, sites BLOB NOT NULL,"
        " PRIMARY KEY (minute, outcome, region, relay, port, route_kind)) WITHOUT ROWID;");
    if (level == 0) {
      const int64_t w_us = w * 1000000;
      absl::StrAppend(
          &windows, "INSERT INTO ", kFailureTables[level], " SELECT (start_us - ((start_us % ",
          w_us, ") + ", w_us, ") % ", w_us,
          ") / 1000000 AS m, outcome, region, relay, port, route_kind, COUNT(*), MIN(start_us),"
          " MAX(start_us), relayscope_idset(agent_id), relayscope_idset(site)"
          " FROM attempts WHERE outcome != ",
          v1::OUTCOME_OK, " GROUP BY m, outcome, region, relay, port, route_kind;");
    } else {
      absl::StrAppend(
          &windows, "INSERT INTO ", kFailureTables[level], " SELECT minute / ", w, " * ", w,
          " AS m, outcome, region, relay, port, route_kind, SUM(n), MIN(first_us),"
          " MAX(last_us), relayscope_idset(agents), relayscope_idset(sites) FROM ",
          kFailureTables[level - 1], " GROUP BY m, outcome, region, relay, port, route_kind;");
    }
  }
  return {
      // 1: raw attempts, sessions, per-minute rollups.
      absl::StrCat(
          "CREATE TABLE attempts ("
          " agent_id TEXT NOT NULL, session_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
          " start_us INTEGER NOT NULL, site TEXT NOT NULL, region TEXT NOT NULL,"
          " relay TEXT NOT NULL, port INTEGER NOT NULL, route_kind INTEGER NOT NULL,"
          " outcome INTEGER NOT NULL, proxy_status INTEGER NOT NULL, attempt BLOB NOT NULL,"
          " PRIMARY KEY (agent_id, session_id, sequence)) WITHOUT ROWID;"
          "CREATE INDEX attempts_by_start ON attempts(start_us);"
          "CREATE TABLE sessions ("
          " agent_id TEXT NOT NULL, session_id TEXT NOT NULL, site TEXT NOT NULL,"
          " updated_us INTEGER NOT NULL, report BLOB NOT NULL,"
          " PRIMARY KEY (agent_id, session_id)) WITHOUT ROWID;"
          "CREATE TABLE rollups ("
          " minute INTEGER NOT NULL, region TEXT NOT NULL, relay TEXT NOT NULL,"
          " port INTEGER NOT NULL, route_kind INTEGER NOT NULL, outcome INTEGER NOT NULL,"
          " attempts INTEGER NOT NULL",
          bucket_defs,
          ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome)) WITHOUT ROWID;"),
      // 2: listing recent sessions.
      "CREATE INDEX sessions_by_updated ON sessions(updated_us);",
      // 3: the time index covers every column the grouping queries read
      // (failure patterns, sites, activity), so they scan the index alone
      // instead of looking each attempt up in the table (P3 in
      // bench/README.md: 10x faster drill-downs over 10 M attempts). It
      // replaces the plain time index, so ingest maintains no extra index.
      absl::StrCat("CREATE INDEX attempts_by_start_covering ON attempts(start_us, outcome, "
                   "region, relay, port, route_kind, site, agent_id, session_id);",
                   "DROP INDEX attempts_by_start;"),
      // 4: reachability over days reads a few hundred rows per day instead
      // of every minute's (P3 in bench/README.md).
      coarse,
      // 5: attempts appended in arrival order (AppendOnlyMigration).
      AppendOnlyMigration(),
      windows,
  };
}

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", sqlite3_errmsg(db), " (", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat("store is full: ", message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

// relayscope_idset(x), an aggregate: the encoded id set (see
// internal::EncodeIdSet) of its TEXT arguments' hashes and of the sets its
// BLOB arguments hold. relayscope_idset_union(a, b): the union of two sets.
void IdSetStep(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto** ids = static_cast<std::vector<uint64_t>**>(
      sqlite3_aggregate_context(ctx, sizeof(std::vector<uint64_t>*)));
  if (ids == nullptr) return sqlite3_result_error_nomem(ctx);
  if (*ids == nullptr) *ids = new std::vector<uint64_t>();
  const int type = sqlite3_value_type(argv[0]);
  const auto* data =
      static_cast<const char*>(type == SQLITE_BLOB ? sqlite3_value_blob(argv[0]) : nullptr);
  if (type == SQLITE_BLOB) {
    internal::DecodeIdSet(
        absl::string_view(data, static_cast<size_t>(sqlite3_value_bytes(argv[0]))), *ids);
  } else if (type == SQLITE_TEXT) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    (*ids)->push_back(internal::IdHash(
        absl::string_view(text, static_cast<size_t>(sqlite3_value_bytes(argv[0])))));
  }
}
void IdSetFinal(sqlite3_context* ctx) {
  auto** ids = static_cast<std::vector<uint64_t>**>(sqlite3_aggregate_context(ctx, 0));
  std::string encoded;
  if (ids != nullptr && *ids != nullptr) {
    encoded = internal::EncodeIdSet(std::move(**ids));
    delete *ids;
  }
  sqlite3_result_blob(ctx, encoded.data(), static_cast<int>(encoded.size()), SQLITE_TRANSIENT);
}
void IdSetUnion(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto view = [](sqlite3_value* v) {
    const void* blob = sqlite3_value_blob(v);
    return blob ? absl::string_view(static_cast<const char*>(blob),
                                    static_cast<size_t>(sqlite3_value_bytes(v)))
                : absl::string_view();
  };
  const std::string merged = internal::UnionIdSets(view(argv[0]), view(argv[1]));
  sqlite3_result_blob(ctx, merged.data(), static_cast<int>(merged.size()), SQLITE_TRANSIENT);
}
int RegisterFunctions(sqlite3* db) {
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  int rc = sqlite3_create_function_v2(db, "relayscope_idset", 1, flags, nullptr, nullptr, IdSetStep,
                                      IdSetFinal, nullptr);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_create_function_v2(db, "relayscope_idset_union", 2, flags, nullptr, IdSetUnion,
                                    nullptr, nullptr, nullptr);
}

// Prepared statement owner.
class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  absl::Status Prepare(sqlite3* db, const std::string& sql) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
    return rc == SQLITE_OK ? absl::OkStatus() : SqliteError(db, rc, "prepare");
  }
  sqlite3_stmt* get() { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
std::string ColumnText(sqlite3_stmt* s, int i) {
  const auto* text = sqlite3_column_text(s, i);
  return text ? std::string(reinterpret_cast<const char*>(text),
                            static_cast<size_t>(sqlite3_column_bytes(s, i)))
              : std::string();
}
std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* blob = sqlite3_column_blob(s, i);
  return blob ? std::string(static_cast<const char*>(blob),
                            static_cast<size_t>(sqlite3_column_bytes(s, i)))
              : std::string();
}

// The connect and handshake histograms of a rollup row: BucketColumns("c")
// then BucketColumns("h"), starting at column `first`.
void ReadBuckets(sqlite3_stmt* s, int first, std::vector<uint64_t>* connect,
                 std::vector<uint64_t>* handshake) {
  connect->resize(kLatencyBuckets);
  handshake->resize(kLatencyBuckets);
  for (int i = 0; i < kLatencyBuckets; ++i) {
    (*connect)[i] = static_cast<uint64_t>(sqlite3_column_int64(s, first + i));
    (*handshake)[i] = static_cast<uint64_t>(sqlite3_column_int64(s, first + kLatencyBuckets + i));
  }
}

// An attempt from kAttemptReadColumns starting at column `first`.
v1::Attempt ReadAttempt(sqlite3_stmt* s, int first) {
  internal::AttemptColumns columns;
  columns.sequence = static_cast<uint64_t>(sqlite3_column_int64(s, first));
  columns.start_us = sqlite3_column_int64(s, first + 1);
  columns.region = ColumnText(s, first + 2);
  columns.relay = ColumnText(s, first + 3);
  columns.port = static_cast<uint32_t>(sqlite3_column_int64(s, first + 4));
  columns.route_kind = sqlite3_column_int(s, first + 5);
  columns.outcome = sqlite3_column_int(s, first + 6);
  columns.proxy_status = sqlite3_column_int64(s, first + 7);
  v1::Attempt attempt;
  attempt.ParseFromString(ColumnBlob(s, first + 8));
  internal::PutColumnsBack(columns, &attempt);
  return attempt;
}

// Binds `where`'s values to the statement's numbered placeholders.
void Bind(sqlite3_stmt* s, const internal::Where& where) {
  int index = where.next_placeholder - static_cast<int>(where.values.size());
  for (const auto& value : where.values) {
    if (const auto* number = std::get_if<int64_t>(&value)) {
      sqlite3_bind_int64(s, index++, *number);
    } else {
      BindText(s, index++, std::get<std::string>(value));
    }
  }
}

absl::Time FromMicros(sqlite3_stmt* s, int i) {
  return absl::FromUnixMicros(sqlite3_column_int64(s, i));
}
uint64_t ColumnCount(sqlite3_stmt* s, int i) {
  return static_cast<uint64_t>(sqlite3_column_int64(s, i));
}

using internal::kSessionKey;

class SqliteStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path) {
    std::unique_ptr<SqliteStore> store(new SqliteStore());
    const bool memory = path == ":memory:";
    // A shared-cache in-memory database lets the reader see the writer.
    const std::string name =
        memory ? absl::StrCat("file:relayscope-", reinterpret_cast<uintptr_t>(store.get()),
                              "?mode=memory&cache=shared")
               : path;
    const int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX;
    int rc = sqlite3_open_v2(name.c_str(), &store->writer_, flags, nullptr);
    if (rc != SQLITE_OK) return SqliteError(store->writer_, rc, absl::StrCat("open ", path));
    if (absl::Status s = store->Exec(store->writer_, kPragmas); !s.ok()) return s;
    if ((rc = RegisterFunctions(store->writer_)) != SQLITE_OK) {
      return SqliteError(store->writer_, rc, "registering functions");
    }
    if (absl::Status s = store->Migrate(); !s.ok()) return s;
    {
      // Nobody else has the store yet; the lock is what the reader's
      // ABSL_GUARDED_BY asks for, and costs nothing here.
      absl::MutexLock lock(&store->reader_mu_);
      rc = sqlite3_open_v2(name.c_str(), &store->reader_, flags, nullptr);
      if (rc != SQLITE_OK) return SqliteError(store->reader_, rc, absl::StrCat("open ", path));
      if (absl::Status s = store->Exec(store->reader_, "PRAGMA busy_timeout=5000;"); !s.ok()) {
        return s;
      }
      if ((rc = RegisterFunctions(store->reader_)) != SQLITE_OK) {
        return SqliteError(store->reader_, rc, "registering functions");
      }
    }
    if (absl::Status s = store->PrepareWriter(); !s.ok()) return s;
    store->queue_.Start(
        [raw = store.get()](std::deque<Pending>& group) { raw->CommitGroup(group); });
    return store;
  }

  ~SqliteStore() override {
    queue_.Stop();
    insert_attempt_.reset();
    select_session_.reset();
    insert_session_.reset();
    update_session_.reset();
    for (auto& statement : upsert_rollups_) statement.reset();
    for (auto& statement : upsert_reach_) statement.reset();
    for (auto& statement : upsert_failures_) statement.reset();
    sqlite3_close(reader_);
    sqlite3_close(writer_);
  }

  void CommitAsync(IngestBatch batch, CommitCallback done) override {
    // Flattened here, on the caller's thread: the committer thread, which
    // every stream shares, only binds and steps, and never touches (or
    // frees) a protobuf.
    Pending pending = Flatten(std::move(batch));
    pending.done = std::move(done);
    queue_.Submit(std::move(pending));
  }

  absl::StatusOr<std::vector<RollupRow>> Rollups(absl::Time start, absl::Time end) override {
    absl::MutexLock lock(&reader_mu_);
    std::vector<RollupRow> rows;
    if (absl::Status st =
            ReadRollups(0, absl::ToUnixSeconds(start), absl::ToUnixSeconds(end), &rows);
        !st.ok()) {
      return st;
    }
    return rows;
  }

  absl::StatusOr<std::vector<RollupRow>> RollupsAtResolution(absl::Time start, absl::Time end,
                                                             absl::Duration resolution) override {
    const int64_t from = absl::ToUnixSeconds(start);
    const int64_t to = absl::ToUnixSeconds(end);
    const int64_t step = absl::ToInt64Seconds(resolution);
    absl::MutexLock lock(&reader_mu_);
    std::vector<RollupRow> rows;
    if (absl::Status st = CoverRange(
            kRollupLevelSeconds, UsableLevel(from, to, step), from, to,
            // Runs inside CoverRange, under this function's lock.
            [&](int level, int64_t a, int64_t b)
                ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadRollups(level, a, b, &rows); });
        !st.ok()) {
      return st;
    }
    std::sort(rows.begin(), rows.end(), [](const RollupRow& a, const RollupRow& b) {
      return std::tie(a.minute, a.region, a.relay, a.port, a.route_kind, a.outcome) <
             std::tie(b.minute, b.region, b.relay, b.port, b.route_kind, b.outcome);
    });
    return rows;
  }

  absl::StatusOr<std::vector<ReachabilityRow>> ReachabilityRollups(
      absl::Time start, absl::Time end, absl::Duration resolution) override {
    const int64_t from = absl::ToUnixSeconds(start);
    const int64_t to = absl::ToUnixSeconds(end);
    const int64_t step = absl::ToInt64Seconds(resolution);
    absl::MutexLock lock(&reader_mu_);
    std::vector<ReachabilityRow> rows;
    if (absl::Status st = CoverRange(
            kRollupLevelSeconds, UsableLevel(from, to, step), from, to,
            // Runs inside CoverRange, under this function's lock.
            [&](int level, int64_t a, int64_t b)
                ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadReachability(level, a, b, &rows); });
        !st.ok()) {
      return st;
    }
    std::sort(rows.begin(), rows.end(), [](const ReachabilityRow& a, const ReachabilityRow& b) {
      return std::tie(a.minute, a.region, a.relay, a.port) <
             std::tie(b.minute, b.region, b.relay, b.port);
    });
    return rows;
  }

  absl::Status ReadReachability(int level, int64_t from, int64_t to,
                                std::vector<ReachabilityRow>* rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    Statement s;
    if (absl::Status st =
            s.Prepare(reader_, absl::StrCat("SELECT minute, region, relay, port, attempts, ok, ",
                                            BucketColumns("c"), ", ", BucketColumns("h"), " FROM ",
                                            kRollupLevels[level].reach_table,
                                            " WHERE minute >= ? AND minute < ?"));
        !st.ok()) {
      return st;
    }
    sqlite3_bind_int64(s.get(), 1, from);
    sqlite3_bind_int64(s.get(), 2, to);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      ReachabilityRow row;
      row.minute = absl::FromUnixSeconds(sqlite3_column_int64(s.get(), 0));
      row.region = ColumnText(s.get(), 1);
      row.relay = ColumnText(s.get(), 2);
      row.port = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 3));
      row.attempts = ColumnCount(s.get(), 4);
      row.ok = ColumnCount(s.get(), 5);
      ReadBuckets(s.get(), 6, &row.connect_buckets, &row.handshake_buckets);
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading reachability rollups");
    return absl::OkStatus();
  }

  // Rows of one level's table with minute in [from, to), appended.
  absl::Status ReadRollups(int level, int64_t from, int64_t to, std::vector<RollupRow>* rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    Statement s;
    if (absl::Status st = s.Prepare(
            reader_, absl::StrCat("SELECT minute, region, relay, port, route_kind, outcome, "
                                  "attempts, ",
                                  BucketColumns("c"), ", ", BucketColumns("h"), " FROM ",
                                  kRollupLevels[level].table,
                                  " WHERE minute >= ? AND minute < ? ORDER BY minute, "
                                  "region, relay, port, route_kind, outcome"));
        !st.ok()) {
      return st;
    }
    sqlite3_bind_int64(s.get(), 1, from);
    sqlite3_bind_int64(s.get(), 2, to);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      RollupRow row;
      row.minute = absl::FromUnixSeconds(sqlite3_column_int64(s.get(), 0));
      row.region = ColumnText(s.get(), 1);
      row.relay = ColumnText(s.get(), 2);
      row.port = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 3));
      row.route_kind = static_cast<v1::RouteKind>(sqlite3_column_int(s.get(), 4));
      row.outcome = static_cast<v1::Outcome>(sqlite3_column_int(s.get(), 5));
      row.attempts = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 6));
      ReadBuckets(s.get(), 7, &row.connect_buckets, &row.handshake_buckets);
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading rollups");
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<FailureGroup>> FailureGroups(const AttemptFilter& filter) override {
    return FailureGroupsPage(filter, 0, SIZE_MAX);
  }

  absl::StatusOr<std::vector<FailureGroup>> FailureGroupsPage(const AttemptFilter& filter,
                                                              size_t examples_from,
                                                              size_t examples_count) override {
    absl::MutexLock lock(&reader_mu_);
    // Without a site, from the failure-pattern rollups (and the attempts
    // of the ragged ends); the rollups keep no sites, so one site's
    // patterns come from its attempts.
    std::vector<FailureGroup> groups;
    // A page's distinct agents and sites are read for the page's groups
    // only: the union of every group's sets over a week is most of the
    // work otherwise (P3 in bench/README.md).
    const bool every_group = examples_from == 0 && examples_count == SIZE_MAX;
    FailurePieces pieces;
    if (absl::Status st = filter.site.empty()
                              ? FailureCountsFromRollups(filter, every_group, &groups, &pieces)
                              : FailureCountsFromAttempts(filter, &groups);
        !st.ok()) {
      return st;
    }
    std::sort(groups.begin(), groups.end(), [](const FailureGroup& a, const FailureGroup& b) {
      if (a.count != b.count) return a.count > b.count;
      if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
      return std::tie(a.outcome, a.region, a.relay, a.port, a.route_kind) <
             std::tie(b.outcome, b.region, b.relay, b.port, b.route_kind);
    });
    // Each shown group's latest attempt (its evidence), by a point lookup
    // on the covering time index: the table is read once per group shown.
    const internal::Where where = internal::FilterClause(filter, /*with_site=*/true, '?');
    Statement example;
    if (absl::Status st = example.Prepare(
            reader_, absl::StrCat("SELECT agent_id, ", kAttemptReadColumns, " FROM attempts WHERE ",
                                  where.sql,
                                  " AND start_us = ? AND outcome = ? AND region = ? AND relay = ? "
                                  "AND port = ? AND route_kind = ? ORDER BY agent_id DESC, "
                                  "session_id DESC, sequence DESC LIMIT 1"));
        !st.ok()) {
      return st;
    }
    for (size_t i = examples_from; i < groups.size() && i - examples_from < examples_count; ++i) {
      FailureGroup& g = groups[i];
      if (filter.site.empty() && !every_group) {
        if (absl::Status st = CountFailureSets(pieces, &g); !st.ok()) return st;
      }
      example.Reset();
      Bind(example.get(), where);
      int next = where.next_placeholder;  // the plain ?s that follow
      sqlite3_bind_int64(example.get(), next++, absl::ToUnixMicros(g.last_seen));
      sqlite3_bind_int(example.get(), next++, g.outcome);
      BindText(example.get(), next++, g.region);
      BindText(example.get(), next++, g.relay);
      sqlite3_bind_int64(example.get(), next++, g.port);
      sqlite3_bind_int(example.get(), next++, g.route_kind);
      const int rc = sqlite3_step(example.get());
      if (rc == SQLITE_ROW) {
        g.example_agent_id = ColumnText(example.get(), 0);
        g.example = ReadAttempt(example.get(), 1);
      } else if (rc != SQLITE_DONE) {
        return SqliteError(reader_, rc, "reading a failure example");
      }
    }
    return groups;
  }

  // Failure groups (without examples) from one pass over the covering time
  // index.
  absl::Status FailureCountsFromAttempts(const AttemptFilter& filter,
                                         std::vector<FailureGroup>* groups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    const internal::Where where = internal::FilterClause(filter, /*with_site=*/true, '?');
    constexpr char kGroup[] = "outcome, region, relay, port, route_kind";
    Statement s;
    if (absl::Status st = s.Prepare(
            reader_,
            absl::StrCat("SELECT ", kGroup,
                         ", COUNT(*) AS n, COUNT(DISTINCT site), COUNT(DISTINCT agent_id), "
                         "MIN(start_us), MAX(start_us) AS last_us FROM attempts WHERE ",
                         where.sql, " AND outcome != ", v1::OUTCOME_OK, " GROUP BY ", kGroup));
        !st.ok()) {
      return st;
    }
    Bind(s.get(), where);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      FailureGroup g;
      g.outcome = static_cast<v1::Outcome>(sqlite3_column_int(s.get(), 0));
      g.region = ColumnText(s.get(), 1);
      g.relay = ColumnText(s.get(), 2);
      g.port = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 3));
      g.route_kind = static_cast<v1::RouteKind>(sqlite3_column_int(s.get(), 4));
      g.count = ColumnCount(s.get(), 5);
      g.sites = ColumnCount(s.get(), 6);
      g.agents = ColumnCount(s.get(), 7);
      g.first_seen = FromMicros(s.get(), 8);
      g.last_seen = FromMicros(s.get(), 9);
      groups->push_back(std::move(g));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading failure patterns");
    return absl::OkStatus();
  }

  // Failure groups (without examples) from the failure-pattern rollups of
  // the whole 10-minute intervals, hours and days inside the filter's range
  // and the attempts of its ragged ends. The range is first narrowed to the
  // attempts still stored, so the answer is the attempts' own after a
  // prune too (rollups of pruned intervals are not read).
  using FailureGroupKey = std::tuple<int, std::string, std::string, uint32_t, int>;
  // Where FailureCountsFromRollups read a group's counts from: pieces of
  // one rollup level (level >= 1: [from, to) in microseconds), and the
  // agents and sites of the ragged ends (from the attempts), per group.
  struct FailurePieces {
    std::vector<std::tuple<int, int64_t, int64_t>> pieces;
    std::map<FailureGroupKey, std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> edges;
  };

  // Fills `g`'s distinct agents and sites from the sets of its rollup rows
  // in `pieces` (point lookups, one per interval) and its ragged ends.
  absl::Status CountFailureSets(const FailurePieces& pieces, FailureGroup* g)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    const FailureGroupKey key{g->outcome, g->region, g->relay, g->port, g->route_kind};
    std::vector<uint64_t> agents, sites;
    if (auto it = pieces.edges.find(key); it != pieces.edges.end()) {
      agents = it->second.first;
      sites = it->second.second;
    }
    std::unique_ptr<Statement> lookups[internal::kFailureLevels];
    for (const auto& [level, from, to] : pieces.pieces) {
      std::unique_ptr<Statement>& lookup = lookups[level - 1];
      if (lookup == nullptr) {
        lookup = std::make_unique<Statement>();
        if (absl::Status st = lookup->Prepare(
                reader_, absl::StrCat("SELECT agents, sites FROM ", kFailureTables[level - 1],
                                      " WHERE minute = ? AND outcome = ? AND region = ? AND "
                                      "relay = ? AND port = ? AND route_kind = ?"));
            !st.ok()) {
          return st;
        }
      }
      const int64_t w = internal::kFailureLevelSeconds[level - 1];
      for (int64_t minute = from / 1000000; minute < to / 1000000; minute += w) {
        sqlite3_stmt* s = lookup->get();
        lookup->Reset();
        sqlite3_bind_int64(s, 1, minute);
        sqlite3_bind_int(s, 2, g->outcome);
        BindText(s, 3, g->region);
        BindText(s, 4, g->relay);
        sqlite3_bind_int64(s, 5, g->port);
        sqlite3_bind_int(s, 6, g->route_kind);
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) continue;
        if (rc != SQLITE_ROW) return SqliteError(reader_, rc, "reading failure sets");
        for (auto [column, ids] : {std::pair{0, &agents}, std::pair{1, &sites}}) {
          const void* blob = sqlite3_column_blob(s, column);
          if (blob == nullptr) continue;
          internal::DecodeIdSet(
              absl::string_view(static_cast<const char*>(blob),
                                static_cast<size_t>(sqlite3_column_bytes(s, column))),
              ids);
        }
      }
    }
    g->agents = internal::CountDistinct(&agents);
    g->sites = internal::CountDistinct(&sites);
    return absl::OkStatus();
  }

  // With `with_sets` false, the groups' agents and sites are left 0 and
  // `pieces` says where CountFailureSets finds them.
  absl::Status FailureCountsFromRollups(const AttemptFilter& filter, bool with_sets,
                                        std::vector<FailureGroup>* groups, FailurePieces* pieces)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    int64_t stored[2] = {0, 0};
    int index = 0;
    for (const char* sql :
         {"SELECT MIN(start_us) FROM attempts", "SELECT MAX(start_us) FROM attempts"}) {
      Statement s;
      if (absl::Status st = s.Prepare(reader_, sql); !st.ok()) return st;
      const int rc = sqlite3_step(s.get());
      if (rc != SQLITE_ROW) return SqliteError(reader_, rc, "reading the stored range");
      if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL) return absl::OkStatus();  // empty
      stored[index++] = sqlite3_column_int64(s.get(), 0);
    }
    const int64_t from = std::max(absl::ToUnixMicros(filter.start), stored[0]);
    const int64_t to = std::min(absl::ToUnixMicros(filter.end), stored[1] + 1);
    using GroupKey = FailureGroupKey;
    struct Sum {
      uint64_t count = 0;
      int64_t first_us = 0, last_us = 0;
      std::vector<uint64_t> agents, sites;
    };
    std::map<GroupKey, Sum> sums;
    const internal::Where dimensions = internal::DimensionClause(filter, '?', 3);
    constexpr int64_t kWidthsUs[] = {1, internal::kFailureLevelSeconds[0] * 1000000,
                                     internal::kFailureLevelSeconds[1] * 1000000,
                                     internal::kFailureLevelSeconds[2] * 1000000};
    // Called by CoverRange below, under the caller's lock.
    auto read = [&](int level, int64_t a, int64_t b)
                    ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
      if (level > 0) pieces->pieces.emplace_back(level, a, b);
      const std::string sql =
          level == 0 ? absl::StrCat(
                           "SELECT outcome, region, relay, port, route_kind, COUNT(*), "
                           "MIN(start_us), MAX(start_us), relayscope_idset(agent_id), "
                           "relayscope_idset(site) FROM attempts WHERE start_us >= ?1 AND "
                           "start_us < ?2 AND outcome != ",
                           v1::OUTCOME_OK, dimensions.sql,
                           " GROUP BY outcome, region, relay, port, route_kind")
                     : absl::StrCat(
                           "SELECT outcome, region, relay, port, route_kind, n, first_us, "
                           "last_us, agents, sites FROM ",
                           kFailureTables[level - 1], " WHERE minute >= ?1 AND minute < ?2",
                           dimensions.sql);
      Statement s;
      if (absl::Status st = s.Prepare(reader_, sql); !st.ok()) return st;
      sqlite3_bind_int64(s.get(), 1, level == 0 ? a : a / 1000000);
      sqlite3_bind_int64(s.get(), 2, level == 0 ? b : b / 1000000);
      Bind(s.get(), dimensions);
      int rc;
      while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
        Sum& sum = sums[GroupKey{sqlite3_column_int(s.get(), 0), ColumnText(s.get(), 1),
                                 ColumnText(s.get(), 2),
                                 static_cast<uint32_t>(sqlite3_column_int64(s.get(), 3)),
                                 sqlite3_column_int(s.get(), 4)}];
        const int64_t first_us = sqlite3_column_int64(s.get(), 6);
        const int64_t last_us = sqlite3_column_int64(s.get(), 7);
        if (sum.count == 0 || first_us < sum.first_us) sum.first_us = first_us;
        if (sum.count == 0 || last_us > sum.last_us) sum.last_us = last_us;
        sum.count += ColumnCount(s.get(), 5);
        std::vector<uint64_t>* agents = &sum.agents;
        std::vector<uint64_t>* sites = &sum.sites;
        if (!with_sets && level > 0) continue;
        if (!with_sets) {
          auto& edge = pieces->edges[GroupKey{
              sqlite3_column_int(s.get(), 0), ColumnText(s.get(), 1), ColumnText(s.get(), 2),
              static_cast<uint32_t>(sqlite3_column_int64(s.get(), 3)),
              sqlite3_column_int(s.get(), 4)}];
          agents = &edge.first;
          sites = &edge.second;
        }
        for (auto [column, ids] : {std::pair{8, agents}, std::pair{9, sites}}) {
          const void* blob = sqlite3_column_blob(s.get(), column);
          if (blob == nullptr) continue;
          internal::DecodeIdSet(
              absl::string_view(static_cast<const char*>(blob),
                                static_cast<size_t>(sqlite3_column_bytes(s.get(), column))),
              ids);
        }
      }
      if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading failure rollups");
      return absl::OkStatus();
    };
    if (absl::Status st = CoverRange(kWidthsUs, internal::kFailureLevels, from, to, read);
        !st.ok()) {
      return st;
    }
    groups->reserve(sums.size());
    for (auto& [key, sum] : sums) {
      FailureGroup g;
      g.outcome = static_cast<v1::Outcome>(std::get<0>(key));
      g.region = std::get<1>(key);
      g.relay = std::get<2>(key);
      g.port = std::get<3>(key);
      g.route_kind = static_cast<v1::RouteKind>(std::get<4>(key));
      g.count = sum.count;
      g.agents = internal::CountDistinct(&sum.agents);
      g.sites = internal::CountDistinct(&sum.sites);
      g.first_seen = absl::FromUnixMicros(sum.first_us);
      g.last_seen = absl::FromUnixMicros(sum.last_us);
      groups->push_back(std::move(g));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<SiteRow>> Sites(const AttemptFilter& filter) override {
    absl::MutexLock lock(&reader_mu_);
    const internal::Where where = internal::FilterClause(filter, /*with_site=*/false, '?');
    Statement totals;
    if (absl::Status st = totals.Prepare(
            reader_, absl::StrCat("SELECT site, COUNT(DISTINCT agent_id), COUNT(DISTINCT ",
                                  kSessionKey, "), COUNT(*), SUM(outcome != ", v1::OUTCOME_OK,
                                  "), MAX(start_us) FROM attempts WHERE ", where.sql,
                                  " GROUP BY site ORDER BY site"));
        !st.ok()) {
      return st;
    }
    Bind(totals.get(), where);
    std::vector<SiteRow> sites;
    std::map<std::string, size_t> index;
    int rc;
    while ((rc = sqlite3_step(totals.get())) == SQLITE_ROW) {
      SiteRow row;
      row.site = ColumnText(totals.get(), 0);
      row.agents = ColumnCount(totals.get(), 1);
      row.sessions = ColumnCount(totals.get(), 2);
      row.attempts = ColumnCount(totals.get(), 3);
      row.failures = ColumnCount(totals.get(), 4);
      row.last_seen = FromMicros(totals.get(), 5);
      index[row.site] = sites.size();
      sites.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading sites");

    Statement outcomes;
    if (absl::Status st = outcomes.Prepare(
            reader_, absl::StrCat("SELECT site, outcome, COUNT(*) FROM attempts WHERE ", where.sql,
                                  " AND outcome != ", v1::OUTCOME_OK,
                                  " GROUP BY site, outcome ORDER BY site, outcome"));
        !st.ok()) {
      return st;
    }
    Bind(outcomes.get(), where);
    std::map<std::string, uint64_t> best;
    while ((rc = sqlite3_step(outcomes.get())) == SQLITE_ROW) {
      const std::string site = ColumnText(outcomes.get(), 0);
      const uint64_t n = ColumnCount(outcomes.get(), 2);
      auto it = index.find(site);
      if (it == index.end() || n <= best[site]) continue;  // ties: lowest outcome value
      best[site] = n;
      sites[it->second].top_failure =
          static_cast<v1::Outcome>(sqlite3_column_int(outcomes.get(), 1));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading site outcomes");
    return sites;
  }

  absl::StatusOr<std::vector<ActivityRow>> Activity(absl::Time start, absl::Time end,
                                                    absl::Duration step) override {
    if (step <= absl::ZeroDuration()) return absl::InvalidArgumentError("step must be positive");
    absl::MutexLock lock(&reader_mu_);
    Statement s;
    if (absl::Status st = s.Prepare(
            reader_, absl::StrCat("SELECT (start_us - ?1) / ?2 AS b, COUNT(DISTINCT agent_id), "
                                  "COUNT(DISTINCT site), COUNT(DISTINCT ",
                                  kSessionKey,
                                  "), COUNT(*) FROM attempts WHERE start_us >= ?1 AND "
                                  "start_us < ?3 GROUP BY b ORDER BY b"));
        !st.ok()) {
      return st;
    }
    const int64_t step_us = absl::ToInt64Microseconds(step);
    sqlite3_bind_int64(s.get(), 1, absl::ToUnixMicros(start));
    sqlite3_bind_int64(s.get(), 2, step_us);
    sqlite3_bind_int64(s.get(), 3, absl::ToUnixMicros(end));
    std::vector<ActivityRow> rows;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      ActivityRow row;
      row.time = start + absl::Microseconds(sqlite3_column_int64(s.get(), 0) * step_us);
      row.agents = ColumnCount(s.get(), 1);
      row.sites = ColumnCount(s.get(), 2);
      row.sessions = ColumnCount(s.get(), 3);
      row.attempts = ColumnCount(s.get(), 4);
      rows.push_back(row);
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading activity");
    return rows;
  }

  absl::StatusOr<std::vector<SessionRow>> Sessions(absl::Time start, absl::Time end,
                                                   const std::string& site, size_t offset,
                                                   size_t limit) override {
    absl::MutexLock lock(&reader_mu_);
    Statement s;
    if (absl::Status st =
            s.Prepare(reader_,
                      "SELECT agent_id, session_id, site, updated_us, report, attempts, failures "
                      "FROM sessions WHERE updated_us >= ?1 AND updated_us < ?2 AND "
                      "(?3 = '' OR site = ?3) ORDER BY updated_us DESC, agent_id, "
                      "session_id LIMIT ?4 OFFSET ?5");
        !st.ok()) {
      return st;
    }
    sqlite3_bind_int64(s.get(), 1, absl::ToUnixMicros(start));
    sqlite3_bind_int64(s.get(), 2, absl::ToUnixMicros(end));
    BindText(s.get(), 3, site);
    sqlite3_bind_int64(s.get(), 4, static_cast<int64_t>(limit));
    sqlite3_bind_int64(s.get(), 5, static_cast<int64_t>(offset));
    std::vector<SessionRow> rows;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      SessionRow row;
      row.agent_id = ColumnText(s.get(), 0);
      row.session_id = ColumnText(s.get(), 1);
      row.site = ColumnText(s.get(), 2);
      row.updated = FromMicros(s.get(), 3);
      row.report.ParseFromString(ColumnBlob(s.get(), 4));
      row.attempts = ColumnCount(s.get(), 5);
      row.failures = ColumnCount(s.get(), 6);
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading sessions");
    return rows;
  }

  absl::StatusOr<v1::SessionReport> Session(const std::string& agent_id,
                                            const std::string& session_id) override {
    absl::MutexLock lock(&reader_mu_);
    v1::SessionReport report;
    Statement meta;
    if (absl::Status st = meta.Prepare(
            reader_, "SELECT report, rowids FROM sessions WHERE agent_id = ? AND session_id = ?");
        !st.ok()) {
      return st;
    }
    BindText(meta.get(), 1, agent_id);
    BindText(meta.get(), 2, session_id);
    std::string rowids;
    if (sqlite3_step(meta.get()) == SQLITE_ROW) {
      report.ParseFromString(ColumnBlob(meta.get(), 0));
      rowids = ColumnText(meta.get(), 1);
    }
    absl::StatusOr<internal::RangeSet> ranges = internal::RangeSet::Parse(rowids);
    if (!ranges.ok()) {
      return absl::DataLossError(absl::StrCat("session ", session_id, " of agent ", agent_id, ": ",
                                              ranges.status().message()));
    }
    // The session's attempts by rowid; the ids are checked too, because a
    // rowid freed by a prune can be given to a later attempt.
    Statement rows;
    if (absl::Status st = rows.Prepare(
            reader_, absl::StrCat("SELECT ", kAttemptReadColumns,
                                  " FROM attempts WHERE rowid BETWEEN ? AND ? AND agent_id = ? "
                                  "AND session_id = ? ORDER BY rowid"));
        !st.ok()) {
      return st;
    }
    std::vector<v1::Attempt> attempts;
    for (const auto& [first, last] : ranges->ranges()) {
      rows.Reset();
      sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(first));
      sqlite3_bind_int64(rows.get(), 2, static_cast<int64_t>(last));
      BindText(rows.get(), 3, agent_id);
      BindText(rows.get(), 4, session_id);
      int rc;
      while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
        attempts.push_back(ReadAttempt(rows.get(), 0));
      }
      if (rc != SQLITE_DONE) return SqliteError(reader_, rc, "reading a session");
    }
    std::stable_sort(
        attempts.begin(), attempts.end(),
        [](const v1::Attempt& a, const v1::Attempt& b) { return a.sequence() < b.sequence(); });
    for (v1::Attempt& attempt : attempts) *report.add_attempts() = std::move(attempt);
    if (report.attempts().empty()) {
      return absl::NotFoundError(
          absl::StrCat("no attempts stored for session ", session_id, " of agent ", agent_id));
    }
    return report;
  }

  absl::StatusOr<uint64_t> PruneAttemptsBefore(absl::Time cutoff) override {
    return queue_.Prune(cutoff);
  }

  size_t QueueDepth() override { return queue_.Depth(); }

  absl::StatusOr<uint64_t> CountAttempts() override {
    absl::MutexLock lock(&reader_mu_);
    Statement s;
    if (absl::Status st = s.Prepare(reader_, "SELECT COUNT(*) FROM attempts"); !st.ok()) return st;
    if (sqlite3_step(s.get()) != SQLITE_ROW) return SqliteError(reader_, 0, "count");
    return static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
  }

 private:
  static constexpr size_t kMaxQueued = 4096;

  // One attempt, ready to bind.
  struct Row {
    internal::AttemptColumns columns;
    int64_t minute = 0;         // unix seconds of the start's minute
    int connect_bucket = -1;    // -1: no completed connect
    int handshake_bucket = -1;  // -1: no completed handshake
    std::string blob;           // the attempt without its columns, serialized
  };
  // A batch to commit, or (prune_before set) a retention prune.
  struct Pending {
    std::string agent_id, session_id, site;
    std::vector<Row> rows;
    internal::SessionUpdate session;
    std::optional<absl::Time> prune_before;
    CommitCallback done;
  };

  static Pending Flatten(IngestBatch batch) {
    Pending p;
    p.agent_id = batch.agent.agent_id();
    p.session_id = batch.session_id;
    p.site = batch.agent.site();
    p.rows.resize(batch.attempts.size());
    for (size_t i = 0; i < batch.attempts.size(); ++i) {
      v1::Attempt& a = batch.attempts[i];
      Row& row = p.rows[i];
      row.minute = a.start_time().seconds() / 60 * 60;
      row.connect_bucket = internal::LatencyBucket(a, v1::PHASE_TCP_CONNECT);
      row.handshake_bucket = internal::LatencyBucket(a, v1::PHASE_HANDSHAKE);
      internal::MoveColumnsOut(&a, &row.columns);
      a.SerializeToString(&row.blob);
    }
    // Session metadata: the latest batch that carries some (proxies or a
    // verdict) wins; a batch of attempts only creates the row if missing.
    p.session = internal::TakeSessionMetadata(&batch);
    return p;
  }

  // A session's row as a group commit changes it: loaded once per group,
  // written once at its end.
  struct SessionState {
    int64_t rowid = 0;  // 0: not stored yet
    internal::RangeSet sequences, rowids;
    int64_t attempts = 0, failures = 0;
    // The batch whose site and report the row takes (null: keep the
    // stored ones), and when.
    const Pending* metadata = nullptr;
    int64_t updated_us = 0;
    bool changed = false;
  };
  using SessionKey = std::pair<std::string, std::string>;  // agent, session

  using RollupKey = internal::RollupKey;
  using RollupDelta = internal::RollupDelta;

  SqliteStore() : queue_(kMaxQueued) {}

  absl::Status Exec(sqlite3* db, const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    sqlite3_free(error);
    return rc == SQLITE_OK ? absl::OkStatus() : SqliteError(db, rc, "exec");
  }

  absl::Status Migrate() {
    Statement version;
    if (absl::Status s = version.Prepare(writer_, "PRAGMA user_version"); !s.ok()) return s;
    sqlite3_step(version.get());
    const int current = sqlite3_column_int(version.get(), 0);
    version.Reset();  // an open statement would lock the schema a migration changes
    const std::vector<std::string> migrations = Migrations();
    if (current > static_cast<int>(migrations.size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store has schema version ", current, " but this collector knows only up to ",
          migrations.size(), "; use a newer collector"));
    }
    for (int v = current; v < static_cast<int>(migrations.size()); ++v) {
      if (absl::Status s = Exec(writer_, absl::StrCat("BEGIN IMMEDIATE;", migrations[v],
                                                      "PRAGMA user_version=", v + 1, ";COMMIT;"));
          !s.ok()) {
        Exec(writer_, "ROLLBACK;").IgnoreError();
        return absl::Status(s.code(),
                            absl::StrCat("migrating to schema ", v + 1, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status PrepareWriter() {
    insert_attempt_ = std::make_unique<Statement>();
    select_session_ = std::make_unique<Statement>();
    insert_session_ = std::make_unique<Statement>();
    update_session_ = std::make_unique<Statement>();
    if (absl::Status s = insert_attempt_->Prepare(
            writer_,
            "INSERT INTO attempts (agent_id, session_id, sequence, start_us, site, "
            "region, relay, port, route_kind, outcome, proxy_status, attempt) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = select_session_->Prepare(
            writer_,
            "SELECT rowid, sequences, rowids, attempts, failures FROM sessions "
            "WHERE agent_id = ? AND session_id = ?");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = insert_session_->Prepare(
            writer_,
            "INSERT INTO sessions (agent_id, session_id, site, updated_us, report, attempts, "
            "failures, sequences, rowids) VALUES (?,?,?,?,?,?,?,?,?)");
        !s.ok()) {
      return s;
    }
    // NULL site, time and report keep the stored ones.
    if (absl::Status s = update_session_->Prepare(
            writer_,
            "UPDATE sessions SET site = COALESCE(?1, site), updated_us = COALESCE(?2, updated_us),"
            " report = COALESCE(?3, report), attempts = ?4, failures = ?5, sequences = ?6,"
            " rowids = ?7 WHERE rowid = ?8");
        !s.ok()) {
      return s;
    }
    std::string placeholders, updates;
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) {
        absl::StrAppend(&placeholders, ",?");
        absl::StrAppend(&updates, ", ", prefix, i, " = ", prefix, i, " + excluded.", prefix, i);
      }
    }
    for (int level = 0; level < kRollupLevelCount; ++level) {
      upsert_rollups_[level] = std::make_unique<Statement>();
      if (absl::Status st = upsert_rollups_[level]->Prepare(
              writer_,
              absl::StrCat("INSERT INTO ", kRollupLevels[level].table,
                           " (minute, region, relay, port, route_kind, outcome, attempts, ",
                           BucketColumns("c"), ", ", BucketColumns("h"), ") VALUES (?,?,?,?,?,?,?",
                           placeholders,
                           ") ON CONFLICT (minute, region, relay, port, route_kind, outcome) DO "
                           "UPDATE SET attempts = attempts + excluded.attempts",
                           updates));
          !st.ok()) {
        return st;
      }
    }
    return absl::OkStatus();
  }

  // One transaction, one fsync, for everything that was queued.
  void CommitGroup(std::deque<Pending>& work) {
    std::vector<absl::StatusOr<CommitResult>> results(work.size());
    absl::Status status = Exec(writer_, "BEGIN IMMEDIATE;");
    std::map<RollupKey, RollupDelta> rollups;
    std::map<SessionKey, SessionState> sessions;
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    for (size_t i = 0; status.ok() && i < work.size(); ++i) {
      CommitResult result;
      status = work[i].prune_before ? Prune(*work[i].prune_before, &result)
                                    : Apply(work[i], now_us, &result, &sessions, &rollups);
      results[i] = result;
    }
    if (status.ok()) status = WriteSessions(sessions);
    if (status.ok()) status = WriteRollups(work, results, rollups);
    if (status.ok()) status = Exec(writer_, "COMMIT;");
    if (!status.ok()) {
      Exec(writer_, "ROLLBACK;").IgnoreError();
      for (auto& r : results) r = status;
    }
    for (size_t i = 0; i < work.size(); ++i) work[i].done(results[i]);
  }

  // The session's row as stored, or a new state if there is none.
  absl::Status LoadSession(const Pending& batch, SessionState* state) {
    Statement& statement = *select_session_;
    statement.Reset();
    sqlite3_stmt* s = statement.get();
    BindText(s, 1, batch.agent_id);
    BindText(s, 2, batch.session_id);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return absl::OkStatus();
    if (rc != SQLITE_ROW) return SqliteError(writer_, rc, "reading a session");
    state->rowid = sqlite3_column_int64(s, 0);
    absl::StatusOr<internal::RangeSet> sequences = internal::RangeSet::Parse(ColumnText(s, 1));
    absl::StatusOr<internal::RangeSet> rowids = internal::RangeSet::Parse(ColumnText(s, 2));
    if (!sequences.ok() || !rowids.ok()) {
      // Refusing the batch keeps the count exact; the agent retries, and
      // the error names the row to repair.
      return absl::DataLossError(
          absl::StrCat("session ", batch.session_id, " of agent ", batch.agent_id, ": ",
                       (sequences.ok() ? rowids.status() : sequences.status()).message()));
    }
    state->sequences = *std::move(sequences);
    state->rowids = *std::move(rowids);
    state->attempts = sqlite3_column_int64(s, 3);
    state->failures = sqlite3_column_int64(s, 4);
    statement.Reset();
    return absl::OkStatus();
  }

  absl::Status Apply(const Pending& batch, int64_t now_us, CommitResult* result,
                     std::map<SessionKey, SessionState>* sessions,
                     std::map<RollupKey, RollupDelta>* rollups) {
    auto [it, first_in_group] = sessions->try_emplace(SessionKey{batch.agent_id, batch.session_id});
    SessionState& state = it->second;
    if (first_in_group) {
      if (absl::Status st = LoadSession(batch, &state); !st.ok()) return st;
    }
    // The latest batch that carries metadata wins; a batch of attempts
    // only gives a new session its first row.
    if (batch.session.carries_metadata || (state.rowid == 0 && state.metadata == nullptr)) {
      state.metadata = &batch;
      state.updated_us = now_us;
      state.changed = true;
    }
    sqlite3_stmt* insert = insert_attempt_->get();
    // Every bound value outlives the step: SQLite need not copy it.
    auto bind = [](sqlite3_stmt* s, int i, const std::string& v) {
      sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    };
    result->is_new.reserve(batch.rows.size());
    for (const Row& row : batch.rows) {
      const internal::AttemptColumns& c = row.columns;
      if (state.sequences.Contains(c.sequence)) {
        result->is_new.push_back(false);
        ++result->duplicates;  // already stored: not counted again
        continue;
      }
      sqlite3_reset(insert);
      bind(insert, 1, batch.agent_id);
      bind(insert, 2, batch.session_id);
      sqlite3_bind_int64(insert, 3, static_cast<int64_t>(c.sequence));
      sqlite3_bind_int64(insert, 4, c.start_us);
      bind(insert, 5, batch.site);
      bind(insert, 6, c.region);
      bind(insert, 7, c.relay);
      sqlite3_bind_int64(insert, 8, c.port);
      sqlite3_bind_int(insert, 9, c.route_kind);
      sqlite3_bind_int(insert, 10, c.outcome);
      sqlite3_bind_int64(insert, 11, c.proxy_status);
      sqlite3_bind_blob(insert, 12, row.blob.data(), static_cast<int>(row.blob.size()),
                        SQLITE_STATIC);
      const int rc = sqlite3_step(insert);
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "storing an attempt");
      state.sequences.Add(c.sequence);
      state.rowids.Add(static_cast<uint64_t>(sqlite3_last_insert_rowid(writer_)));
      ++state.attempts;
      if (c.outcome != v1::OUTCOME_OK) ++state.failures;
      state.changed = true;
      result->is_new.push_back(true);
      ++result->accepted;
      RollupDelta& delta =
          (*rollups)[RollupKey{row.minute, c.region, c.relay, c.port, c.route_kind, c.outcome}];
      ++delta.attempts;
      if (row.connect_bucket >= 0) ++delta.connect[row.connect_bucket];
      if (row.handshake_bucket >= 0) ++delta.handshake[row.handshake_bucket];
    }
    return absl::OkStatus();
  }

  // Every session the group changed, one write each.
  absl::Status WriteSessions(const std::map<SessionKey, SessionState>& sessions) {
    for (const auto& [key, state] : sessions) {
      if (!state.changed) continue;
      const std::string sequences = state.sequences.ToString();
      const std::string rowids = state.rowids.ToString();
      const Pending* meta = state.metadata;
      Statement& statement = state.rowid == 0 ? *insert_session_ : *update_session_;
      statement.Reset();
      sqlite3_stmt* s = statement.get();
      if (state.rowid == 0) {
        BindText(s, 1, key.first);
        BindText(s, 2, key.second);
        BindText(s, 3, meta->site);
        sqlite3_bind_int64(s, 4, state.updated_us);
        sqlite3_bind_blob(s, 5, meta->session.report.data(),
                          static_cast<int>(meta->session.report.size()), SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, state.attempts);
        sqlite3_bind_int64(s, 7, state.failures);
        BindText(s, 8, sequences);
        BindText(s, 9, rowids);
      } else {
        if (meta != nullptr) {
          BindText(s, 1, meta->site);
          sqlite3_bind_int64(s, 2, state.updated_us);
          sqlite3_bind_blob(s, 3, meta->session.report.data(),
                            static_cast<int>(meta->session.report.size()), SQLITE_STATIC);
        }
        sqlite3_bind_int64(s, 4, state.attempts);
        sqlite3_bind_int64(s, 5, state.failures);
        BindText(s, 6, sequences);
        BindText(s, 7, rowids);
        sqlite3_bind_int64(s, 8, state.rowid);
      }
      const int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "storing a session");
    }
    return absl::OkStatus();
  }

  // Rollup increments of the whole group, written once per key.
  // Each level's increments are summed in memory first: one upsert per key
  // and level. `work` and `results` (which attempts were new) give the
  // failure-pattern rollups their agents and sites.
  absl::Status WriteRollups(const std::deque<Pending>& work,
                            const std::vector<absl::StatusOr<CommitResult>>& results,
                            const std::map<RollupKey, RollupDelta>& minutes) {
    if (absl::Status st = PrepareWindowWriters(); !st.ok()) return st;
    for (int level = 0; level < kRollupLevelCount; ++level) {
      if (absl::Status st = WriteReachabilityLevel(
              level, internal::ToReachability(minutes, kRollupLevels[level].seconds));
          !st.ok()) {
        return st;
      }
    }
    if (absl::Status st = WriteFailureRollups(work, results); !st.ok()) return st;
    for (int level = 0; level < kRollupLevelCount; ++level) {
      if (level == 0) {
        if (absl::Status st = WriteRollupLevel(level, minutes); !st.ok()) return st;
        continue;
      }
      const int64_t w = kRollupLevels[level].seconds;
      std::map<RollupKey, RollupDelta> coarse;
      for (const auto& [key, delta] : minutes) {
        RollupKey k = key;
        std::get<0>(k) = std::get<0>(key) - ((std::get<0>(key) % w) + w) % w;
        RollupDelta& sum = coarse[k];
        sum.attempts += delta.attempts;
        for (int i = 0; i < kLatencyBuckets; ++i) {
          sum.connect[i] += delta.connect[i];
          sum.handshake[i] += delta.handshake[i];
        }
      }
      if (absl::Status st = WriteRollupLevel(level, coarse); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::Status WriteRollupLevel(int level, const std::map<RollupKey, RollupDelta>& rollups) {
    Statement& statement = *upsert_rollups_[level];
    sqlite3_stmt* s = statement.get();
    for (const auto& [key, delta] : rollups) {
      statement.Reset();
      sqlite3_bind_int64(s, 1, std::get<0>(key));
      BindText(s, 2, std::get<1>(key));
      BindText(s, 3, std::get<2>(key));
      sqlite3_bind_int64(s, 4, std::get<3>(key));
      sqlite3_bind_int(s, 5, std::get<4>(key));
      sqlite3_bind_int(s, 6, std::get<5>(key));
      sqlite3_bind_int64(s, 7, static_cast<int64_t>(delta.attempts));
      for (int i = 0; i < kLatencyBuckets; ++i) {
        sqlite3_bind_int64(s, 8 + i, static_cast<int64_t>(delta.connect[i]));
        sqlite3_bind_int64(s, 8 + kLatencyBuckets + i, static_cast<int64_t>(delta.handshake[i]));
      }
      const int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "updating rollups");
    }
    return absl::OkStatus();
  }

  // The upserts of the reachability and failure-pattern rollups, prepared
  // on first use.
  absl::Status PrepareWindowWriters() {
    if (upsert_reach_[0] != nullptr) return absl::OkStatus();
    std::string placeholders, updates;
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) {
        absl::StrAppend(&placeholders, ",?");
        absl::StrAppend(&updates, ", ", prefix, i, " = ", prefix, i, " + excluded.", prefix, i);
      }
    }
    for (int level = 0; level < kRollupLevelCount; ++level) {
      auto statement = std::make_unique<Statement>();
      if (absl::Status st = statement->Prepare(
              writer_,
              absl::StrCat("INSERT INTO ", kRollupLevels[level].reach_table,
                           " (minute, region, relay, port, attempts, ok, ", BucketColumns("c"),
                           ", ", BucketColumns("h"), ") VALUES (?,?,?,?,?,?", placeholders,
                           ") ON CONFLICT (minute, region, relay, port) DO UPDATE SET "
                           "attempts = attempts + excluded.attempts, ok = ok + "
                           "excluded.ok",
                           updates));
          !st.ok()) {
        return st;
      }
      upsert_reach_[level] = std::move(statement);
    }
    for (int level = 0; level < internal::kFailureLevels; ++level) {
      auto statement = std::make_unique<Statement>();
      if (absl::Status st = statement->Prepare(
              writer_,
              absl::StrCat(
                  "INSERT INTO ", kFailureTables[level],
                  " (minute, outcome, region, relay, port, route_kind, n, first_us, last_us, "
                  "agents, sites) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (minute, outcome, "
                  "region, relay, port, route_kind) DO UPDATE SET n = n + excluded.n, first_us = "
                  "MIN(first_us, excluded.first_us), last_us = MAX(last_us, excluded.last_us), "
                  "agents = relayscope_idset_union(agents, excluded.agents), sites = "
                  "relayscope_idset_union(sites, excluded.sites)"));
          !st.ok()) {
        return st;
      }
      upsert_failures_[level] = std::move(statement);
    }
    return absl::OkStatus();
  }

  absl::Status WriteReachabilityLevel(int level, const internal::ReachabilityDeltas& rows) {
    Statement& statement = *upsert_reach_[level];
    sqlite3_stmt* s = statement.get();
    for (const auto& [key, delta] : rows) {
      statement.Reset();
      sqlite3_bind_int64(s, 1, std::get<0>(key));
      BindText(s, 2, std::get<1>(key));
      BindText(s, 3, std::get<2>(key));
      sqlite3_bind_int64(s, 4, std::get<3>(key));
      sqlite3_bind_int64(s, 5, static_cast<int64_t>(delta.attempts));
      sqlite3_bind_int64(s, 6, static_cast<int64_t>(delta.ok));
      for (int i = 0; i < kLatencyBuckets; ++i) {
        sqlite3_bind_int64(s, 7 + i, static_cast<int64_t>(delta.connect[i]));
        sqlite3_bind_int64(s, 7 + kLatencyBuckets + i, static_cast<int64_t>(delta.handshake[i]));
      }
      const int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "updating reachability rollups");
    }
    return absl::OkStatus();
  }

  // The group's new failed attempts, summed per interval and group at each
  // failure-pattern level, one upsert per key and level.
  absl::Status WriteFailureRollups(const std::deque<Pending>& work,
                                   const std::vector<absl::StatusOr<CommitResult>>& results) {
    for (int level = 0; level < internal::kFailureLevels; ++level) {
      const int64_t w = internal::kFailureLevelSeconds[level];
      internal::FailureDeltas failures;
      for (size_t i = 0; i < work.size(); ++i) {
        const Pending& batch = work[i];
        if (batch.prune_before || !results[i].ok()) continue;
        const std::vector<bool>& is_new = results[i]->is_new;
        for (size_t j = 0; j < batch.rows.size() && j < is_new.size(); ++j) {
          const internal::AttemptColumns& row = batch.rows[j].columns;
          if (!is_new[j] || row.outcome == v1::OUTCOME_OK) continue;
          internal::AddFailure(w, row.start_us, row.outcome, row.region, row.relay, row.port,
                               row.route_kind, batch.agent_id, batch.site, &failures);
        }
      }
      Statement& statement = *upsert_failures_[level];
      sqlite3_stmt* s = statement.get();
      for (const auto& [key, delta] : failures) {
        statement.Reset();
        sqlite3_bind_int64(s, 1, std::get<0>(key));
        sqlite3_bind_int(s, 2, std::get<1>(key));
        BindText(s, 3, std::get<2>(key));
        BindText(s, 4, std::get<3>(key));
        sqlite3_bind_int64(s, 5, std::get<4>(key));
        sqlite3_bind_int(s, 6, std::get<5>(key));
        sqlite3_bind_int64(s, 7, static_cast<int64_t>(delta.count));
        sqlite3_bind_int64(s, 8, delta.first_us);
        sqlite3_bind_int64(s, 9, delta.last_us);
        const std::string agents = internal::EncodeIdSet(delta.agents);
        const std::string sites = internal::EncodeIdSet(delta.sites);
        sqlite3_bind_blob(s, 10, agents.data(), static_cast<int>(agents.size()), SQLITE_STATIC);
        sqlite3_bind_blob(s, 11, sites.data(), static_cast<int>(sites.size()), SQLITE_STATIC);
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "updating failure rollups");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Prune(absl::Time cutoff, CommitResult* result) {
    Statement s;
    if (absl::Status st = s.Prepare(writer_, "DELETE FROM attempts WHERE start_us < ?"); !st.ok()) {
      return st;
    }
    sqlite3_bind_int64(s.get(), 1, absl::ToUnixMicros(cutoff));
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "pruning");
    result->accepted = static_cast<uint32_t>(sqlite3_changes(writer_));
    return absl::OkStatus();
  }

  sqlite3* writer_ = nullptr;  // used by the committer thread (and Open)
  absl::Mutex reader_mu_;
  sqlite3* reader_ ABSL_GUARDED_BY(reader_mu_) = nullptr;
  std::unique_ptr<Statement> insert_attempt_, select_session_, insert_session_, update_session_;
  std::unique_ptr<Statement> upsert_rollups_[kRollupLevelCount];  // per level
  std::unique_ptr<Statement> upsert_reach_[kRollupLevelCount];    // per level
  std::unique_ptr<Statement> upsert_failures_[internal::kFailureLevels];
  internal::CommitQueue<Pending> queue_;
};

}  // namespace

namespace internal {

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  return SqliteStore::Open(path);
}

}  // namespace internal
}  // namespace relayscope::collector
