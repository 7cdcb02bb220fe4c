// P3: FleetQuery latency over a big store. The store holds `--attempts`
// attempts (default 10 M) of a fleet of 3 regions, 8 relays, 4 ports,
// 4 routes, 14 outcomes and 20 k sites, spread over the 30 days before a
// fixed instant, in sessions of 12 attempts. It is generated once through
// the Store API (the real schema, rollups and all, in big groups) and kept
// under --data_dir, so reruns only query.
//
// Queries go through QueryEngine, as the dashboard's: the reachability
// matrix (step 0, by region and port) and the failure-pattern list (a page
// of 25), unfiltered and drilled down to one region and port, over every
// window the dashboard offers (15 m, 1 h, 6 h, 24 h, 7 d; and 30 d), each
// ending at the data's end (a midnight) and 17 minutes earlier (a window
// ending "now" rarely ends on an hour). --store=postgresql://... runs the
// same over a PostgreSQL store (generated there once, when it holds no
// attempts). Baseline in the same run: GetSession,
// one session's attempts by key (the cheapest real query).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/synthetic.h"
#include "collector/query/query_engine.h"
#include "collector/store/store.h"
#include "common/proto_time.h"

ABSL_FLAG(int64_t, attempts, 10000000, "Attempts in the store");
ABSL_FLAG(std::string, data_dir, "build/bench-data",
          "Where the generated store is kept (reused when it exists)");
ABSL_FLAG(int, repetitions, 30, "Runs of each query (p50 and p99 over them)");
ABSL_FLAG(std::string, store, "",
          "A PostgreSQL store URL (postgresql://...) to query instead of the SQLite file "
          "under --data_dir; filled with the generated attempts if it holds none");

namespace relayscope::bench {
namespace {

constexpr int kAttemptsPerSession = 12;
constexpr int kAgents = 40000;  // two per site
// Fixed, so a generated store stays valid: the data covers the 30 days
// before it.
const absl::Time kEnd = absl::FromUnixSeconds(1793491200);  // 2026-11-01T00:00:00Z
constexpr absl::Duration kSpan = absl::Hours(24 * 30);

std::string AgentId(int agent) { return absl::StrFormat("agent-%05d", agent); }
std::string SessionId(int64_t session) { return absl::StrFormat("s-%09d", session); }

absl::Status Generate(const std::string& url, int64_t attempts) {
  auto store = collector::OpenStore(url);
  if (!store.ok()) return store.status();
  const FleetShape shape;
  const int64_t sessions = attempts / kAttemptsPerSession;
  absl::Mutex mu;
  int64_t queued = 0;
  absl::Status failure;
  const absl::Time begin = absl::Now();
  for (int64_t s = 0; s < sessions; ++s) {
    const int agent = static_cast<int>(Mix(static_cast<uint64_t>(s)) % kAgents);
    const absl::Time start = kEnd - kSpan + kSpan * (static_cast<double>(s) / sessions);
    collector::IngestBatch batch;
    batch.session_id = SessionId(s);
    FillSessionMetadata(shape, AgentId(agent), agent % shape.sites, batch.session_id, start,
                        &batch.session);
    batch.agent = batch.session.agent();
    batch.attempts.resize(kAttemptsPerSession);
    for (int i = 0; i < kAttemptsPerSession; ++i) {
      FillAttempt(shape, Mix(static_cast<uint64_t>(s)) >> 16, static_cast<uint64_t>(i + 1),
                  batch.session_id, start, &batch.attempts[static_cast<size_t>(i)]);
    }
    {
      absl::MutexLock lock(&mu);
      auto room = [&] { return queued < 2000; };
      mu.Await(absl::Condition(&room));
      if (!failure.ok()) return failure;
      ++queued;
    }
    (*store)->CommitAsync(std::move(batch), [&](absl::StatusOr<collector::CommitResult> r) {
      absl::MutexLock lock(&mu);
      --queued;
      if (!r.ok()) failure = r.status();
    });
    if (s % 100000 == 0 && s > 0) {
      std::fprintf(stderr, "generated %lld attempts (%.0f/s)\n",
                   static_cast<long long>(s * kAttemptsPerSession),
                   static_cast<double>(s * kAttemptsPerSession) /
                       absl::ToDoubleSeconds(absl::Now() - begin));
    }
  }
  absl::MutexLock lock(&mu);
  auto drained = [&] { return queued == 0; };
  mu.Await(absl::Condition(&drained));
  return failure;
}

// The `window` before the data's end, or before `shift` earlier (a window
// ending at "now" rarely ends on an hour).
v1::TimeRange Window(absl::Duration window, absl::Duration shift = absl::ZeroDuration()) {
  v1::TimeRange range;
  *range.mutable_start() = ToProtoTimestamp(kEnd - shift - window);
  *range.mutable_end() = ToProtoTimestamp(kEnd - shift);
  return range;
}

struct Latency {
  double p50_ms = 0, p99_ms = 0;
  size_t items = 0;  // series or patterns in the answer, to show it is not empty
  size_t runs = 0;
};

// Runs `query` `n` times, or at least 3 times and for about 10 s when it
// is slow; p99 of fewer than 100 runs is their maximum.
absl::StatusOr<Latency> Time(int n, const std::function<absl::StatusOr<size_t>()>& query) {
  std::vector<double> ms;
  Latency latency;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (int i = 0; i < n && (i < 3 || absl::Now() < give_up); ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<size_t> items = query();
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (!items.ok()) return items.status();
    latency.items = *items;
  }
  std::sort(ms.begin(), ms.end());
  latency.runs = ms.size();
  latency.p50_ms = ms[ms.size() / 2];
  latency.p99_ms = ms[std::min(ms.size() - 1, static_cast<size_t>(0.99 * ms.size()))];
  return latency;
}

int Main() {
  const int64_t attempts = absl::GetFlag(FLAGS_attempts);
  std::string url = absl::GetFlag(FLAGS_store);
  if (!url.empty()) {
    auto existing = collector::OpenStore(url);
    if (!existing.ok()) {
      std::fprintf(stderr, "query_bench: %s\n", existing.status().ToString().c_str());
      return 1;
    }
    auto count = (*existing)->CountAttempts();
    existing->reset();
    if (!count.ok()) {
      std::fprintf(stderr, "query_bench: %s\n", count.status().ToString().c_str());
      return 1;
    }
    if (*count == 0) {
      const absl::Time begin = absl::Now();
      if (absl::Status s = Generate(url, attempts); !s.ok()) {
        std::fprintf(stderr, "query_bench: generating the store: %s\n", s.ToString().c_str());
        return 1;
      }
      std::printf("generated %lld attempts in %.0fs in %s\n", static_cast<long long>(attempts),
                  absl::ToDoubleSeconds(absl::Now() - begin), collector::RedactUrl(url).c_str());
    } else if (static_cast<int64_t>(*count) != attempts) {
      std::fprintf(stderr, "query_bench: the store holds %llu attempts, not --attempts=%lld\n",
                   static_cast<unsigned long long>(*count), static_cast<long long>(attempts));
      return 1;
    }
  } else {
    const std::filesystem::path dir = absl::GetFlag(FLAGS_data_dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path db = dir / absl::StrCat("fleet-", attempts, ".db");
    url = absl::StrCat("sqlite://", std::filesystem::absolute(db).string());
    if (!std::filesystem::exists(db)) {
      const std::filesystem::path partial = dir / absl::StrCat("fleet-", attempts, ".partial.db");
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(partial.string() + suffix);
      }
      const absl::Time begin = absl::Now();
      const std::string partial_url =
          absl::StrCat("sqlite://", std::filesystem::absolute(partial).string());
      if (absl::Status s = Generate(partial_url, attempts); !s.ok()) {
        std::fprintf(stderr, "query_bench: generating the store: %s\n", s.ToString().c_str());
        return 1;
      }
      std::filesystem::rename(partial, db);  // the store is closed: its WAL is merged
      std::printf("generated %lld attempts in %.0fs: %s (%.0f MB)\n",
                  static_cast<long long>(attempts), absl::ToDoubleSeconds(absl::Now() - begin),
                  db.c_str(), static_cast<double>(std::filesystem::file_size(db)) / 1e6);
    }
  }
  const absl::Time opening = absl::Now();
  auto store = collector::OpenStore(url);
  if (!store.ok()) {
    std::fprintf(stderr, "query_bench: %s\n", store.status().ToString().c_str());
    return 1;
  }
  // Opening migrates an older schema (filling new rollups): say how long.
  std::printf("opened %s in %.1fs\n", collector::RedactUrl(url).c_str(),
              absl::ToDoubleSeconds(absl::Now() - opening));
  collector::QueryEngine engine(store->get());
  const int n = std::max(1, absl::GetFlag(FLAGS_repetitions));
  bool ok = true;
  auto report = [&](const std::string& name, const absl::StatusOr<Latency>& latency) {
    if (!latency.ok() || latency->items == 0) {
      std::fprintf(stderr, "query_bench: %s: %s\n", name.c_str(),
                   latency.ok() ? "empty answer" : latency.status().ToString().c_str());
      ok = false;
      return;
    }
    std::printf("%-48s p50=%8.2fms p99=%8.2fms runs=%zu items=%zu\n", name.c_str(), latency->p50_ms,
                latency->p99_ms, latency->runs, latency->items);
  };

  v1::GetSessionRequest session;
  session.set_session_id(SessionId(attempts / kAttemptsPerSession / 2));
  session.set_agent_id(AgentId(
      static_cast<int>(Mix(static_cast<uint64_t>(attempts / kAttemptsPerSession / 2)) % kAgents)));
  report("baseline GetSession (one session by key)", Time(n, [&]() -> absl::StatusOr<size_t> {
           auto r = engine.GetSession(session);
           if (!r.ok()) return r.status();
           return static_cast<size_t>(r->session().attempts_size());
         }));
  const FleetShape shape;
  const std::pair<const char*, absl::Duration> windows[] = {
      {"15m", absl::Minutes(15)}, {"1h", absl::Hours(1)},      {"6h", absl::Hours(6)},
      {"24h", absl::Hours(24)},   {"7d", absl::Hours(24 * 7)}, {"30d", kSpan}};
  for (const auto& [label, window] : windows) {
    for (const bool on_the_hour : {true, false}) {
      const absl::Duration shift = on_the_hour ? absl::ZeroDuration() : absl::Minutes(17);
      const std::string when = absl::StrCat(label, on_the_hour ? "" : " off the hour");
      v1::ReachabilityRequest matrix;
      *matrix.mutable_range() = Window(window, shift);
      matrix.add_group_by(v1::DIMENSION_REGION);
      matrix.add_group_by(v1::DIMENSION_PORT);
      report(absl::StrCat("reachability matrix ", when), Time(n, [&]() -> absl::StatusOr<size_t> {
               auto r = engine.GetReachability(matrix);
               if (!r.ok()) return r.status();
               return static_cast<size_t>(r->series_size());
             }));
      v1::ListFailurePatternsRequest patterns;
      *patterns.mutable_range() = Window(window, shift);
      patterns.set_page_size(25);
      report(absl::StrCat("failure patterns, all ", when), Time(n, [&]() -> absl::StatusOr<size_t> {
               auto r = engine.ListFailurePatterns(patterns);
               if (!r.ok()) return r.status();
               return static_cast<size_t>(r->patterns_size());
             }));
      patterns.mutable_filter()->add_regions(RegionName(shape, 1));
      patterns.mutable_filter()->add_ports(PortNumber(1));
      report(absl::StrCat("failure patterns, region+port ", when),
             Time(n, [&]() -> absl::StatusOr<size_t> {
               auto r = engine.ListFailurePatterns(patterns);
               if (!r.ok()) return r.status();
               return static_cast<size_t>(r->patterns_size());
             }));
    }
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace relayscope::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "FleetQuery latency (P3) over a generated store.\n"
      "  query_bench [--attempts=10000000] [--data_dir=build/bench-data]\n"
      "  query_bench --store=postgresql://user@host/database");
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return relayscope::bench::Main();
}
