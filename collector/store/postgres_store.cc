// The PostgreSQL store, for several collectors sharing one database. Same
// schema semantics as the SQLite store: raw attempts keyed by (agent,
// session, sequence) with a primary key, so a batch retried against another
// replica is inserted once; rollups incremented in the same transaction
// only for attempts that were new, so totals stay exact however many
// collectors write. One writer connection owned by the group committer, one
// reader connection for queries; libpq (Debian's libpq-dev) directly.
//
// Two writers never wait for each other in opposite orders: attempts,
// sessions and rollups are written in key order. Should a deadlock or
// serialization failure still occur, the whole group is retried.
#include <google/protobuf/util/time_util.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "collector/store/store.h"
#include "collector/store/store_internal.h"

namespace relayscope::collector::internal {
namespace {

using google::protobuf::util::TimeUtil;

// Rollup levels, finest first, as in the SQLite store: `table` keyed by
// every dimension, `reach_table` per region, relay and port with the OK
// count (the reachability matrix).
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
// Failure-pattern rollups, one per kFailureLevelSeconds. Their agent and
// site sets are bigint[] of hashtextextended(id, 0), sorted and distinct:
// PostgreSQL hashes at ingest and when filling them from stored attempts,
// so the two agree.
constexpr const char* kFailureTables[] = {"failures_10m", "failures_hour", "failures_day"};

// 10-minute, hourly and daily rollups, reachability and failure-pattern
// rollups (P3 in bench/README.md), filled from what is stored.
std::string WindowRollupsMigration(const std::string& bucket_defs) {
  std::string sums;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) absl::StrAppend(&sums, ", SUM(", prefix, i, ")");
  }
  std::string sql;
  for (int level = 1; level < kRollupLevelCount; ++level) {
    const RollupLevel& l = kRollupLevels[level];
    absl::StrAppend(
        &sql, "CREATE TABLE ", l.table,
        " (minute bigint NOT NULL, region text COLLATE \"C\" NOT NULL,"
        " relay text COLLATE \"C\" NOT NULL, port bigint NOT NULL,"
        " route_kind bigint NOT NULL, outcome bigint NOT NULL, attempts bigint NOT NULL",
        bucket_defs,
        ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome));"
        "INSERT INTO ",
        l.table, " SELECT minute - minute % ", l.seconds,
        " AS m, region, relay, port, route_kind, outcome, SUM(attempts)", sums,
        " FROM rollups GROUP BY m, region, relay, port, route_kind, outcome;");
  }
  for (const RollupLevel& l : kRollupLevels) {
    absl::StrAppend(&sql, "CREATE TABLE ", l.reach_table,
                    " (minute bigint NOT NULL, region text COLLATE \"C\" NOT NULL,"
                    " relay text COLLATE \"C\" NOT NULL, port bigint NOT NULL,"
                    " attempts bigint NOT NULL, ok bigint NOT NULL",
                    bucket_defs, ", PRIMARY KEY (minute, region, relay, port));", "INSERT INTO ",
                    l.reach_table,
                    " SELECT minute, region, relay, port, SUM(attempts), SUM(CASE WHEN outcome = ",
                    v1::OUTCOME_OK, " THEN attempts ELSE 0 END)", sums, " FROM ", l.table,
                    " GROUP BY minute, region, relay, port;");
  }
  for (int level = 0; level < kFailureLevels; ++level) {
    const int64_t w = kFailureLevelSeconds[level];
    absl::StrAppend(&sql, "CREATE TABLE ", kFailureTables[level],
                    " (minute bigint NOT NULL, outcome bigint NOT NULL,"
                    " region text COLLATE \"C\" NOT NULL, relay text COLLATE \"C\" NOT NULL,"
                    " port bigint NOT NULL, route_kind bigint NOT NULL, n bigint NOT NULL,"
                    " first_us bigint NOT NULL, last_us bigint NOT NULL, agents bigint[] NOT NULL,"
                    " sites bigint[] NOT NULL,"
                    " PRIMARY KEY (minute, outcome, region, relay, port, route_kind));",
                    "INSERT INTO ", kFailureTables[level], " SELECT floor(start_us / ", w * 1000000,
                    ".0)::bigint * ", w,
                    " AS m, outcome, region, relay, port, route_kind, COUNT(*), MIN(start_us),"
                    " MAX(start_us), ARRAY_AGG(DISTINCT hashtextextended(agent_id, 0) ORDER BY"
                    " hashtextextended(agent_id, 0)), ARRAY_AGG(DISTINCT hashtextextended(site, 0)"
                    " ORDER BY hashtextextended(site, 0)) FROM attempts WHERE outcome <> ",
                    v1::OUTCOME_OK, " GROUP BY m, outcome, region, relay, port, route_kind;");
  }
  return sql;
}

// Schema migrations, applied in order; relayscope_schema.version counts
// them. They mirror the SQLite store's. Text columns use the "C" collation
// so that ordering is bytewise, as in SQLite, whatever the cluster's locale.
std::vector<std::string> Migrations() {
  std::string bucket_defs;
  for (const char* prefix : {"c", "h"}) {
    for (int i = 0; i < kLatencyBuckets; ++i) {
      absl::StrAppend(&bucket_defs, ", ", prefix, i, " bigint NOT NULL DEFAULT 0");
    }
  }
  return {
      absl::StrCat(
          "CREATE TABLE attempts ("
          " agent_id text COLLATE \"C\" NOT NULL, session_id text COLLATE \"C\" NOT NULL,"
          " sequence bigint NOT NULL, start_us bigint NOT NULL, site text COLLATE \"C\" NOT NULL,"
          " region text COLLATE \"C\" NOT NULL, relay text COLLATE \"C\" NOT NULL,"
          " port bigint NOT NULL, route_kind bigint NOT NULL, outcome bigint NOT NULL,"
          " proxy_status bigint NOT NULL, attempt bytea NOT NULL,"
          " PRIMARY KEY (agent_id, session_id, sequence));"
          "CREATE INDEX attempts_by_start ON attempts(start_us);"
          "CREATE TABLE sessions ("
          " agent_id text COLLATE \"C\" NOT NULL, session_id text COLLATE \"C\" NOT NULL,"
          " site text COLLATE \"C\" NOT NULL, updated_us bigint NOT NULL, report bytea NOT NULL,"
          " PRIMARY KEY (agent_id, session_id));"
          "CREATE TABLE rollups ("
          " minute bigint NOT NULL, region text COLLATE \"C\" NOT NULL,"
          " relay text COLLATE \"C\" NOT NULL, port bigint NOT NULL, route_kind bigint NOT NULL,"
          " outcome bigint NOT NULL, attempts bigint NOT NULL",
          bucket_defs, ", PRIMARY KEY (minute, region, relay, port, route_kind, outcome));"),
      "CREATE INDEX sessions_by_updated ON sessions(updated_us);",
      WindowRollupsMigration(bucket_defs),
  };
}

// Serialises schema migrations of collectors starting at the same time.
constexpr int64_t kMigrationLock = 0x72656c6179;  // "relay"

// Rows per multi-row statement (PostgreSQL allows 65535 parameters; a
// rollup row has 33).
constexpr size_t kRowsPerStatement = 1000;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Statement parameters: text, or binary for bytea.
class Params {
 public:
  // Appends a value; returns its placeholder ("$N").
  std::string Text(std::string value) { return Add(std::move(value), 0); }
  std::string Int(int64_t value) { return Add(absl::StrCat(value), 0); }
  std::string Binary(std::string value) { return Add(std::move(value), 1); }
  std::string Value(const Where::Value& value) {
    if (const auto* number = std::get_if<int64_t>(&value)) return Int(*number);
    return Text(std::get<std::string>(value));
  }
  void AddAll(const Where& where) {
    for (const auto& value : where.values) Value(value);
  }
  int size() const { return static_cast<int>(values_.size()); }

  PGresult* Exec(PGconn* conn, const std::string& sql) const {
    std::vector<const char*> pointers;
    std::vector<int> lengths;
    for (const std::string& v : values_) {
      pointers.push_back(v.data());
      lengths.push_back(static_cast<int>(v.size()));
    }
    return PQexecParams(conn, sql.c_str(), size(), nullptr, pointers.data(), lengths.data(),
                        formats_.data(), /*resultFormat=*/0);
  }

 private:
  std::string Add(std::string value, int format) {
    values_.push_back(std::move(value));
    formats_.push_back(format);
    return absl::StrCat("$", values_.size());
  }
  std::vector<std::string> values_;
  std::vector<int> formats_;
};

absl::Status PgError(PGconn* conn, const PGresult* result, absl::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = result ? PQresultErrorMessage(result) : "";
  if (detail.empty()) detail = PQerrorMessage(conn);
  const std::string message = absl::StrCat(what, ": ", absl::StripAsciiWhitespace(detail),
                                           state ? " (" : "", state ? state : "", state ? ")" : "");
  const std::string code = state ? state : "";
  if (code.empty() || PQstatus(conn) != CONNECTION_OK || absl::StartsWith(code, "08") ||
      absl::StartsWith(code, "57P")) {
    return absl::UnavailableError(message);
  }
  if (absl::StartsWith(code, "53")) {  // disk full, out of memory, too many connections
    return absl::ResourceExhaustedError(absl::StrCat("store is full: ", message));
  }
  if (code == "40001" || code == "40P01") return absl::AbortedError(message);
  return absl::InternalError(message);
}

std::string Cell(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}
int64_t CellInt(const PGresult* r, int row, int col) {
  int64_t value = 0;
  return absl::SimpleAtoi(Cell(r, row, col), &value) ? value : 0;
}
uint64_t CellCount(const PGresult* r, int row, int col) {
  return static_cast<uint64_t>(CellInt(r, row, col));
}
absl::Time CellMicros(const PGresult* r, int row, int col) {
  return absl::FromUnixMicros(CellInt(r, row, col));
}
std::string CellBytes(const PGresult* r, int row, int col) {
  size_t length = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &length);
  if (bytes == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

// One libpq connection; reconnects when it finds the connection broken.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& url) {
    // The URL's own parameters win; these fill in what it leaves out.
    const char* keywords[] = {"dbname", "connect_timeout", "application_name", "options", nullptr};
    const char* values[] = {url.c_str(), "5", "relayscope-collector",
                            "-c statement_timeout=30000 -c lock_timeout=30000", nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    std::unique_ptr<Connection> connection(new Connection(conn));
    // Notices ("relation already exists, skipping") are not errors; the
    // default processor would print them on stderr.
    if (conn != nullptr)
      PQsetNoticeProcessor(
          conn, [](void*, const char*) {}, nullptr);
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", RedactUrl(url), ": ",
                       absl::StripAsciiWhitespace(conn ? PQerrorMessage(conn) : "out of memory")));
    }
    return connection;
  }
  ~Connection() { PQfinish(conn_); }

  // Reconnects once if the server went away since the last statement.
  absl::Status EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("the PostgreSQL store is unreachable: ",
                                               absl::StripAsciiWhitespace(PQerrorMessage(conn_))));
  }

  // Runs `sql`; the result of a query or a command, or its error.
  absl::StatusOr<Result> Exec(const std::string& sql, const Params& params,
                              absl::string_view what) {
    Result result(params.Exec(conn_, sql));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      return PgError(conn_, result.get(), what);
    }
    return result;
  }
  absl::Status Run(const std::string& sql, absl::string_view what) {
    Result result(PQexec(conn_, sql.c_str()));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      return PgError(conn_, result.get(), what);
    }
    return absl::OkStatus();
  }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

using AttemptKey = std::tuple<std::string, std::string, uint64_t>;

// A queued batch (its session metadata already serialized), or a prune.
struct Pending {
  IngestBatch batch;
  SessionUpdate session;
  std::optional<absl::Time> prune_before;
  Store::CommitCallback done;
};

class PostgresStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& url) {
    std::unique_ptr<PostgresStore> store(new PostgresStore());
    auto writer = Connection::Open(url);
    if (!writer.ok()) return writer.status();
    store->writer_ = *std::move(writer);
    if (absl::Status s = store->Migrate(); !s.ok()) return s;
    auto reader = Connection::Open(url);
    if (!reader.ok()) return reader.status();
    {
      absl::MutexLock lock(&store->reader_mu_);
      store->reader_ = *std::move(reader);
    }
    store->queue_.Start(
        [raw = store.get()](std::deque<Pending>& group) { raw->CommitGroup(group); });
    return std::unique_ptr<Store>(std::move(store));
  }

  ~PostgresStore() override { queue_.Stop(); }

  void CommitAsync(IngestBatch batch, CommitCallback done) override {
    Pending pending;
    pending.session = TakeSessionMetadata(&batch);
    pending.batch = std::move(batch);
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
    const int level = UsableLevel(kRollupLevelSeconds, kRollupLevelCount, from, to,
                                  absl::ToInt64Seconds(resolution));
    absl::MutexLock lock(&reader_mu_);
    std::vector<RollupRow> rows;
    if (absl::Status st =
            CoverRange(kRollupLevelSeconds, level, from, to,
                       [&](int l, int64_t a, int64_t b) { return ReadRollups(l, a, b, &rows); });
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
    const int level = UsableLevel(kRollupLevelSeconds, kRollupLevelCount, from, to,
                                  absl::ToInt64Seconds(resolution));
    absl::MutexLock lock(&reader_mu_);
    std::vector<ReachabilityRow> rows;
    auto read = [&](int l, int64_t a, int64_t b) -> absl::Status {
      Params p;
      const std::string sql =
          absl::StrCat("SELECT minute, region, relay, port, attempts, ok, ", BucketColumns("c"),
                       ", ", BucketColumns("h"), " FROM ", kRollupLevels[l].reach_table,
                       " WHERE minute >= ", p.Int(a), " AND minute < ", p.Int(b));
      auto r = Query(sql, p, "reading reachability rollups");
      if (!r.ok()) return r.status();
      const PGresult* res = r->get();
      for (int i = 0; i < PQntuples(res); ++i) {
        ReachabilityRow row;
        row.minute = absl::FromUnixSeconds(CellInt(res, i, 0));
        row.region = Cell(res, i, 1);
        row.relay = Cell(res, i, 2);
        row.port = static_cast<uint32_t>(CellInt(res, i, 3));
        row.attempts = CellCount(res, i, 4);
        row.ok = CellCount(res, i, 5);
        for (int k = 0; k < kLatencyBuckets; ++k) {
          row.connect_buckets.push_back(CellCount(res, i, 6 + k));
          row.handshake_buckets.push_back(CellCount(res, i, 6 + kLatencyBuckets + k));
        }
        rows.push_back(std::move(row));
      }
      return absl::OkStatus();
    };
    if (absl::Status st = CoverRange(kRollupLevelSeconds, level, from, to, read); !st.ok()) {
      return st;
    }
    std::sort(rows.begin(), rows.end(), [](const ReachabilityRow& a, const ReachabilityRow& b) {
      return std::tie(a.minute, a.region, a.relay, a.port) <
             std::tie(b.minute, b.region, b.relay, b.port);
    });
    return rows;
  }

  absl::Status ReadRollups(int level, int64_t from, int64_t to, std::vector<RollupRow>* rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    Params p;
    const std::string sql =
        absl::StrCat("SELECT minute, region, relay, port, route_kind, outcome, attempts, ",
                     BucketColumns("c"), ", ", BucketColumns("h"), " FROM ",
                     kRollupLevels[level].table, " WHERE minute >= ", p.Int(from), " AND minute < ",
                     p.Int(to), " ORDER BY minute, region, relay, port, route_kind, outcome");
    auto r = Query(sql, p, "reading rollups");
    if (!r.ok()) return r.status();
    const PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      RollupRow row;
      row.minute = absl::FromUnixSeconds(CellInt(res, i, 0));
      row.region = Cell(res, i, 1);
      row.relay = Cell(res, i, 2);
      row.port = static_cast<uint32_t>(CellInt(res, i, 3));
      row.route_kind = static_cast<v1::RouteKind>(CellInt(res, i, 4));
      row.outcome = static_cast<v1::Outcome>(CellInt(res, i, 5));
      row.attempts = CellCount(res, i, 6);
      for (int b = 0; b < kLatencyBuckets; ++b) {
        row.connect_buckets.push_back(CellCount(res, i, 7 + b));
        row.handshake_buckets.push_back(CellCount(res, i, 7 + kLatencyBuckets + b));
      }
      rows->push_back(std::move(row));
    }
    return absl::OkStatus();
  }

  // Failure groups without a site filter: counts from the failure-pattern
  // rollups of the whole intervals in the range and the attempts of its
  // ragged ends (the range narrowed to the attempts still stored); the
  // distinct agents and sites, and the example, for the page's groups
  // only (all of them from FailureGroups).
  absl::StatusOr<std::vector<FailureGroup>> FailureGroupsPage(const AttemptFilter& filter,
                                                              size_t examples_from,
                                                              size_t examples_count) override {
    if (!filter.site.empty()) return FailureGroups(filter);
    absl::MutexLock lock(&reader_mu_);
    auto range = Query("SELECT MIN(start_us), MAX(start_us) FROM attempts", Params(),
                       "reading the stored range");
    if (!range.ok()) return range.status();
    std::vector<FailureGroup> groups;
    if (PQgetisnull(range->get(), 0, 0)) return groups;
    const int64_t from = std::max(absl::ToUnixMicros(filter.start), CellInt(range->get(), 0, 0));
    const int64_t to = std::min(absl::ToUnixMicros(filter.end), CellInt(range->get(), 0, 1) + 1);
    if (from >= to) return groups;
    constexpr int64_t kWidthsUs[] = {1, kFailureLevelSeconds[0] * 1000000,
                                     kFailureLevelSeconds[1] * 1000000,
                                     kFailureLevelSeconds[2] * 1000000};
    // One statement: the pieces as a UNION ALL (with_sets: their id sets).
    auto pieces_sql = [&](Params* p, bool with_sets, const std::string& keys) {
      const Where dims = DimensionClause(filter, '$', p->size() + 1);
      p->AddAll(dims);
      std::vector<std::string> parts;
      CoverRange(kWidthsUs, kFailureLevels, from, to, [&](int level, int64_t a, int64_t b) {
        if (level == 0) {
          parts.push_back(
              absl::StrCat("SELECT outcome, region, relay, port, route_kind, ",
                           with_sets ? "ARRAY[hashtextextended(agent_id, 0)] AS agents, "
                                       "ARRAY[hashtextextended(site, 0)] AS sites"
                                     : "1::bigint AS n, start_us AS first_us, start_us AS last_us",
                           " FROM attempts WHERE start_us >= ", p->Int(a), " AND start_us < ",
                           p->Int(b), " AND outcome <> ", v1::OUTCOME_OK, dims.sql, keys));
        } else {
          parts.push_back(absl::StrCat("SELECT outcome, region, relay, port, route_kind, ",
                                       with_sets ? "agents, sites" : "n, first_us, last_us",
                                       " FROM ", kFailureTables[level - 1],
                                       " WHERE minute >= ", p->Int(a / 1000000), " AND minute < ",
                                       p->Int(b / 1000000), dims.sql, keys));
        }
        return absl::OkStatus();
      }).IgnoreError();
      return absl::StrJoin(parts, " UNION ALL ");
    };
    {
      Params p;
      const std::string sql = absl::StrCat(
          "SELECT outcome, region, relay, port, route_kind, SUM(n), MIN(first_us), MAX(last_us) "
          "FROM (",
          pieces_sql(&p, false, ""), ") pieces GROUP BY outcome, region, relay, port, route_kind");
      auto r = Query(sql, p, "reading failure rollups");
      if (!r.ok()) return r.status();
      const PGresult* res = r->get();
      for (int i = 0; i < PQntuples(res); ++i) {
        FailureGroup g;
        g.outcome = static_cast<v1::Outcome>(CellInt(res, i, 0));
        g.region = Cell(res, i, 1);
        g.relay = Cell(res, i, 2);
        g.port = static_cast<uint32_t>(CellInt(res, i, 3));
        g.route_kind = static_cast<v1::RouteKind>(CellInt(res, i, 4));
        g.count = CellCount(res, i, 5);
        g.first_seen = CellMicros(res, i, 6);
        g.last_seen = CellMicros(res, i, 7);
        groups.push_back(std::move(g));
      }
    }
    std::sort(groups.begin(), groups.end(), [](const FailureGroup& a, const FailureGroup& b) {
      if (a.count != b.count) return a.count > b.count;
      if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
      return std::tie(a.outcome, a.region, a.relay, a.port, a.route_kind) <
             std::tie(b.outcome, b.region, b.relay, b.port, b.route_kind);
    });
    const size_t page_end = examples_from + std::min(examples_count, groups.size());
    if (examples_from >= groups.size()) return groups;
    // The page's distinct agents and sites, in one statement.
    Params p;
    std::vector<std::string> tuples;
    std::map<std::tuple<int, std::string, std::string, uint32_t, int>, FailureGroup*> by_key;
    for (size_t i = examples_from; i < groups.size() && i < page_end; ++i) {
      FailureGroup& g = groups[i];
      tuples.push_back(absl::StrCat("(", p.Int(g.outcome), "::bigint,", p.Text(g.region), "::text,",
                                    p.Text(g.relay), "::text,", p.Int(g.port), "::bigint,",
                                    p.Int(g.route_kind), "::bigint)"));
      by_key[{g.outcome, g.region, g.relay, g.port, g.route_kind}] = &g;
    }
    const std::string keys = absl::StrCat(" AND (outcome, region, relay, port, route_kind) IN (",
                                          absl::StrJoin(tuples, ","), ")");
    const std::string sql = absl::StrCat(
        "WITH s AS (", pieces_sql(&p, true, keys),
        ") SELECT outcome, region, relay, port, route_kind, (SELECT COUNT(DISTINCT a) FROM "
        "unnest(array_agg_agents) a), (SELECT COUNT(DISTINCT b) FROM unnest(array_agg_sites) b) "
        "FROM (SELECT outcome, region, relay, port, route_kind, array_agg(x.a) AS "
        "array_agg_agents, array_agg(x.b) AS array_agg_sites FROM s, LATERAL (SELECT "
        "unnest(s.agents) AS a, NULL::bigint AS b UNION ALL SELECT NULL, unnest(s.sites)) x "
        "GROUP BY outcome, region, relay, port, route_kind) g");
    auto r = Query(sql, p, "reading failure sets");
    if (!r.ok()) return r.status();
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      auto it = by_key.find({static_cast<int>(CellInt(r->get(), i, 0)), Cell(r->get(), i, 1),
                             Cell(r->get(), i, 2), static_cast<uint32_t>(CellInt(r->get(), i, 3)),
                             static_cast<int>(CellInt(r->get(), i, 4))});
      if (it == by_key.end()) continue;
      it->second->agents = CellCount(r->get(), i, 5);
      it->second->sites = CellCount(r->get(), i, 6);
    }
    // Each shown group's latest attempt, by the time index.
    for (auto& [key, g] : by_key) {
      const Where where = FilterClause(filter, /*with_site=*/true, '$');
      Params q;
      q.AddAll(where);
      const std::string example =
          absl::StrCat("SELECT attempt, agent_id FROM attempts WHERE ", where.sql,
                       " AND start_us = ", q.Int(absl::ToUnixMicros(g->last_seen)),
                       " AND outcome = ", q.Int(g->outcome), " AND region = ", q.Text(g->region),
                       " AND relay = ", q.Text(g->relay), " AND port = ", q.Int(g->port),
                       " AND route_kind = ", q.Int(g->route_kind),
                       " ORDER BY agent_id DESC, session_id DESC, sequence DESC LIMIT 1");
      auto e = Query(example, q, "reading a failure example");
      if (!e.ok()) return e.status();
      if (PQntuples(e->get()) > 0) {
        g->example.ParseFromString(CellBytes(e->get(), 0, 0));
        g->example_agent_id = Cell(e->get(), 0, 1);
      }
    }
    return groups;
  }

  absl::StatusOr<std::vector<FailureGroup>> FailureGroups(const AttemptFilter& filter) override {
    if (filter.site.empty()) return FailureGroupsPage(filter, 0, SIZE_MAX);
    const Where where = FilterClause(filter, /*with_site=*/true, '$');
    Params p;
    p.AddAll(where);
    constexpr char kGroup[] = "outcome, region, relay, port, route_kind";
    // Counts per group, and the group's latest attempt (DISTINCT ON).
    const std::string sql = absl::StrCat(
        "WITH f AS (SELECT * FROM attempts WHERE ", where.sql, " AND outcome <> ", v1::OUTCOME_OK,
        "), g AS (SELECT ", kGroup,
        ", COUNT(*) AS n, COUNT(DISTINCT site) AS sites, COUNT(DISTINCT agent_id) AS agents, "
        "MIN(start_us) AS first_us, MAX(start_us) AS last_us FROM f GROUP BY ",
        kGroup, "), l AS (SELECT DISTINCT ON (", kGroup, ") ", kGroup,
        ", attempt, agent_id AS example_agent FROM f ORDER BY ", kGroup,
        ", start_us DESC, agent_id DESC, session_id DESC, sequence DESC) "
        "SELECT outcome, region, relay, port, route_kind, n, sites, agents, first_us, last_us, "
        "attempt, example_agent FROM g JOIN l USING (",
        kGroup, ") ORDER BY n DESC, last_us DESC, ", kGroup);
    absl::MutexLock lock(&reader_mu_);
    auto r = Query(sql, p, "reading failure patterns");
    if (!r.ok()) return r.status();
    std::vector<FailureGroup> groups;
    const PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      FailureGroup g;
      g.outcome = static_cast<v1::Outcome>(CellInt(res, i, 0));
      g.region = Cell(res, i, 1);
      g.relay = Cell(res, i, 2);
      g.port = static_cast<uint32_t>(CellInt(res, i, 3));
      g.route_kind = static_cast<v1::RouteKind>(CellInt(res, i, 4));
      g.count = CellCount(res, i, 5);
      g.sites = CellCount(res, i, 6);
      g.agents = CellCount(res, i, 7);
      g.first_seen = CellMicros(res, i, 8);
      g.last_seen = CellMicros(res, i, 9);
      g.example.ParseFromString(CellBytes(res, i, 10));
      g.example_agent_id = Cell(res, i, 11);
      groups.push_back(std::move(g));
    }
    return groups;
  }

  absl::StatusOr<std::vector<SiteRow>> Sites(const AttemptFilter& filter) override {
    const Where where = FilterClause(filter, /*with_site=*/false, '$');
    Params p;
    p.AddAll(where);
    // Totals per site and, per site, the outcome behind most failures
    // (ties: the lowest outcome value).
    const std::string sql = absl::StrCat(
        "WITH f AS (SELECT site, agent_id, session_id, outcome, start_us FROM attempts WHERE ",
        where.sql, "), t AS (SELECT site, COUNT(DISTINCT agent_id) AS agents, COUNT(DISTINCT ",
        kSessionKey, ") AS sessions, COUNT(*) AS n, COUNT(*) FILTER (WHERE outcome <> ",
        v1::OUTCOME_OK,
        ") AS failures, MAX(start_us) AS last_us FROM f GROUP BY site), o AS (SELECT DISTINCT ON "
        "(site) site, outcome FROM f WHERE outcome <> ",
        v1::OUTCOME_OK,
        " GROUP BY site, outcome ORDER BY site, COUNT(*) DESC, outcome) SELECT t.site, agents, "
        "sessions, n, failures, last_us, COALESCE(o.outcome, 0) FROM t LEFT JOIN o USING (site) "
        "ORDER BY t.site");
    absl::MutexLock lock(&reader_mu_);
    auto r = Query(sql, p, "reading sites");
    if (!r.ok()) return r.status();
    std::vector<SiteRow> sites;
    const PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      SiteRow row;
      row.site = Cell(res, i, 0);
      row.agents = CellCount(res, i, 1);
      row.sessions = CellCount(res, i, 2);
      row.attempts = CellCount(res, i, 3);
      row.failures = CellCount(res, i, 4);
      row.last_seen = CellMicros(res, i, 5);
      row.top_failure = static_cast<v1::Outcome>(CellInt(res, i, 6));
      sites.push_back(std::move(row));
    }
    return sites;
  }

  absl::StatusOr<std::vector<ActivityRow>> Activity(absl::Time start, absl::Time end,
                                                    absl::Duration step) override {
    if (step <= absl::ZeroDuration()) return absl::InvalidArgumentError("step must be positive");
    const int64_t step_us = absl::ToInt64Microseconds(step);
    Params p;
    const std::string from = p.Int(absl::ToUnixMicros(start));
    const std::string width = p.Int(step_us);
    const std::string to = p.Int(absl::ToUnixMicros(end));
    const std::string sql = absl::StrCat(
        "SELECT (start_us - ", from, "::bigint) / ", width,
        "::bigint AS b, COUNT(DISTINCT agent_id), COUNT(DISTINCT site), COUNT(DISTINCT ",
        kSessionKey, "), COUNT(*) FROM attempts WHERE start_us >= ", from,
        "::bigint AND start_us < ", to, "::bigint GROUP BY b ORDER BY b");
    absl::MutexLock lock(&reader_mu_);
    auto r = Query(sql, p, "reading activity");
    if (!r.ok()) return r.status();
    std::vector<ActivityRow> rows;
    const PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      ActivityRow row;
      row.time = start + absl::Microseconds(CellInt(res, i, 0) * step_us);
      row.agents = CellCount(res, i, 1);
      row.sites = CellCount(res, i, 2);
      row.sessions = CellCount(res, i, 3);
      row.attempts = CellCount(res, i, 4);
      rows.push_back(row);
    }
    return rows;
  }

  absl::StatusOr<std::vector<SessionRow>> Sessions(absl::Time start, absl::Time end,
                                                   const std::string& site, size_t offset,
                                                   size_t limit) override {
    Params p;
    const std::string from = p.Int(absl::ToUnixMicros(start));
    const std::string to = p.Int(absl::ToUnixMicros(end));
    const std::string site_param = p.Text(site);
    const std::string sql = absl::StrCat(
        "SELECT s.agent_id, s.session_id, s.site, s.updated_us, s.report, (SELECT COUNT(*) FROM "
        "attempts a WHERE a.agent_id = s.agent_id AND a.session_id = s.session_id), (SELECT "
        "COUNT(*) FROM attempts a WHERE a.agent_id = s.agent_id AND a.session_id = s.session_id "
        "AND a.outcome <> ",
        v1::OUTCOME_OK, ") FROM sessions s WHERE s.updated_us >= ", from,
        "::bigint AND s.updated_us < ", to, "::bigint AND (", site_param,
        "::text = '' OR s.site = ", site_param,
        "::text) ORDER BY s.updated_us DESC, s.agent_id, s.session_id LIMIT ",
        p.Int(static_cast<int64_t>(limit)), "::bigint OFFSET ", p.Int(static_cast<int64_t>(offset)),
        "::bigint");
    absl::MutexLock lock(&reader_mu_);
    auto r = Query(sql, p, "reading sessions");
    if (!r.ok()) return r.status();
    std::vector<SessionRow> rows;
    const PGresult* res = r->get();
    for (int i = 0; i < PQntuples(res); ++i) {
      SessionRow row;
      row.agent_id = Cell(res, i, 0);
      row.session_id = Cell(res, i, 1);
      row.site = Cell(res, i, 2);
      row.updated = CellMicros(res, i, 3);
      row.report.ParseFromString(CellBytes(res, i, 4));
      row.attempts = CellCount(res, i, 5);
      row.failures = CellCount(res, i, 6);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  absl::StatusOr<v1::SessionReport> Session(const std::string& agent_id,
                                            const std::string& session_id) override {
    absl::MutexLock lock(&reader_mu_);
    v1::SessionReport report;
    {
      Params p;
      const std::string sql =
          absl::StrCat("SELECT report FROM sessions WHERE agent_id = ", p.Text(agent_id),
                       " AND session_id = ", p.Text(session_id));
      auto r = Query(sql, p, "reading a session");
      if (!r.ok()) return r.status();
      if (PQntuples(r->get()) > 0) report.ParseFromString(CellBytes(r->get(), 0, 0));
    }
    Params p;
    const std::string sql =
        absl::StrCat("SELECT attempt FROM attempts WHERE agent_id = ", p.Text(agent_id),
                     " AND session_id = ", p.Text(session_id), " ORDER BY sequence");
    auto r = Query(sql, p, "reading a session");
    if (!r.ok()) return r.status();
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      report.add_attempts()->ParseFromString(CellBytes(r->get(), i, 0));
    }
    if (report.attempts().empty()) {
      return absl::NotFoundError(
          absl::StrCat("no attempts stored for session ", session_id, " of agent ", agent_id));
    }
    return report;
  }

  absl::StatusOr<uint64_t> PruneAttemptsBefore(absl::Time cutoff) override {
    return queue_.Prune(cutoff);
  }

  absl::StatusOr<uint64_t> CountAttempts() override {
    absl::MutexLock lock(&reader_mu_);
    auto r = Query("SELECT COUNT(*) FROM attempts", Params(), "counting attempts");
    if (!r.ok()) return r.status();
    return CellCount(r->get(), 0, 0);
  }

  size_t QueueDepth() override { return queue_.Depth(); }

 private:
  static constexpr size_t kMaxQueued = 4096;
  static constexpr int kGroupAttempts = 3;  // tries of a group after deadlocks

  PostgresStore() : queue_(kMaxQueued) {}

  absl::StatusOr<Result> Query(const std::string& sql, const Params& params, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    if (absl::Status s = reader_->EnsureConnected(); !s.ok()) return s;
    return reader_->Exec(sql, params, what);
  }

  absl::Status Migrate() {
    const std::vector<std::string> migrations = Migrations();
    absl::Status status = writer_->Run("BEGIN", "migrating");
    if (status.ok()) {
      status = writer_->Run(absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLock,
                                         "); CREATE TABLE IF NOT EXISTS relayscope_schema "
                                         "(version integer NOT NULL)"),
                            "migrating");
    }
    int64_t current = 0;
    if (status.ok()) {
      auto r = writer_->Exec("SELECT version FROM relayscope_schema", Params(), "migrating");
      if (!r.ok()) {
        status = r.status();
      } else if (PQntuples(r->get()) == 0) {
        status = writer_->Run("INSERT INTO relayscope_schema VALUES (0)", "migrating");
      } else {
        current = CellInt(r->get(), 0, 0);
      }
    }
    if (status.ok() && current > static_cast<int64_t>(migrations.size())) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "the store has schema version ", current, " but this collector knows only up to ",
          migrations.size(), "; use a newer collector"));
    }
    for (int64_t v = current; status.ok() && v < static_cast<int64_t>(migrations.size()); ++v) {
      status = writer_->Run(
          absl::StrCat(migrations[v], "; UPDATE relayscope_schema SET version = ", v + 1),
          absl::StrCat("migrating to schema ", v + 1));
    }
    if (status.ok()) status = writer_->Run("COMMIT", "migrating");
    if (!status.ok()) writer_->Run("ROLLBACK", "rolling back").IgnoreError();
    return status;
  }

  void CommitGroup(std::deque<Pending>& work) {
    std::vector<absl::StatusOr<CommitResult>> results;
    absl::Status status;
    for (int attempt = 0; attempt < kGroupAttempts; ++attempt) {
      results.assign(work.size(), CommitResult());
      status = writer_->EnsureConnected();
      if (status.ok()) status = writer_->Run("BEGIN", "starting a commit");
      if (status.ok()) status = WriteGroup(work, &results);
      if (status.ok()) status = writer_->Run("COMMIT", "committing");
      if (status.ok()) break;
      writer_->Run("ROLLBACK", "rolling back").IgnoreError();
      if (status.code() != absl::StatusCode::kAborted) break;  // only deadlocks are retried
    }
    if (!status.ok()) {
      for (auto& r : results) r = status;
    }
    for (size_t i = 0; i < work.size(); ++i) work[i].done(results[i]);
  }

  absl::Status WriteGroup(std::deque<Pending>& work,
                          std::vector<absl::StatusOr<CommitResult>>* results) {
    for (size_t i = 0; i < work.size(); ++i) {
      if (!work[i].prune_before) continue;
      Params p;
      auto r = writer_->Exec(absl::StrCat("DELETE FROM attempts WHERE start_us < ",
                                          p.Int(absl::ToUnixMicros(*work[i].prune_before))),
                             p, "pruning");
      if (!r.ok()) return r.status();
      int64_t deleted = 0;
      (void)absl::SimpleAtoi(PQcmdTuples(r->get()), &deleted);
      (*results)[i]->accepted = static_cast<uint32_t>(deleted);
    }
    std::set<AttemptKey> inserted;
    if (absl::Status s = InsertAttempts(work, &inserted); !s.ok()) return s;
    // Per batch, in order: an attempt is new if this group inserted it, and
    // only its first occurrence in the group is.
    RollupDeltas rollups;
    std::map<std::pair<std::string, std::string>, std::pair<std::string, SessionUpdate>> sessions;
    for (size_t i = 0; i < work.size(); ++i) {
      if (work[i].prune_before) continue;
      const IngestBatch& batch = work[i].batch;
      CommitResult& result = *(*results)[i];
      for (const v1::Attempt& a : batch.attempts) {
        const bool is_new =
            inserted.erase(AttemptKey{batch.agent.agent_id(), batch.session_id, a.sequence()}) > 0;
        result.is_new.push_back(is_new);
        if (!is_new) {
          ++result.duplicates;
          continue;
        }
        ++result.accepted;
        AddToRollups(a, &rollups);
      }
      const SessionUpdate& update = work[i].session;
      auto [it, created] = sessions.try_emplace({batch.agent.agent_id(), batch.session_id},
                                                batch.agent.site(), update);
      if (!created && update.carries_metadata) it->second = {batch.agent.site(), update};
    }
    if (absl::Status s = WriteSessions(sessions); !s.ok()) return s;
    if (absl::Status s = WriteRollups(rollups); !s.ok()) return s;
    return WriteWindowRollups(work, *results, rollups);
  }

  // The coarse, reachability and failure-pattern rollups of the group's
  // new attempts, summed in memory: one upsert per key and level, in key
  // order (two writers never wait for each other in opposite orders).
  absl::Status WriteWindowRollups(const std::deque<Pending>& work,
                                  const std::vector<absl::StatusOr<CommitResult>>& results,
                                  const RollupDeltas& minutes) {
    for (int level = 1; level < kRollupLevelCount; ++level) {
      if (absl::Status s = WriteRollupsTo(kRollupLevels[level].table,
                                          CoarsenRollups(minutes, kRollupLevels[level].seconds));
          !s.ok()) {
        return s;
      }
    }
    for (int level = 0; level < kRollupLevelCount; ++level) {
      if (absl::Status s = WriteReachability(kRollupLevels[level].reach_table,
                                             ToReachability(minutes, kRollupLevels[level].seconds));
          !s.ok()) {
        return s;
      }
    }
    for (int level = 0; level < kFailureLevels; ++level) {
      // Per key: the agents' and sites' ids (hashed by PostgreSQL).
      std::map<FailureKey,
               std::tuple<FailureDelta, std::vector<std::string>, std::vector<std::string>>>
          failures;
      for (size_t i = 0; i < work.size(); ++i) {
        if (work[i].prune_before || !results[i].ok()) continue;
        const IngestBatch& batch = work[i].batch;
        const std::vector<bool>& is_new = results[i]->is_new;
        for (size_t j = 0; j < batch.attempts.size() && j < is_new.size(); ++j) {
          const v1::Attempt& a = batch.attempts[j];
          if (!is_new[j] || a.outcome() == v1::OUTCOME_OK) continue;
          FailureDeltas one;
          AddFailure(kFailureLevelSeconds[level], TimeUtil::TimestampToMicroseconds(a.start_time()),
                     a.outcome(), a.region(), a.relay(), a.port(), a.route_kind(),
                     batch.agent.agent_id(), batch.agent.site(), &one);
          auto& [key, d] = *one.begin();
          auto& [sum, agents, sites] = failures[key];
          if (sum.count == 0 || d.first_us < sum.first_us) sum.first_us = d.first_us;
          if (sum.count == 0 || d.last_us > sum.last_us) sum.last_us = d.last_us;
          ++sum.count;
          agents.push_back(batch.agent.agent_id());
          sites.push_back(batch.agent.site());
        }
      }
      auto array = [](const std::vector<std::string>& ids) {
        std::string out = "{";
        for (size_t i = 0; i < ids.size(); ++i) {
          absl::StrAppend(&out, i ? "," : "", "\"");
          for (char c : ids[i]) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
          }
          out.push_back('"');
        }
        return out + "}";
      };
      const std::string table = kFailureTables[level];
      auto it = failures.begin();
      while (it != failures.end()) {
        Params p;
        std::string sql = absl::StrCat(
            "INSERT INTO ", table,
            " (minute, outcome, region, relay, port, route_kind, n, first_us, last_us, agents, "
            "sites) VALUES ");
        for (size_t n = 0; it != failures.end() && n < kRowsPerStatement; ++it, ++n) {
          const auto& [key, value] = *it;
          const auto& [sum, agents, sites] = value;
          absl::StrAppend(
              &sql, n == 0 ? "(" : ",(", p.Int(std::get<0>(key)), "::bigint,",
              p.Int(std::get<1>(key)), "::bigint,", p.Text(std::get<2>(key)), ",",
              p.Text(std::get<3>(key)), ",", p.Int(std::get<4>(key)), "::bigint,",
              p.Int(std::get<5>(key)), "::bigint,", p.Int(static_cast<int64_t>(sum.count)),
              "::bigint,", p.Int(sum.first_us), "::bigint,", p.Int(sum.last_us),
              "::bigint, ARRAY(SELECT DISTINCT hashtextextended(x, 0) FROM unnest(",
              p.Text(array(agents)),
              "::text[]) x ORDER BY 1), ARRAY(SELECT DISTINCT hashtextextended(x, 0) FROM unnest(",
              p.Text(array(sites)), "::text[]) x ORDER BY 1))");
        }
        absl::StrAppend(&sql,
                        " ON CONFLICT (minute, outcome, region, relay, port, route_kind) DO "
                        "UPDATE SET n = ",
                        table, ".n + excluded.n, first_us = LEAST(", table,
                        ".first_us, excluded.first_us), last_us = GREATEST(", table,
                        ".last_us, excluded.last_us), agents = ARRAY(SELECT DISTINCT unnest(",
                        table,
                        ".agents || excluded.agents) ORDER BY 1), sites = ARRAY(SELECT "
                        "DISTINCT unnest(",
                        table, ".sites || excluded.sites) ORDER BY 1)");
        auto r = writer_->Exec(sql, p, "updating failure rollups");
        if (!r.ok()) return r.status();
      }
    }
    return absl::OkStatus();
  }

  absl::Status WriteReachability(const char* table, const ReachabilityDeltas& rows) {
    std::string updates;
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) {
        absl::StrAppend(&updates, ", ", prefix, i, " = ", table, ".", prefix, i, " + excluded.",
                        prefix, i);
      }
    }
    auto it = rows.begin();
    while (it != rows.end()) {
      Params p;
      std::string sql =
          absl::StrCat("INSERT INTO ", table, " (minute, region, relay, port, attempts, ok, ",
                       BucketColumns("c"), ", ", BucketColumns("h"), ") VALUES ");
      for (size_t n = 0; it != rows.end() && n < kRowsPerStatement; ++it, ++n) {
        const auto& [key, delta] = *it;
        absl::StrAppend(&sql, n == 0 ? "(" : ",(", p.Int(std::get<0>(key)), ",",
                        p.Text(std::get<1>(key)), ",", p.Text(std::get<2>(key)), ",",
                        p.Int(std::get<3>(key)), ",", p.Int(static_cast<int64_t>(delta.attempts)),
                        ",", p.Int(static_cast<int64_t>(delta.ok)));
        for (const auto* buckets : {&delta.connect, &delta.handshake}) {
          for (uint64_t count : *buckets) {
            absl::StrAppend(&sql, ",", p.Int(static_cast<int64_t>(count)));
          }
        }
        absl::StrAppend(&sql, ")");
      }
      absl::StrAppend(&sql,
                      " ON CONFLICT (minute, region, relay, port) DO UPDATE SET attempts = ", table,
                      ".attempts + excluded.attempts, ok = ", table, ".ok + excluded.ok", updates);
      auto r = writer_->Exec(sql, p, "updating reachability rollups");
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  // Inserts every attempt of the group in key order; `inserted` gets the
  // keys that were not stored before.
  absl::Status InsertAttempts(const std::deque<Pending>& work, std::set<AttemptKey>* inserted) {
    struct Row {
      AttemptKey key;
      const IngestBatch* batch;
      const v1::Attempt* attempt;
    };
    std::vector<Row> rows;
    for (const Pending& pending : work) {
      if (pending.prune_before) continue;
      for (const v1::Attempt& a : pending.batch.attempts) {
        rows.push_back(
            {AttemptKey{pending.batch.agent.agent_id(), pending.batch.session_id, a.sequence()},
             &pending.batch, &a});
      }
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return a.key < b.key; });
    for (size_t first = 0; first < rows.size(); first += kRowsPerStatement) {
      const size_t last = std::min(rows.size(), first + kRowsPerStatement);
      Params p;
      std::string sql =
          "INSERT INTO attempts (agent_id, session_id, sequence, start_us, site, region, relay, "
          "port, route_kind, outcome, proxy_status, attempt) VALUES ";
      for (size_t i = first; i < last; ++i) {
        const v1::Attempt& a = *rows[i].attempt;
        const IngestBatch& batch = *rows[i].batch;
        absl::StrAppend(&sql, i == first ? "(" : ",(", p.Text(batch.agent.agent_id()), ",",
                        p.Text(batch.session_id), ",", p.Int(static_cast<int64_t>(a.sequence())),
                        ",", p.Int(TimeUtil::TimestampToMicroseconds(a.start_time())), ",",
                        p.Text(batch.agent.site()), ",", p.Text(a.region()), ",", p.Text(a.relay()),
                        ",", p.Int(a.port()), ",", p.Int(a.route_kind()), ",", p.Int(a.outcome()),
                        ",", p.Int(a.proxy_status()), ",", p.Binary(a.SerializeAsString()), ")");
      }
      absl::StrAppend(&sql, " ON CONFLICT DO NOTHING RETURNING agent_id, session_id, sequence");
      auto r = writer_->Exec(sql, p, "storing attempts");
      if (!r.ok()) return r.status();
      for (int i = 0; i < PQntuples(r->get()); ++i) {
        inserted->insert(
            AttemptKey{Cell(r->get(), i, 0), Cell(r->get(), i, 1), CellCount(r->get(), i, 2)});
      }
    }
    return absl::OkStatus();
  }

  // Session rows in key order: those with metadata replace the stored row,
  // the others only create it if missing.
  absl::Status WriteSessions(const std::map<std::pair<std::string, std::string>,
                                            std::pair<std::string, SessionUpdate>>& sessions) {
    const std::string updated = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    for (const bool with_metadata : {true, false}) {
      std::vector<decltype(sessions.begin())> rows;
      for (auto it = sessions.begin(); it != sessions.end(); ++it) {
        if (it->second.second.carries_metadata == with_metadata) rows.push_back(it);
      }
      for (size_t first = 0; first < rows.size(); first += kRowsPerStatement) {
        const size_t last = std::min(rows.size(), first + kRowsPerStatement);
        Params p;
        std::string sql =
            "INSERT INTO sessions (agent_id, session_id, site, updated_us, report) VALUES ";
        for (size_t i = first; i < last; ++i) {
          const auto& [key, value] = *rows[i];
          absl::StrAppend(&sql, i == first ? "(" : ",(", p.Text(key.first), ",", p.Text(key.second),
                          ",", p.Text(value.first), ",", p.Text(updated), ",",
                          p.Binary(value.second.report), ")");
        }
        absl::StrAppend(&sql, with_metadata
                                  ? " ON CONFLICT (agent_id, session_id) DO UPDATE SET site = "
                                    "excluded.site, updated_us = excluded.updated_us, report = "
                                    "excluded.report"
                                  : " ON CONFLICT DO NOTHING");
        auto r = writer_->Exec(sql, p, "storing sessions");
        if (!r.ok()) return r.status();
      }
    }
    return absl::OkStatus();
  }

  absl::Status WriteRollups(const RollupDeltas& rollups) {
    return WriteRollupsTo("rollups", rollups);
  }

  absl::Status WriteRollupsTo(const std::string& table, const RollupDeltas& rollups) {
    std::string updates;
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) {
        absl::StrAppend(&updates, ", ", prefix, i, " = ", table, ".", prefix, i, " + excluded.",
                        prefix, i);
      }
    }
    auto it = rollups.begin();
    while (it != rollups.end()) {
      Params p;
      std::string sql = absl::StrCat(
          "INSERT INTO ", table, " (minute, region, relay, port, route_kind, outcome, attempts, ",
          BucketColumns("c"), ", ", BucketColumns("h"), ") VALUES ");
      for (size_t n = 0; it != rollups.end() && n < kRowsPerStatement; ++it, ++n) {
        const auto& [key, delta] = *it;
        absl::StrAppend(&sql, n == 0 ? "(" : ",(", p.Int(std::get<0>(key)), ",",
                        p.Text(std::get<1>(key)), ",", p.Text(std::get<2>(key)), ",",
                        p.Int(std::get<3>(key)), ",", p.Int(std::get<4>(key)), ",",
                        p.Int(std::get<5>(key)), ",", p.Int(static_cast<int64_t>(delta.attempts)));
        for (const auto* buckets : {&delta.connect, &delta.handshake}) {
          for (uint64_t count : *buckets) {
            absl::StrAppend(&sql, ",", p.Int(static_cast<int64_t>(count)));
          }
        }
        absl::StrAppend(&sql, ")");
      }
      absl::StrAppend(&sql,
                      " ON CONFLICT (minute, region, relay, port, route_kind, outcome) DO UPDATE "
                      "SET attempts = ",
                      table, ".attempts + excluded.attempts", updates);
      auto r = writer_->Exec(sql, p, "updating rollups");
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Connection> writer_;  // the committer's (and Open's)
  absl::Mutex reader_mu_;
  std::unique_ptr<Connection> reader_ ABSL_GUARDED_BY(reader_mu_);
  CommitQueue<Pending> queue_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  return PostgresStore::Open(url);
}

}  // namespace relayscope::collector::internal
