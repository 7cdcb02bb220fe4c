// The PostgreSQL store, for several collectors sharing one database. Same
// semantics as the SQLite store (issue 21's shared design): attempts are
// appended in arrival order with no unique key (binary COPY into a table
// partitioned by day on start_us), and de-duplication happens per session:
// the session row holds the set of sequence numbers already stored, its
// counters and the id ranges of its attempts. A group locks its sessions'
// rows (FOR UPDATE, in key order), stores only the sequences they do not
// hold, and writes the rows back, all in one transaction, so a batch sent
// twice, to two collectors at once, or again after a crash between commit
// and ack is counted once. Rollups are incremented in the same transaction
// only for new attempts.
//
// Several committer connections per collector (the URL's `committers=N`,
// default 4) commit groups in parallel; each holds a rollup shard of its own
// (a session advisory lock), so their upserts of the current minute's rows
// never wait for each other; reads sum the shards. One reader connection
// serves queries; libpq (Debian's libpq-dev) directly.
//
// Two writers never wait for each other in opposite orders: sessions and
// rollups are written in key order. Should a deadlock, a serialization
// failure or a session created concurrently still occur, the group is
// retried.
#include <google/protobuf/util/time_util.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
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
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "collector/store/store.h"
#include "collector/store/store_internal.h"

namespace relayscope::collector::internal {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000 * 1000;

// Attempt ids come in blocks: a group takes one number from the
// attempt_id_blocks sequence (not transactional, so committers never wait
// for each other on it) and numbers its attempts from block << 24, so a
// batch's new attempts get consecutive ids whichever connections commit at
// the same time.
constexpr int kIdBlockBits = 24;

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
  constexpr char kAttemptColumns[] =
      "agent_id, session_id, sequence, start_us, site, region, relay, port, route_kind, outcome, "
      "proxy_status, attempt";
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
      // 3: append-only attempts partitioned by day (issue 21). The old table
      // is copied grouped by session, so each session gets one id range;
      // days of the last 400 get their partitions, others the default one.
      absl::StrCat(
          "ALTER TABLE attempts RENAME TO attempts_v2;"
          "ALTER INDEX attempts_by_start RENAME TO attempts_v2_by_start;"
          "CREATE SEQUENCE attempt_id_blocks;"
          "CREATE TABLE attempts ("
          " id bigint NOT NULL,"
          " agent_id text COLLATE \"C\" NOT NULL, session_id text COLLATE \"C\" NOT NULL,"
          " sequence bigint NOT NULL, start_us bigint NOT NULL, site text COLLATE \"C\" NOT NULL,"
          " region text COLLATE \"C\" NOT NULL, relay text COLLATE \"C\" NOT NULL,"
          " port bigint NOT NULL, route_kind bigint NOT NULL, outcome bigint NOT NULL,"
          " proxy_status bigint NOT NULL, attempt bytea NOT NULL) PARTITION BY RANGE (start_us);"
          "CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;"
          "CREATE INDEX attempts_by_start ON attempts(start_us);"
          "CREATE INDEX attempts_by_id ON attempts(id);"
          "DO $$ DECLARE d bigint; BEGIN"
          " FOR d IN SELECT DISTINCT start_us / ",
          kMicrosPerDay, " FROM attempts_v2 WHERE start_us >= 0 AND start_us / ", kMicrosPerDay,
          " > extract(epoch FROM now())::bigint / 86400 - 400 LOOP"
          " EXECUTE format('CREATE TABLE %I PARTITION OF attempts FOR VALUES FROM (%s) TO (%s)',"
          " 'attempts_p' || to_char(timestamp 'epoch' + d * interval '1 day', 'YYYYMMDD'), d * ",
          kMicrosPerDay, ", (d + 1) * ", kMicrosPerDay,
          "); END LOOP; END $$;"
          "INSERT INTO attempts (id, ",
          kAttemptColumns, ") SELECT row_number() OVER (ORDER BY agent_id, session_id, sequence), ",
          kAttemptColumns,
          " FROM attempts_v2;"
          "SELECT setval('attempt_id_blocks', ((SELECT COUNT(*) FROM attempts_v2) >> ",
          kIdBlockBits,
          ") + 1, false);"
          "ALTER TABLE sessions ADD COLUMN sequences text NOT NULL DEFAULT '',"
          " ADD COLUMN attempts bigint NOT NULL DEFAULT 0,"
          " ADD COLUMN failures bigint NOT NULL DEFAULT 0, ADD COLUMN ids text NOT NULL DEFAULT '';"
          "INSERT INTO sessions (agent_id, session_id, site, updated_us, report)"
          " SELECT agent_id, session_id, MIN(site), MAX(start_us), ''::bytea FROM attempts_v2"
          " GROUP BY agent_id, session_id ON CONFLICT DO NOTHING;"
          // Sequences as ranges: consecutive numbers share sequence - row_number.
          "WITH islands AS (SELECT agent_id, session_id, sequence, sequence - row_number() OVER"
          " (PARTITION BY agent_id, session_id ORDER BY sequence) AS island FROM attempts_v2),"
          " ranges AS (SELECT agent_id, session_id, MIN(sequence) AS lo, MAX(sequence) AS hi"
          " FROM islands GROUP BY agent_id, session_id, island),"
          " sets AS (SELECT agent_id, session_id, string_agg(CASE WHEN lo = hi THEN lo::text"
          " ELSE lo || '-' || hi END, ',' ORDER BY lo) AS sequences FROM ranges"
          " GROUP BY agent_id, session_id),"
          " counts AS (SELECT agent_id, session_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE outcome"
          " <> ",
          v1::OUTCOME_OK,
          ") AS failures, MIN(id) AS lo, MAX(id) AS hi FROM attempts GROUP BY agent_id,"
          " session_id)"
          " UPDATE sessions s SET sequences = sets.sequences, attempts = counts.n,"
          " failures = counts.failures, ids = CASE WHEN counts.lo = counts.hi THEN"
          " counts.lo::text ELSE counts.lo || '-' || counts.hi END"
          " FROM sets JOIN counts USING (agent_id, session_id)"
          " WHERE s.agent_id = sets.agent_id AND s.session_id = sets.session_id;"
          "DROP TABLE attempts_v2;"
          // Rollups get a shard per committer connection, summed on read.
          "ALTER TABLE rollups ADD COLUMN shard integer NOT NULL DEFAULT 0;"
          "ALTER TABLE rollups DROP CONSTRAINT rollups_pkey;"
          "ALTER TABLE rollups ADD PRIMARY KEY"
          " (minute, region, relay, port, route_kind, outcome, shard);"),
  };
}

// Serialises schema migrations of collectors starting at the same time.
constexpr int64_t kMigrationLock = 0x72656c6179;  // "relay"
// Serialises creating, filling and dropping attempt partitions.
constexpr int64_t kPartitionLock = 0x72656c6170;
// Rollup shards: (kShardLockSpace, shard) session advisory locks, one per
// committer connection while it lives. Past kShards connections, shards
// are shared (correct, only slower).
constexpr int kShardLockSpace = 0x72656c73;
constexpr int kShards = 32;
// Daily partitions are created on demand for attempts that started at most
// this long before now, or this long after it; others (a wrong clock, a
// spool resent years later) go to the default partition.
constexpr absl::Duration kPartitionPast = absl::Hours(24 * 62);
constexpr absl::Duration kPartitionFuture = absl::Hours(24 * 2);
// Committer connections per collector unless the URL says `committers=N`.
constexpr int kDefaultCommitters = 4;
constexpr int kMaxCommitters = 64;

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
    ++resets_;
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

  // Runs `copy_sql` (COPY ... FROM STDIN) and sends `data` as its input.
  absl::Status CopyIn(const std::string& copy_sql, const std::string& data,
                      absl::string_view what) {
    Result start(PQexec(conn_, copy_sql.c_str()));
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      return PgError(conn_, start.get(), what);
    }
    // libpq buffers; large chunks keep the number of calls small.
    constexpr size_t kChunk = size_t{1} << 20;
    for (size_t at = 0; at < data.size(); at += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, data.size() - at));
      if (PQputCopyData(conn_, data.data() + at, n) != 1) break;
    }
    PQputCopyEnd(conn_, nullptr);
    absl::Status status;
    while (PGresult* raw = PQgetResult(conn_)) {
      Result r(raw);
      if (status.ok() && PQresultStatus(raw) != PGRES_COMMAND_OK) {
        status = PgError(conn_, raw, what);
      }
    }
    return status;
  }

  // How many times EnsureConnected reconnected (session state such as
  // advisory locks is gone after each).
  int resets() const { return resets_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
  int resets_ = 0;
};

// Rows in PostgreSQL's binary COPY format: a header, per row a field count
// and each field as its length and bytes (integers big-endian), a trailer.
class BinaryCopy {
 public:
  explicit BinaryCopy(int16_t fields) : fields_(fields) {
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
    data_.append(kSignature, sizeof(kSignature));  // with its NUL: 11 bytes
    PutInt32(0);                                   // flags
    PutInt32(0);                                   // header extension length
  }
  void StartRow() { PutInt16(fields_); }
  void Int64(int64_t value) {
    PutInt32(8);
    PutInt64(value);
  }
  void Bytes(absl::string_view value) {
    PutInt32(static_cast<int32_t>(value.size()));
    data_.append(value.data(), value.size());
  }
  // The data, with its trailer.
  const std::string& Finish() {
    PutInt16(-1);
    return data_;
  }

 private:
  void PutInt16(int16_t v) { PutBigEndian(static_cast<uint16_t>(v), 2); }
  void PutInt32(int32_t v) { PutBigEndian(static_cast<uint32_t>(v), 4); }
  void PutInt64(int64_t v) { PutBigEndian(static_cast<uint64_t>(v), 8); }
  void PutBigEndian(uint64_t v, int bytes) {
    char out[8];
    for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
    data_.append(out, static_cast<size_t>(bytes));
  }
  const int16_t fields_;
  std::string data_;
};

// The URL libpq gets, without the store's own `committers=N` parameter
// (libpq refuses parameters it does not know), and that parameter's value.
struct StoreUrl {
  std::string libpq_url;
  int committers = kDefaultCommitters;
};
absl::StatusOr<StoreUrl> ParseStoreUrl(const std::string& url) {
  StoreUrl out;
  const size_t query = url.find('?');
  if (query == std::string::npos) {
    out.libpq_url = url;
    return out;
  }
  std::vector<std::string> kept;
  for (absl::string_view param : absl::StrSplit(url.substr(query + 1), '&', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&param, "committers=")) {
      if (!absl::SimpleAtoi(param, &out.committers) || out.committers < 1 ||
          out.committers > kMaxCommitters) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", RedactUrl(url), "\": committers must be a number from 1 to ", kMaxCommitters));
      }
      continue;
    }
    kept.emplace_back(param);
  }
  out.libpq_url = url.substr(0, query);
  if (!kept.empty()) absl::StrAppend(&out.libpq_url, "?", absl::StrJoin(kept, "&"));
  return out;
}

// The partition holding attempts that started on day `day` (days since the
// epoch, UTC): attempts_pYYYYMMDD.
std::string PartitionName(int64_t day) {
  return absl::StrCat("attempts_p", absl::FormatTime("%Y%m%d", absl::FromUnixSeconds(day * 86400),
                                                     absl::UTCTimeZone()));
}
// The day a partition's name stands for, if it is a daily partition.
std::optional<int64_t> PartitionDay(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "attempts_p") || name.size() != 8) return std::nullopt;
  // By hand: absl::ParseTime's %Y would take all eight digits as the year.
  int year = 0, month = 0, day = 0;
  if (!absl::SimpleAtoi(name.substr(0, 4), &year) || !absl::SimpleAtoi(name.substr(4, 2), &month) ||
      !absl::SimpleAtoi(name.substr(6, 2), &day)) {
    return std::nullopt;
  }
  const absl::CivilDay civil(year, month, day);
  if (civil.year() != year || civil.month() != month || civil.day() != day) return std::nullopt;
  return absl::ToUnixSeconds(absl::FromCivil(civil, absl::UTCTimeZone())) / 86400;
}
int64_t DayOf(int64_t start_us) {
  return start_us >= 0 ? start_us / kMicrosPerDay : (start_us + 1) / kMicrosPerDay - 1;
}

// A queued batch (its session metadata already serialized), or a prune.
struct Pending {
  IngestBatch batch;
  SessionUpdate session;
  std::optional<absl::Time> prune_before;
  Store::CommitCallback done;
};

class PostgresStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& store_url) {
    auto url = ParseStoreUrl(store_url);
    if (!url.ok()) return url.status();
    std::unique_ptr<PostgresStore> store(new PostgresStore());
    for (int i = 0; i < url->committers; ++i) {
      auto connection = Connection::Open(url->libpq_url);
      if (!connection.ok()) return connection.status();
      store->committers_.emplace_back();
      store->committers_.back().connection = *std::move(connection);
      if (i == 0) {
        if (absl::Status s = store->Migrate(); !s.ok()) return s;
      }
    }
    auto reader = Connection::Open(url->libpq_url);
    if (!reader.ok()) return reader.status();
    {
      absl::MutexLock lock(&store->reader_mu_);
      store->reader_ = *std::move(reader);
    }
    store->queue_.StartCommitters(
        url->committers, [raw = store.get()](int committer, std::deque<Pending>& group) {
          raw->CommitGroup(raw->committers_[static_cast<size_t>(committer)], group);
        });
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
    Params p;
    // The committers' shards of a key, summed.
    std::string sums = "SUM(attempts)";
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) absl::StrAppend(&sums, ", SUM(", prefix, i, ")");
    }
    const std::string sql =
        absl::StrCat("SELECT minute, region, relay, port, route_kind, outcome, ", sums,
                     " FROM rollups WHERE minute >= ", p.Int(absl::ToUnixSeconds(start)),
                     " AND minute < ", p.Int(absl::ToUnixSeconds(end)),
                     " GROUP BY minute, region, relay, port, route_kind, outcome"
                     " ORDER BY minute, region, relay, port, route_kind, outcome");
    absl::MutexLock lock(&reader_mu_);
    auto r = Query(sql, p, "reading rollups");
    if (!r.ok()) return r.status();
    std::vector<RollupRow> rows;
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
      rows.push_back(std::move(row));
    }
    return rows;
  }

  absl::StatusOr<std::vector<FailureGroup>> FailureGroups(const AttemptFilter& filter) override {
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
        ", attempt, agent_id AS example_agent, sequence AS example_sequence, start_us AS "
        "example_start_us, proxy_status AS example_proxy_status FROM f ORDER BY ",
        kGroup,
        ", start_us DESC, agent_id DESC, session_id DESC, sequence DESC) "
        "SELECT outcome, region, relay, port, route_kind, n, sites, agents, first_us, last_us, "
        "attempt, example_agent, example_sequence, example_start_us, example_proxy_status FROM g "
        "JOIN l USING (",
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
      AttemptColumns columns;
      columns.sequence = CellCount(res, i, 12);
      columns.start_us = CellInt(res, i, 13);
      columns.region = g.region;
      columns.relay = g.relay;
      columns.port = g.port;
      columns.route_kind = g.route_kind;
      columns.outcome = g.outcome;
      columns.proxy_status = CellInt(res, i, 14);
      PutColumnsBack(columns, &g.example);
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
        "SELECT s.agent_id, s.session_id, s.site, s.updated_us, s.report, s.attempts, s.failures "
        "FROM sessions s WHERE s.updated_us >= ",
        from, "::bigint AND s.updated_us < ", to, "::bigint AND (", site_param,
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
    RangeSet ids;
    {
      Params p;
      const std::string sql =
          absl::StrCat("SELECT report, ids FROM sessions WHERE agent_id = ", p.Text(agent_id),
                       " AND session_id = ", p.Text(session_id));
      auto r = Query(sql, p, "reading a session");
      if (!r.ok()) return r.status();
      if (PQntuples(r->get()) > 0) {
        report.ParseFromString(CellBytes(r->get(), 0, 0));
        auto parsed = RangeSet::Parse(Cell(r->get(), 0, 1));
        if (!parsed.ok()) return parsed.status();
        ids = *std::move(parsed);
      }
    }
    if (!ids.empty()) {
      // The session's id ranges (one per batch that brought new attempts);
      // no index on (agent, session) is needed.
      Params p;
      std::string sql =
          "SELECT attempt, sequence, start_us, region, relay, port, route_kind, outcome, "
          "proxy_status FROM attempts WHERE ";
      bool first = true;
      for (const auto& [low, high] : ids.ranges()) {
        absl::StrAppend(&sql, first ? "" : " OR ", "id BETWEEN ", p.Int(static_cast<int64_t>(low)),
                        "::bigint AND ", p.Int(static_cast<int64_t>(high)), "::bigint");
        first = false;
      }
      absl::StrAppend(&sql, " ORDER BY sequence");
      auto r = Query(sql, p, "reading a session");
      if (!r.ok()) return r.status();
      const PGresult* res = r->get();
      for (int i = 0; i < PQntuples(res); ++i) {
        v1::Attempt* attempt = report.add_attempts();
        attempt->ParseFromString(CellBytes(res, i, 0));
        AttemptColumns columns;
        columns.sequence = CellCount(res, i, 1);
        columns.start_us = CellInt(res, i, 2);
        columns.region = Cell(res, i, 3);
        columns.relay = Cell(res, i, 4);
        columns.port = static_cast<uint32_t>(CellInt(res, i, 5));
        columns.route_kind = static_cast<int>(CellInt(res, i, 6));
        columns.outcome = static_cast<int>(CellInt(res, i, 7));
        columns.proxy_status = CellInt(res, i, 8);
        PutColumnsBack(columns, attempt);
      }
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
  // Tries of a group after a deadlock, a serialization failure or a session
  // row created by another connection meanwhile.
  static constexpr int kGroupAttempts = 8;
  static constexpr int64_t kIdsPerBlock = int64_t{1} << kIdBlockBits;

  // One committer thread's connection and its rollup shard.
  struct Committer {
    std::unique_ptr<Connection> connection;
    int shard = -1;         // -1: none picked yet
    int shard_resets = -1;  // connection->resets() when it was picked
  };

  PostgresStore() : queue_(kMaxQueued) {}

  absl::StatusOr<Result> Query(const std::string& sql, const Params& params, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_) {
    if (absl::Status s = reader_->EnsureConnected(); !s.ok()) return s;
    return reader_->Exec(sql, params, what);
  }

  absl::Status Migrate() {
    const std::vector<std::string> migrations = Migrations();
    Connection* writer = committers_[0].connection.get();
    absl::Status status = writer->Run("BEGIN", "migrating");
    if (status.ok()) {
      status = writer->Run(absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLock,
                                        "); CREATE TABLE IF NOT EXISTS relayscope_schema "
                                        "(version integer NOT NULL)"),
                           "migrating");
    }
    int64_t current = 0;
    if (status.ok()) {
      auto r = writer->Exec("SELECT version FROM relayscope_schema", Params(), "migrating");
      if (!r.ok()) {
        status = r.status();
      } else if (PQntuples(r->get()) == 0) {
        status = writer->Run("INSERT INTO relayscope_schema VALUES (0)", "migrating");
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
      status = writer->Run(
          absl::StrCat(migrations[v], "; UPDATE relayscope_schema SET version = ", v + 1),
          absl::StrCat("migrating to schema ", v + 1));
    }
    if (status.ok()) status = writer->Run("COMMIT", "migrating");
    if (!status.ok()) writer->Run("ROLLBACK", "rolling back").IgnoreError();
    return status;
  }

  // Takes a rollup shard no other live connection holds (a session advisory
  // lock, gone with the connection), again after a reconnect. When all are
  // held it shares one, which is only slower.
  void PickShard(Committer& c, int index) {
    if (c.shard >= 0 && c.shard_resets == c.connection->resets()) return;
    c.shard = index % kShards;
    for (int shard = 0; shard < kShards; ++shard) {
      auto r = c.connection->Exec(
          absl::StrCat("SELECT pg_try_advisory_lock(", kShardLockSpace, ", ", shard, ")"), Params(),
          "picking a rollup shard");
      if (!r.ok()) return;  // tried again with the next group
      if (Cell(r->get(), 0, 0) == "t") {
        c.shard = shard;
        break;
      }
    }
    c.shard_resets = c.connection->resets();
  }

  // Creates the daily partitions the group's attempts need (outside its
  // transaction: attaching a partition locks the default one). Attempts
  // outside the on-demand window, or whose partition could not be made,
  // go to the default partition, which is always right.
  void EnsurePartitions(Connection& conn, const std::deque<Pending>& work) {
    const absl::Time now = absl::Now();
    const int64_t first = DayOf(absl::ToUnixMicros(now - kPartitionPast));
    const int64_t last = DayOf(absl::ToUnixMicros(now + kPartitionFuture));
    std::set<int64_t> days;
    int64_t previous = first - 1;
    for (const Pending& pending : work) {
      for (const v1::Attempt& a : pending.batch.attempts) {
        const int64_t day = DayOf(TimeUtil::TimestampToMicroseconds(a.start_time()));
        if (day == previous || day < first || day > last) continue;
        days.insert(day);
        previous = day;
      }
    }
    {
      absl::MutexLock lock(&partitions_mu_);
      for (auto it = days.begin(); it != days.end();) {
        it = known_days_.contains(*it) ? days.erase(it) : std::next(it);
      }
    }
    for (const int64_t day : days) {
      if (CreatePartition(conn, day).ok()) {
        absl::MutexLock lock(&partitions_mu_);
        known_days_.insert(day);
      }
    }
  }

  // Creates day `day`'s partition unless it exists, moving into it the
  // attempts the default partition holds for that day (attaching fails
  // otherwise).
  absl::Status CreatePartition(Connection& conn, int64_t day) {
    const std::string name = PartitionName(day);
    const int64_t from = day * kMicrosPerDay;
    const int64_t to = from + kMicrosPerDay;
    absl::Status status = conn.Run(
        absl::StrCat("BEGIN; SELECT pg_advisory_xact_lock(", kPartitionLock, ")"), "partitioning");
    std::optional<Result> exists;
    if (status.ok()) {
      auto r = conn.Exec(absl::StrCat("SELECT to_regclass('", name, "') IS NOT NULL"), Params(),
                         "partitioning");
      if (r.ok()) {
        exists = *std::move(r);
      } else {
        status = r.status();
      }
    }
    if (status.ok() && Cell(exists->get(), 0, 0) != "t") {
      // The default partition first, as a commit's COPY would take it
      // after the parent: so no commit adds rows of that day meanwhile.
      status = conn.Run(
          absl::StrCat("LOCK TABLE attempts_default IN ACCESS EXCLUSIVE MODE; CREATE TABLE ", name,
                       " (LIKE attempts INCLUDING DEFAULTS INCLUDING CONSTRAINTS); WITH moved AS "
                       "(DELETE FROM attempts_default WHERE start_us >= ",
                       from, " AND start_us < ", to, " RETURNING *) INSERT INTO ", name,
                       " SELECT * FROM moved; ALTER TABLE attempts ATTACH PARTITION ", name,
                       " FOR VALUES FROM (", from, ") TO (", to, ")"),
          absl::StrCat("creating partition ", name));
    }
    if (status.ok()) status = conn.Run("COMMIT", "partitioning");
    if (!status.ok()) conn.Run("ROLLBACK", "rolling back").IgnoreError();
    return status;
  }

  // Drops the daily partitions wholly before `cutoff` and deletes what is
  // older than it in the rest (the partition holding the cutoff, the
  // default one); the number of attempts gone.
  absl::StatusOr<uint64_t> Prune(Connection& conn, absl::Time cutoff) {
    const int64_t cutoff_us = absl::ToUnixMicros(cutoff);
    absl::Status status;
    uint64_t deleted = 0;
    std::vector<int64_t> dropped;
    for (int attempt = 0; attempt < kGroupAttempts; ++attempt) {
      deleted = 0;
      dropped.clear();
      status = conn.EnsureConnected();
      if (status.ok()) {
        status = conn.Run(absl::StrCat("BEGIN; SELECT pg_advisory_xact_lock(", kPartitionLock, ")"),
                          "pruning");
      }
      std::vector<std::string> names;
      if (status.ok()) {
        auto r = conn.Exec(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE "
            "i.inhparent = 'attempts'::regclass ORDER BY c.relname",
            Params(), "pruning");
        if (r.ok()) {
          for (int i = 0; i < PQntuples(r->get()); ++i) {
            const std::string name = Cell(r->get(), i, 0);
            const std::optional<int64_t> day = PartitionDay(name);
            if (day && (*day + 1) * kMicrosPerDay <= cutoff_us) {
              names.push_back(name);
              dropped.push_back(*day);
            }
          }
        } else {
          status = r.status();
        }
      }
      // The parent first, in the order commits lock (parent, then
      // partition), so dropping never deadlocks with a COPY.
      if (status.ok() && !names.empty()) {
        status = conn.Run("LOCK TABLE attempts IN ACCESS EXCLUSIVE MODE", "pruning");
      }
      for (const std::string& name : names) {
        if (!status.ok()) break;
        auto r = conn.Exec(absl::StrCat("SELECT COUNT(*) FROM ", name), Params(), "pruning");
        if (!r.ok()) {
          status = r.status();
          break;
        }
        deleted += CellCount(r->get(), 0, 0);
        status = conn.Run(absl::StrCat("DROP TABLE ", name), "pruning");
      }
      if (status.ok()) {
        Params p;
        auto r = conn.Exec(
            absl::StrCat("DELETE FROM attempts WHERE start_us < ", p.Int(cutoff_us), "::bigint"), p,
            "pruning");
        if (r.ok()) {
          int64_t n = 0;
          (void)absl::SimpleAtoi(PQcmdTuples(r->get()), &n);
          deleted += static_cast<uint64_t>(n);
        } else {
          status = r.status();
        }
      }
      if (status.ok()) status = conn.Run("COMMIT", "pruning");
      if (status.ok()) break;
      conn.Run("ROLLBACK", "rolling back").IgnoreError();
      if (status.code() != absl::StatusCode::kAborted) break;
    }
    if (!status.ok()) return status;
    absl::MutexLock lock(&partitions_mu_);
    for (const int64_t day : dropped) known_days_.erase(day);
    return deleted;
  }

  void CommitGroup(Committer& c, std::deque<Pending>& work) {
    std::deque<Pending> batches;
    for (Pending& pending : work) {
      if (!pending.prune_before) {
        batches.push_back(std::move(pending));
        continue;
      }
      // A prune in a transaction of its own: dropping partitions must not
      // hold up this group's commit.
      absl::StatusOr<uint64_t> pruned = Prune(*c.connection, *pending.prune_before);
      if (pruned.ok()) {
        CommitResult result;
        result.accepted = static_cast<uint32_t>(*pruned);
        pending.done(result);
      } else {
        pending.done(pruned.status());
      }
    }
    if (batches.empty()) return;
    const int index = static_cast<int>(&c - committers_.data());
    std::vector<absl::StatusOr<CommitResult>> results;
    absl::Status status;
    for (int attempt = 0; attempt < kGroupAttempts; ++attempt) {
      results.assign(batches.size(), CommitResult());
      status = c.connection->EnsureConnected();
      if (status.ok()) {
        PickShard(c, index);
        EnsurePartitions(*c.connection, batches);
        status = c.connection->Run("BEGIN", "starting a commit");
      }
      if (status.ok()) status = WriteGroup(c, batches, &results);
      if (status.ok()) status = c.connection->Run("COMMIT", "committing");
      if (status.ok()) break;
      c.connection->Run("ROLLBACK", "rolling back").IgnoreError();
      if (status.code() != absl::StatusCode::kAborted) break;  // only conflicts are retried
    }
    if (!status.ok()) {
      for (auto& r : results) r = status;
    }
    for (size_t i = 0; i < batches.size(); ++i) batches[i].done(results[i]);
  }

  // A session of the group: its stored row (locked), and what the group
  // adds to it.
  struct SessionState {
    bool exists = false;
    bool changed = false;  // new attempts to record
    RangeSet sequences, ids;
    uint64_t attempts = 0, failures = 0;
    std::string site;
    const SessionUpdate* update = nullptr;  // the latest with metadata, else the first
  };
  using SessionKey = std::pair<std::string, std::string>;

  absl::Status WriteGroup(Committer& c, std::deque<Pending>& work,
                          std::vector<absl::StatusOr<CommitResult>>* results) {
    Connection& conn = *c.connection;
    std::map<SessionKey, SessionState> sessions;
    for (const Pending& pending : work) {
      auto [it, created] = sessions.try_emplace(
          SessionKey{pending.batch.agent.agent_id(), pending.batch.session_id});
      if (created || pending.session.carries_metadata) {
        it->second.site = pending.batch.agent.site();
        it->second.update = &pending.session;
      }
    }
    if (absl::Status s = LockSessions(conn, &sessions); !s.ok()) return s;

    // New = not stored and not earlier in the group; each batch's new
    // attempts get consecutive ids.
    std::vector<std::vector<size_t>> fresh(work.size());
    size_t total_new = 0;
    for (size_t i = 0; i < work.size(); ++i) {
      const IngestBatch& batch = work[i].batch;
      SessionState& session = sessions[SessionKey{batch.agent.agent_id(), batch.session_id}];
      CommitResult& result = *(*results)[i];
      result.is_new.reserve(batch.attempts.size());
      for (size_t j = 0; j < batch.attempts.size(); ++j) {
        const uint64_t sequence = batch.attempts[j].sequence();
        const bool is_new = !session.sequences.Contains(sequence);
        result.is_new.push_back(is_new);
        if (!is_new) {
          ++result.duplicates;
          continue;
        }
        session.sequences.Add(sequence);
        ++result.accepted;
        fresh[i].push_back(j);
      }
      total_new += fresh[i].size();
    }

    RollupDeltas rollups;
    if (total_new > 0) {
      BinaryCopy copy(13);
      int64_t next_id = 0, end_id = 0;
      for (size_t i = 0; i < work.size(); ++i) {
        if (fresh[i].empty()) continue;
        const int64_t n = static_cast<int64_t>(fresh[i].size());
        if (end_id - next_id < n) {
          auto block =
              conn.Exec("SELECT nextval('attempt_id_blocks')", Params(), "numbering attempts");
          if (!block.ok()) return block.status();
          next_id = CellInt(block->get(), 0, 0) << kIdBlockBits;
          end_id = next_id + kIdsPerBlock;
        }
        IngestBatch& batch = work[i].batch;
        SessionState& session = sessions[SessionKey{batch.agent.agent_id(), batch.session_id}];
        session.ids.AddRange(static_cast<uint64_t>(next_id),
                             static_cast<uint64_t>(next_id + n - 1));
        session.changed = true;
        for (const size_t j : fresh[i]) {
          v1::Attempt& a = batch.attempts[j];
          AddToRollups(a, &rollups);
          ++session.attempts;
          if (a.outcome() != v1::OUTCOME_OK) ++session.failures;
          // The columns leave the blob for the row and come back after, so
          // a retried group sees its batches as they came.
          AttemptColumns columns;
          MoveColumnsOut(&a, &columns);
          copy.StartRow();
          copy.Int64(next_id++);
          copy.Bytes(batch.agent.agent_id());
          copy.Bytes(batch.session_id);
          copy.Int64(static_cast<int64_t>(columns.sequence));
          copy.Int64(columns.start_us);
          copy.Bytes(batch.agent.site());
          copy.Bytes(columns.region);
          copy.Bytes(columns.relay);
          copy.Int64(columns.port);
          copy.Int64(columns.route_kind);
          copy.Int64(columns.outcome);
          copy.Int64(columns.proxy_status);
          copy.Bytes(a.SerializeAsString());
          PutColumnsBack(columns, &a);
        }
      }
      if (absl::Status s = conn.CopyIn(
              "COPY attempts (id, agent_id, session_id, sequence, start_us, site, region, relay, "
              "port, route_kind, outcome, proxy_status, attempt) FROM STDIN (FORMAT binary)",
              copy.Finish(), "storing attempts");
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = WriteSessions(conn, sessions); !s.ok()) return s;
    return WriteRollups(conn, c.shard, rollups);
  }

  // Reads and locks the stored rows of `sessions`, in key order.
  absl::Status LockSessions(Connection& conn, std::map<SessionKey, SessionState>* sessions) {
    auto it = sessions->begin();
    while (it != sessions->end()) {
      Params p;
      std::string sql =
          "SELECT s.agent_id, s.session_id, s.sequences, s.attempts, s.failures, s.ids FROM "
          "sessions s JOIN (VALUES ";
      for (size_t n = 0; it != sessions->end() && n < kRowsPerStatement; ++it, ++n) {
        absl::StrAppend(&sql, n == 0 ? "(" : ",(", p.Text(it->first.first), "::text,",
                        p.Text(it->first.second), "::text)");
      }
      absl::StrAppend(&sql,
                      ") AS v(agent_id, session_id) ON s.agent_id = v.agent_id AND s.session_id = "
                      "v.session_id ORDER BY s.agent_id, s.session_id FOR UPDATE OF s");
      auto r = conn.Exec(sql, p, "reading sessions");
      if (!r.ok()) return r.status();
      const PGresult* res = r->get();
      for (int i = 0; i < PQntuples(res); ++i) {
        auto found = sessions->find(SessionKey{Cell(res, i, 0), Cell(res, i, 1)});
        if (found == sessions->end()) continue;
        SessionState& session = found->second;
        auto sequences = RangeSet::Parse(Cell(res, i, 2));
        auto ids = RangeSet::Parse(Cell(res, i, 5));
        if (!sequences.ok()) return sequences.status();
        if (!ids.ok()) return ids.status();
        session.exists = true;
        session.sequences = *std::move(sequences);
        session.ids = *std::move(ids);
        session.attempts = CellCount(res, i, 3);
        session.failures = CellCount(res, i, 4);
      }
    }
    return absl::OkStatus();
  }

  // New session rows are inserted (in key order); should another
  // connection have created one since LockSessions, the group is retried.
  // Stored rows get the new sets and counters, and the metadata when the
  // group carries some.
  absl::Status WriteSessions(Connection& conn, const std::map<SessionKey, SessionState>& sessions) {
    const std::string updated = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    std::vector<const std::pair<const SessionKey, SessionState>*> inserts, updates;
    for (const auto& entry : sessions) {
      if (!entry.second.exists) {
        inserts.push_back(&entry);
      } else if (entry.second.changed || entry.second.update->carries_metadata) {
        updates.push_back(&entry);
      }
    }
    for (size_t first = 0; first < inserts.size(); first += kRowsPerStatement) {
      const size_t last = std::min(inserts.size(), first + kRowsPerStatement);
      Params p;
      std::string sql =
          "INSERT INTO sessions (agent_id, session_id, site, updated_us, report, sequences, "
          "attempts, failures, ids) VALUES ";
      for (size_t i = first; i < last; ++i) {
        const auto& [key, session] = *inserts[i];
        absl::StrAppend(&sql, i == first ? "(" : ",(", p.Text(key.first), ",", p.Text(key.second),
                        ",", p.Text(session.site), ",", p.Text(updated), ",",
                        p.Binary(session.update->report), ",", p.Text(session.sequences.ToString()),
                        ",", p.Int(static_cast<int64_t>(session.attempts)), ",",
                        p.Int(static_cast<int64_t>(session.failures)), ",",
                        p.Text(session.ids.ToString()), ")");
      }
      absl::StrAppend(&sql, " ON CONFLICT DO NOTHING");
      auto r = conn.Exec(sql, p, "storing sessions");
      if (!r.ok()) return r.status();
      int64_t inserted = 0;
      (void)absl::SimpleAtoi(PQcmdTuples(r->get()), &inserted);
      if (inserted != static_cast<int64_t>(last - first)) {
        return absl::AbortedError("a session of the group was created concurrently");
      }
    }
    for (size_t first = 0; first < updates.size(); first += kRowsPerStatement) {
      const size_t last = std::min(updates.size(), first + kRowsPerStatement);
      Params p;
      std::string sql = absl::StrCat(
          "UPDATE sessions s SET site = CASE WHEN v.meta THEN v.site ELSE s.site END, updated_us = "
          "CASE WHEN v.meta THEN ",
          updated,
          " ELSE s.updated_us END, report = CASE WHEN v.meta THEN v.report ELSE s.report END, "
          "sequences = v.sequences, attempts = v.attempts, failures = v.failures, ids = v.ids "
          "FROM (VALUES ");
      for (size_t i = first; i < last; ++i) {
        const auto& [key, session] = *updates[i];
        const bool meta = session.update->carries_metadata;
        absl::StrAppend(&sql, i == first ? "(" : ",(", p.Text(key.first), "::text,",
                        p.Text(key.second), "::text,", p.Text(meta ? "t" : "f"), "::boolean,",
                        p.Text(session.site), "::text,",
                        p.Binary(meta ? session.update->report : std::string()), "::bytea,",
                        p.Text(session.sequences.ToString()), "::text,",
                        p.Int(static_cast<int64_t>(session.attempts)), "::bigint,",
                        p.Int(static_cast<int64_t>(session.failures)), "::bigint,",
                        p.Text(session.ids.ToString()), "::text)");
      }
      absl::StrAppend(&sql,
                      ") AS v(agent_id, session_id, meta, site, report, sequences, attempts, "
                      "failures, ids) WHERE s.agent_id = v.agent_id AND s.session_id = "
                      "v.session_id");
      auto r = conn.Exec(sql, p, "storing sessions");
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  // The group's rollup deltas, into this connection's shard.
  absl::Status WriteRollups(Connection& conn, int shard, const RollupDeltas& rollups) {
    std::string updates;
    for (const char* prefix : {"c", "h"}) {
      for (int i = 0; i < kLatencyBuckets; ++i) {
        absl::StrAppend(&updates, ", ", prefix, i, " = rollups.", prefix, i, " + excluded.", prefix,
                        i);
      }
    }
    auto it = rollups.begin();
    while (it != rollups.end()) {
      Params p;
      const std::string shard_param = p.Int(std::max(shard, 0));
      std::string sql = absl::StrCat(
          "INSERT INTO rollups (minute, region, relay, port, route_kind, outcome, shard, "
          "attempts, ",
          BucketColumns("c"), ", ", BucketColumns("h"), ") VALUES ");
      for (size_t n = 0; it != rollups.end() && n < kRowsPerStatement; ++it, ++n) {
        const auto& [key, delta] = *it;
        absl::StrAppend(&sql, n == 0 ? "(" : ",(", p.Int(std::get<0>(key)), ",",
                        p.Text(std::get<1>(key)), ",", p.Text(std::get<2>(key)), ",",
                        p.Int(std::get<3>(key)), ",", p.Int(std::get<4>(key)), ",",
                        p.Int(std::get<5>(key)), ",", shard_param, "::integer,",
                        p.Int(static_cast<int64_t>(delta.attempts)));
        for (const auto* buckets : {&delta.connect, &delta.handshake}) {
          for (uint64_t count : *buckets) {
            absl::StrAppend(&sql, ",", p.Int(static_cast<int64_t>(count)));
          }
        }
        absl::StrAppend(&sql, ")");
      }
      absl::StrAppend(&sql,
                      " ON CONFLICT (minute, region, relay, port, route_kind, outcome, shard) DO "
                      "UPDATE SET attempts = rollups.attempts + excluded.attempts",
                      updates);
      auto r = conn.Exec(sql, p, "updating rollups");
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  std::vector<Committer> committers_;  // committers_[0] also migrates
  absl::Mutex partitions_mu_;
  // Days whose partition this process made or found (a cache: a partition
  // dropped by another collector only sends rows to the default one).
  std::set<int64_t> known_days_ ABSL_GUARDED_BY(partitions_mu_);
  absl::Mutex reader_mu_;
  std::unique_ptr<Connection> reader_ ABSL_GUARDED_BY(reader_mu_);
  CommitQueue<Pending> queue_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  return PostgresStore::Open(url);
}

}  // namespace relayscope::collector::internal
