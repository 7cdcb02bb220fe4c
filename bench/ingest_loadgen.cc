// P2: collector ingest throughput. A load generator that speaks the real
// Ingest protocol (relayscope.v1.Ingest/Upload, lock-step batches and acks)
// over loopback to a real relayscope-collector process, from many
// concurrent streams, each uploading new sessions of distinct agents.
//
// It counts only acknowledged attempts (acked = validated, de-duplicated,
// durably committed and rolled up), and reports attempts/s, the
// collector's CPU time per attempt and its peak RSS (VmHWM). Baseline in
// the same run: a single stream against the same collector (what one agent
// sees; every batch pays a whole commit).
//
//   ingest_loadgen --collector_binary=build/.../relayscope-collector   # starts one (SQLite)
//   ingest_loadgen --collector=10.0.0.5:50051 --collector_pid=1234    # an existing one
//   ingest_loadgen --collector_binary=... --store=postgresql://... --collectors=2
//       # two collectors on one database: the main run against one of them,
//       # then the same streams split between both, and the ratio
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/proc_stats.h"
#include "bench/synthetic.h"
#include "collector/store/store.h"
#include "collector/store/store_internal.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/rig/process.h"

ABSL_FLAG(std::string, collector, "",
          "host:port of a running collector (any store); empty: start --collector_binary");
ABSL_FLAG(int, collector_pid, 0, "PID of the --collector, to report its CPU time and peak RSS");
ABSL_FLAG(std::string, collector_binary, "",
          "relayscope-collector to start on 127.0.0.1 with a fresh store");
ABSL_FLAG(std::string, store, "",
          "Store URL for the started collector (default: SQLite in a temp dir)");
ABSL_FLAG(int, collectors, 1,
          "Collectors to start on the same --store (a PostgreSQL URL); above 1, after the main "
          "run against the first one, the same number of streams is split between all of them "
          "and the ratio of the two rates is printed");
ABSL_FLAG(std::string, token, "", "Agent bearer token (empty: the collector accepts anyone)");
ABSL_FLAG(int, streams, 1000, "Concurrent Upload streams");
ABSL_FLAG(int, connections, 8, "HTTP/2 connections the streams are spread over");
ABSL_FLAG(int, agents_per_stream, 1000,
          "Distinct agents each stream uploads for, in turn (the collector rate-limits each "
          "agent, as it should)");
ABSL_FLAG(int, attempts_per_batch, 12,
          "Attempts per batch (one session; a 12-route diagnosis is 12)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long the main run lasts");
ABSL_FLAG(absl::Duration, baseline_duration, absl::Seconds(3),
          "How long the single-stream baseline lasts (0: skip it)");
ABSL_FLAG(absl::Duration, disk_ceiling_duration, absl::Seconds(5),
          "How long the disk's own ceiling is measured (rows of the same shape appended to a "
          "plain SQLite table, same fsync policy; 0: not measured)");
ABSL_FLAG(absl::Duration, store_alone_duration, absl::Seconds(5),
          "How long the store-alone ceiling runs: the same batches committed in-process to a "
          "fresh SQLite store, no gRPC, no validation, no metrics (0: skip it)");

namespace relayscope::bench {
namespace {

using v1::UploadRequest;
using v1::UploadResponse;

struct Totals {
  std::atomic<uint64_t> batches{0}, accepted{0}, duplicates{0}, rejected{0}, failed_streams{0};
};

// One agent-side stream: writes a batch, waits for its ack, writes the next,
// until the deadline; then closes its side.
class Stream final : public grpc::ClientBidiReactor<UploadRequest, UploadResponse> {
 public:
  Stream(int index, const FleetShape& shape, absl::Time deadline, Totals* totals,
         absl::Notification* all_done, std::atomic<int>* running)
      : index_(index),
        shape_(shape),
        deadline_(deadline),
        totals_(totals),
        all_done_(all_done),
        running_(running) {}

  void Start(v1::Ingest::Stub* stub, const std::string& token) {
    if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
    stub->async()->Upload(&context_, this);
    NextBatch();
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the stream is over; OnDone reports it
    Step();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (response_.batch_id() != request_.batch_id()) {
      std::fprintf(stderr, "stream %d: ack for batch %llu, expected %llu\n", index_,
                   static_cast<unsigned long long>(response_.batch_id()),
                   static_cast<unsigned long long>(request_.batch_id()));
    }
    totals_->batches.fetch_add(1, std::memory_order_relaxed);
    totals_->accepted.fetch_add(response_.accepted(), std::memory_order_relaxed);
    totals_->duplicates.fetch_add(response_.duplicates(), std::memory_order_relaxed);
    totals_->rejected.fetch_add(static_cast<uint64_t>(response_.rejected_size()),
                                std::memory_order_relaxed);
    Step();
  }
  void OnDone(const grpc::Status& status) override {
    if (!status.ok()) {
      totals_->failed_streams.fetch_add(1);
      std::fprintf(stderr, "stream %d ended: %d %s\n", index_, status.error_code(),
                   status.error_message().c_str());
    }
    // Gone before the last one notifies: the driver then frees the channels.
    std::atomic<int>* running = running_;
    absl::Notification* all_done = all_done_;
    delete this;
    if (running->fetch_sub(1) == 1) all_done->Notify();
  }

 private:
  // The write and the read of a batch both finished: send the next one.
  void Step() {
    if (pending_.fetch_sub(1) != 1) return;
    if (absl::Now() >= deadline_) {
      StartWritesDone();
      return;
    }
    NextBatch();
    StartWrite(&request_);
    StartRead(&response_);
  }

  // A new session of the stream's next agent. The attempts are generated
  // once per stream and only re-keyed per batch, so the generator spends
  // its CPU on the protocol, not on building test data.
  void NextBatch() {
    pending_.store(2);
    const int agent = static_cast<int>(batch_ % absl::GetFlag(FLAGS_agents_per_stream));
    const std::string agent_id = absl::StrCat("bench-agent-", index_, "-", agent);
    // Unique across runs too, so a rerun against the same store counts.
    static const uint64_t run = Mix(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
    const std::string session_id = absl::StrFormat("%08x-%04x-4%03x-8%03x-%012x", index_, agent,
                                                   run & 0xfff, (run >> 12) & 0xfff, batch_);
    const absl::Time start = absl::Now() - absl::Seconds(5);
    v1::SessionReport* s = request_.mutable_session();
    if (batch_ == 0) {
      const int site = static_cast<int>(Mix(static_cast<uint64_t>(index_)) %
                                        static_cast<uint64_t>(shape_.sites));
      FillSessionMetadata(shape_, agent_id, site, session_id, start, s);
      const uint64_t seed = Mix(static_cast<uint64_t>(index_) << 20);
      for (int i = 1; i <= absl::GetFlag(FLAGS_attempts_per_batch); ++i) {
        FillAttempt(shape_, seed, static_cast<uint64_t>(i), session_id, start, s->add_attempts());
      }
    }
    ++batch_;
    request_.set_batch_id(batch_);
    s->mutable_agent()->set_agent_id(agent_id);
    s->set_session_id(session_id);
    const auto start_seconds = absl::ToUnixSeconds(start);
    for (v1::Attempt& a : *s->mutable_attempts()) {
      a.set_session_id(session_id);
      a.mutable_start_time()->set_seconds(start_seconds);
    }
  }

  const int index_;
  const FleetShape& shape_;
  const absl::Time deadline_;
  Totals* totals_;
  absl::Notification* all_done_;
  std::atomic<int>* running_;
  std::atomic<int> pending_{2};
  uint64_t batch_ = 0;
  grpc::ClientContext context_;
  UploadRequest request_;
  UploadResponse response_;
};

struct RunResult {
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t batches = 0;
  uint64_t failed_streams = 0;
  absl::Duration elapsed;
  double collector_cpu_seconds = 0;  // 0 when unknown
  double loadgen_cpu_seconds = 0;
};

// Streams go round-robin over `targets` (collectors, with their PIDs for
// the CPU time; 0 when unknown), `connections` HTTP/2 connections each.
RunResult Drive(const std::vector<std::string>& targets, int first_stream, int streams,
                int connections, absl::Duration duration, const std::vector<int>& collector_pids) {
  const FleetShape shape;
  std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs;
  for (int c = 0; c < connections; ++c) {
    for (const std::string& target : targets) {
      grpc::ChannelArguments args;
      args.SetInt("relayscope.bench.connection", c);  // a distinct arg: its own connection
      args.SetMaxSendMessageSize(8 << 20);
      stubs.push_back(v1::Ingest::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
    }
  }
  Totals totals;
  absl::Notification all_done;
  std::atomic<int> running{streams};
  auto collectors_cpu = [&] {
    double total = 0;
    for (int pid : collector_pids) total += pid ? ProcessCpuSeconds(pid) : 0;
    return total;
  };
  const double collector_cpu_before = collectors_cpu();
  const double self_cpu_before = SelfCpuSeconds();
  const absl::Time begin = absl::Now();
  const absl::Time deadline = begin + duration;
  for (int i = 0; i < streams; ++i) {
    auto* stream = new Stream(first_stream + i, shape, deadline, &totals, &all_done, &running);
    // Stub i % stubs: consecutive streams alternate between the targets.
    stream->Start(stubs[static_cast<size_t>(i) % stubs.size()].get(), absl::GetFlag(FLAGS_token));
  }
  all_done.WaitForNotification();
  RunResult r;
  r.elapsed = absl::Now() - begin;
  r.accepted = totals.accepted;
  r.duplicates = totals.duplicates;
  r.rejected = totals.rejected;
  r.batches = totals.batches;
  r.failed_streams = totals.failed_streams;
  r.collector_cpu_seconds = collectors_cpu() - collector_cpu_before;
  r.loadgen_cpu_seconds = SelfCpuSeconds() - self_cpu_before;
  return r;
}

// The ceiling: the store alone, fed in-process with the same batches and
// `in_flight` of them queued at a time (as many as there are streams).
RunResult StoreAlone(const std::string& url, int in_flight, absl::Duration duration) {
  RunResult r;
  auto store = collector::OpenStore(url);
  if (!store.ok()) {
    std::fprintf(stderr, "store-alone: %s\n", store.status().ToString().c_str());
    r.failed_streams = 1;
    return r;
  }
  const FleetShape shape;
  v1::SessionReport session;
  FillSessionMetadata(shape, "alone", 1, "alone", absl::Now(), &session);
  std::vector<v1::Attempt> attempts(static_cast<size_t>(absl::GetFlag(FLAGS_attempts_per_batch)));
  for (size_t i = 0; i < attempts.size(); ++i) {
    FillAttempt(shape, 1, i + 1, "alone", absl::Now() - absl::Seconds(5), &attempts[i]);
  }
  // Unique across runs, so a rerun against the same database counts.
  const std::string run = absl::StrCat(absl::ToUnixNanos(absl::Now()));
  absl::Mutex mu;
  int queued = 0;
  std::atomic<uint64_t> accepted{0}, failed{0};
  const double cpu_before = SelfCpuSeconds();
  const absl::Time begin = absl::Now();
  const absl::Time deadline = begin + duration;
  // Two producers (the machine's two cores), like the gRPC threads.
  auto produce = [&](int producer) {
    for (uint64_t n = 0; absl::Now() < deadline; ++n) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&] { return queued < in_flight; };
        mu.Await(absl::Condition(&room));
        ++queued;
      }
      collector::IngestBatch batch;
      batch.agent = session.agent();
      batch.agent.set_agent_id(absl::StrCat("alone-", producer, "-", n % 1000));
      batch.session_id = absl::StrCat("alone-", run, "-", producer, "-", n);
      batch.session = session;
      batch.attempts = attempts;
      for (v1::Attempt& a : batch.attempts) a.set_session_id(batch.session_id);
      (*store)->CommitAsync(std::move(batch), [&](absl::StatusOr<collector::CommitResult> c) {
        if (c.ok()) {
          accepted.fetch_add(c->accepted);
        } else {
          failed.fetch_add(1);
        }
        absl::MutexLock lock(&mu);
        --queued;
      });
    }
  };
  std::thread a(produce, 0), b(produce, 1);
  a.join();
  b.join();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* q) { return *q == 0; }, &queued));
  }
  r.elapsed = absl::Now() - begin;
  r.accepted = accepted;
  r.failed_streams = failed;
  r.loadgen_cpu_seconds = SelfCpuSeconds() - cpu_before;  // the store's and the producers'
  return r;
}

// The disk's own durable-write ceiling, measured in the same run: rows of
// the store-alone batches' shape and size (the attempts table's twelve
// columns, the blob without the fields held in columns) appended to a plain
// SQLite table with the store's journal and fsync policy (WAL,
// synchronous=FULL, the same cache and checkpoint interval), 10 000 rows a
// transaction, on one thread. No key, no index, no rollups, no sessions:
// what any store on this disk could at best commit.
RunResult DiskCeiling(const std::string& path, absl::Duration duration) {
  RunResult r;
  sqlite3* db = nullptr;
  auto fail = [&](const char* what) {
    std::fprintf(stderr, "disk-ceiling: %s: %s\n", what, db ? sqlite3_errmsg(db) : "open");
    r.failed_streams = 1;
    sqlite3_close(db);
    return r;
  };
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return fail("open");
  if (sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
                   "PRAGMA wal_autocheckpoint=10000;"
                   "CREATE TABLE rows (agent_id TEXT, session_id TEXT, sequence INTEGER,"
                   " start_us INTEGER, site TEXT, region TEXT, relay TEXT, port INTEGER,"
                   " route_kind INTEGER, outcome INTEGER, proxy_status INTEGER, attempt BLOB);",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("create");
  }
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", -1, &insert,
                         nullptr) != SQLITE_OK) {
    return fail("prepare");
  }
  const FleetShape shape;
  const size_t per_batch = static_cast<size_t>(absl::GetFlag(FLAGS_attempts_per_batch));
  std::vector<v1::Attempt> attempts(per_batch);
  std::vector<std::string> blobs(per_batch);
  for (size_t i = 0; i < per_batch; ++i) {
    FillAttempt(shape, 1, i + 1, "alone-0-0", absl::Now() - absl::Seconds(5), &attempts[i]);
    // The blob as the store writes it: without what it keeps in columns.
    v1::Attempt stripped = attempts[i];
    collector::internal::AttemptColumns columns;
    collector::internal::MoveColumnsOut(&stripped, &columns);
    stripped.SerializeToString(&blobs[i]);
  }
  constexpr int kRowsPerTransaction = 10000;
  const absl::Time begin = absl::Now();
  const absl::Time deadline = begin + duration;
  uint64_t rows = 0;
  while (absl::Now() < deadline) {
    if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("begin");
    for (int n = 0; n < kRowsPerTransaction; ++n, ++rows) {
      const size_t i = rows % per_batch;
      const v1::Attempt& a = attempts[i];
      const std::string agent = absl::StrCat("alone-0-", (rows / per_batch) % 1000);
      const std::string session = absl::StrCat("alone-0-", rows / per_batch);
      sqlite3_reset(insert);
      sqlite3_bind_text(insert, 1, agent.data(), static_cast<int>(agent.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, session.data(), static_cast<int>(session.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 3, static_cast<int64_t>(a.sequence()));
      sqlite3_bind_int64(insert, 4, a.start_time().seconds() * 1000000);
      sqlite3_bind_text(insert, 5, "site-alone", -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 6, a.region().data(), static_cast<int>(a.region().size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, a.relay().data(), static_cast<int>(a.relay().size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert, 8, a.port());
      sqlite3_bind_int(insert, 9, a.route_kind());
      sqlite3_bind_int(insert, 10, a.outcome());
      sqlite3_bind_int64(insert, 11, a.proxy_status());
      sqlite3_bind_blob(insert, 12, blobs[i].data(), static_cast<int>(blobs[i].size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) return fail("insert");
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
  }
  r.elapsed = absl::Now() - begin;
  r.accepted = rows;
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return r;
}

double PerSecond(const RunResult& r) {
  return static_cast<double>(r.accepted) / absl::ToDoubleSeconds(r.elapsed);
}

void Print(const char* name, int streams, const RunResult& r) {
  std::printf(
      "%-9s streams=%-5d attempts_acked=%-9llu batches=%-7llu duplicates=%llu rejected=%llu "
      "failed_streams=%llu elapsed=%.2fs attempts_per_s=%.0f collector_cpu=%.2fs "
      "attempts_per_collector_cpu_s=%.0f loadgen_cpu=%.2fs\n",
      name, streams, static_cast<unsigned long long>(r.accepted),
      static_cast<unsigned long long>(r.batches), static_cast<unsigned long long>(r.duplicates),
      static_cast<unsigned long long>(r.rejected),
      static_cast<unsigned long long>(r.failed_streams), absl::ToDoubleSeconds(r.elapsed),
      PerSecond(r), r.collector_cpu_seconds,
      r.collector_cpu_seconds > 0 ? static_cast<double>(r.accepted) / r.collector_cpu_seconds : 0,
      r.loadgen_cpu_seconds);
}

int Main() {
  std::vector<std::string> targets;
  std::vector<int> pids;
  if (!absl::GetFlag(FLAGS_collector).empty()) {
    targets.push_back(absl::GetFlag(FLAGS_collector));
    pids.push_back(absl::GetFlag(FLAGS_collector_pid));
  }
  std::vector<std::unique_ptr<rig::Process>> collectors;
  std::filesystem::path dir;
  std::string store;
  if (targets.empty()) {
    if (absl::GetFlag(FLAGS_collector_binary).empty()) {
      std::fprintf(stderr, "ingest_loadgen: give --collector=host:port or --collector_binary\n");
      return 64;
    }
    dir = std::filesystem::temp_directory_path() / absl::StrCat("relayscope-loadgen-", getpid());
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "catalogue.textproto") << CatalogueText(FleetShape{});
    store = absl::GetFlag(FLAGS_store).empty()
                ? absl::StrCat("sqlite://", (dir / "collector.db").string())
                : absl::GetFlag(FLAGS_store);
    const int count = std::max(1, absl::GetFlag(FLAGS_collectors));
    if (count > 1 && store.rfind("postgres", 0) != 0) {
      std::fprintf(stderr, "ingest_loadgen: --collectors=%d needs a postgresql:// --store\n",
                   count);
      return 64;
    }
    for (int c = 0; c < count; ++c) {
      const std::filesystem::path own = dir / absl::StrCat("collector-", c);
      std::filesystem::create_directories(own);
      rig::Process::Options options;
      options.argv = {absl::GetFlag(FLAGS_collector_binary),
                      "--listen=127.0.0.1:0",
                      "--store=" + store,
                      "--catalogue=" + (dir / "catalogue.textproto").string(),
                      "--allow_unauthenticated",
                      "--metrics=127.0.0.1:0",
                      "--ready_file=" + (own / "ready").string()};
      options.log_path = (own / "collector.log").string();
      auto started = rig::Process::Start(options);
      if (!started.ok()) {
        std::fprintf(stderr, "ingest_loadgen: %s\n", started.status().ToString().c_str());
        return 1;
      }
      collectors.push_back(*std::move(started));
      if (absl::Status up = rig::WaitForFile((own / "ready").string(), absl::Seconds(20),
                                             collectors.back().get());
          !up.ok()) {
        std::fprintf(stderr, "ingest_loadgen: collector did not start: %s\n",
                     up.ToString().c_str());
        return 1;
      }
      std::ifstream ready(own / "ready");
      std::string line;
      while (std::getline(ready, line)) {
        if (line.rfind("grpc=", 0) == 0) targets.push_back(line.substr(5));
      }
      pids.push_back(collectors.back()->pid());
      std::printf("collector pid=%d at %s, store %s\n", pids.back(), targets.back().c_str(),
                  collector::RedactUrl(store).c_str());
    }
  }

  const int streams = absl::GetFlag(FLAGS_streams);
  const int connections = std::min(streams, absl::GetFlag(FLAGS_connections));
  const std::vector<std::string> first_target = {targets[0]};
  const std::vector<int> first_pid = {pids[0]};
  bool ok = true;
  double baseline_rate = 0;
  if (absl::GetFlag(FLAGS_baseline_duration) > absl::ZeroDuration()) {
    const RunResult baseline =
        Drive(first_target, streams, 1, 1, absl::GetFlag(FLAGS_baseline_duration), first_pid);
    Print("baseline", 1, baseline);
    baseline_rate = PerSecond(baseline);
    ok = ok && baseline.accepted > 0 && baseline.failed_streams == 0;
  }
  const RunResult main_run =
      Drive(first_target, 0, streams, connections, absl::GetFlag(FLAGS_duration), first_pid);
  Print("main", streams, main_run);
  ok = ok && main_run.accepted > 0 && main_run.failed_streams == 0 && main_run.duplicates == 0 &&
       main_run.rejected == 0;
  if (baseline_rate > 0) {
    std::printf("ratio main/baseline=%.1fx\n", PerSecond(main_run) / baseline_rate);
  }
  if (targets.size() > 1) {
    // The same streams, split over every collector (new stream numbers, so
    // new agents and sessions).
    const RunResult scaled =
        Drive(targets, streams + 1, streams, connections, absl::GetFlag(FLAGS_duration), pids);
    Print(absl::StrCat("scaled-", targets.size()).c_str(), streams, scaled);
    ok = ok && scaled.accepted > 0 && scaled.failed_streams == 0 && scaled.duplicates == 0 &&
         scaled.rejected == 0;
    std::printf("ratio scaled-%zu/main=%.2fx\n", targets.size(),
                PerSecond(scaled) / PerSecond(main_run));
  }
  if (absl::GetFlag(FLAGS_store_alone_duration) > absl::ZeroDuration()) {
    // A PostgreSQL store is measured alone on the same database; SQLite in
    // a fresh file.
    std::filesystem::path alone_dir = dir.empty() ? std::filesystem::temp_directory_path() /
                                                        absl::StrCat("relayscope-alone-", getpid())
                                                  : dir / "alone";
    std::filesystem::create_directories(alone_dir);
    const std::string alone_url =
        store.rfind("postgres", 0) == 0
            ? store
            : absl::StrCat("sqlite://", (alone_dir / "alone.db").string());
    const RunResult alone =
        StoreAlone(alone_url, streams, absl::GetFlag(FLAGS_store_alone_duration));
    std::error_code ignored;
    std::filesystem::remove_all(alone_dir, ignored);
    std::printf(
        "store-alone in_flight=%d attempts=%llu elapsed=%.2fs attempts_per_s=%.0f "
        "cpu=%.2fs attempts_per_cpu_s=%.0f\n",
        streams, static_cast<unsigned long long>(alone.accepted),
        absl::ToDoubleSeconds(alone.elapsed), PerSecond(alone), alone.loadgen_cpu_seconds,
        static_cast<double>(alone.accepted) / alone.loadgen_cpu_seconds);
    std::printf("ratio main/store-alone=%.2f\n", PerSecond(main_run) / PerSecond(alone));
    ok = ok && alone.failed_streams == 0 && alone.accepted > 0;
    if (absl::GetFlag(FLAGS_disk_ceiling_duration) > absl::ZeroDuration()) {
      std::filesystem::create_directories(alone_dir);
      const RunResult disk = DiskCeiling((alone_dir / "ceiling.db").string(),
                                         absl::GetFlag(FLAGS_disk_ceiling_duration));
      std::filesystem::remove_all(alone_dir, ignored);
      std::printf("disk-ceiling rows=%llu elapsed=%.2fs rows_per_s=%.0f\n",
                  static_cast<unsigned long long>(disk.accepted),
                  absl::ToDoubleSeconds(disk.elapsed), PerSecond(disk));
      if (disk.accepted > 0) {
        std::printf("ratio main/disk-ceiling=%.2f store-alone/disk-ceiling=%.2f\n",
                    PerSecond(main_run) / PerSecond(disk), PerSecond(alone) / PerSecond(disk));
      }
      ok = ok && disk.failed_streams == 0 && disk.accepted > 0;
    }
  }
  for (size_t c = 0; c < pids.size(); ++c) {
    if (pids[c]) {
      std::printf("collector %zu peak_rss=%.1fMB\n", c,
                  static_cast<double>(PeakRssKb(pids[c])) / 1024);
    }
  }
  if (!collectors.empty()) {
    std::error_code no_size;
    const auto db = std::filesystem::file_size(dir / "collector.db", no_size);
    const auto wal = std::filesystem::file_size(dir / "collector.db-wal", no_size);
    if (db > 0 && db != static_cast<uintmax_t>(-1)) {
      std::printf("store size=%.1fMB wal=%.1fMB\n", static_cast<double>(db) / 1e6,
                  wal == static_cast<uintmax_t>(-1) ? 0.0 : static_cast<double>(wal) / 1e6);
    }
    for (auto& collector : collectors) collector->Stop();
    std::error_code ignored;
    if (ok)
      std::filesystem::remove_all(dir, ignored);
    else
      std::fprintf(stderr, "ingest_loadgen: kept %s for inspection\n", dir.c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace relayscope::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Ingest load generator (P2): many concurrent Upload streams against a collector.\n"
      "  ingest_loadgen --collector_binary=path/to/relayscope-collector\n"
      "  ingest_loadgen --collector=host:port --collector_pid=PID");
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines as they happen
  return relayscope::bench::Main();
}
