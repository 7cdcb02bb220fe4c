// The Ingest gRPC service: agents stream batches of attempts; each batch is
// authenticated, validated, rate-limited, committed to the store, counted
// in the metrics, and acknowledged once durable.
//
// Uses gRPC's callback API: no thread per stream. The reactor works in
// lock-step (read a batch, commit, ack, read the next), so acks are in
// order and one slow agent cannot queue unbounded work.
#ifndef COLLECTOR_INGEST_INGEST_SERVICE_H_
#define COLLECTOR_INGEST_INGEST_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/auth/tokens.h"
#include "collector/ingest/site_window.h"
#include "collector/ingest/validator.h"
#include "collector/store/store.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "relayscope/v1/ingest.grpc.pb.h"

namespace relayscope::collector {

// Prometheus metrics of ingest. Labels come only from bounded sets: folded
// region/relay/port, route kind, outcome, and fixed result names.
class IngestMetrics {
 public:
  explicit IngestMetrics(prometheus::Registry& registry);
  // What counting one attempt needs, resolved before its commit (on the
  // stream's thread), so that counting after the commit is a few atomic
  // increments: the committer thread, shared by every stream, stays free.
  struct Sample {
    prometheus::Counter* attempts = nullptr;
    prometheus::Histogram* connect = nullptr;    // null: no completed connect
    prometheus::Histogram* handshake = nullptr;  // null: no completed handshake
    double connect_seconds = 0;
    double handshake_seconds = 0;
    bool reached = false;  // the attempt completed the handshake
    // The attempt's region, relay and port in the site windows.
    SiteWindow::Slot* region = nullptr;
    SiteWindow::Slot* relay = nullptr;
    SiteWindow::Slot* port = nullptr;
  };
  Sample Resolve(const v1::Attempt& attempt);
  // Counts newly stored attempts: relayscope_attempts_total, the connect and
  // handshake duration histograms, and the site as active in each region,
  // on each relay and on each port, reaching them or not (the site itself is
  // never a label; a site new to a key, or newly reaching it, shows in the
  // gauges at once).
  void Count(const std::vector<Sample>& samples, const std::vector<bool>& is_new,
             const std::string& site, absl::Time now);
  // relayscope_ingest_batches_total{result}.
  void CountBatch(const std::string& result);
  // relayscope_ingest_rejected_attempts_total{field}, indexes stripped
  // ("phases[2].duration" -> "phases.duration"): a bounded set.
  void CountRejected(const v1::RejectedAttempt& rejected);
  void CountDuplicates(uint64_t n);
  // Time from handing a batch to the store to its durable commit.
  void ObserveCommit(absl::Duration latency);
  void SetQueueDepth(size_t depth);
  // Drops sites not seen in the window from the site gauges, at most once a
  // second: relayscope_sites_active{region}, relayscope_relay_sites{region,
  // relay, reachable} and relayscope_port_sites{port, reachable}
  // (reachable="true": the site reached it at least once in the window;
  // "false": it tried and never did).
  void UpdateActiveSites(absl::Time now);

  static constexpr absl::Duration kActiveWindow = absl::Minutes(15);

 private:
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& connect_;
  prometheus::Family<prometheus::Histogram>& handshake_;
  prometheus::Family<prometheus::Gauge>& sites_active_;
  prometheus::Family<prometheus::Gauge>& relay_sites_;
  prometheus::Family<prometheus::Gauge>& port_sites_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Counter& duplicates_;
  prometheus::Histogram& commit_;
  prometheus::Gauge& queue_depth_;
  // Sets the gauges of one slot from its counts.
  void SetRegionGauge(const SiteWindow::Slot& slot);
  static void SetSplitGauges(prometheus::Family<prometheus::Gauge>& family,
                             const SiteWindow::Slot& slot);

  absl::Mutex mu_;
  // Label values -> the series of one attempt key; bounded by the
  // validator's folding (catalogue names only).
  absl::flat_hash_map<std::string, Sample> series_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Sites per region, relay and port in the window; slots are never freed,
  // so Samples may point to them.
  SiteWindow by_region_ ABSL_GUARDED_BY(mu_);
  SiteWindow by_relay_ ABSL_GUARDED_BY(mu_);
  SiteWindow by_port_ ABSL_GUARDED_BY(mu_);
};

// At most `batches_per_second` batches per key (an agent id, or a token
// holder), with bursts of the same size (token bucket). The key table is
// bounded: the oldest entries go.
class RateLimiter {
 public:
  explicit RateLimiter(double batches_per_second, size_t max_agents = 100000)
      : rate_(batches_per_second), max_agents_(max_agents) {}
  bool Allow(const std::string& agent_id, absl::Time now);

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  const double rate_;
  const size_t max_agents_;
  absl::Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

class IngestService final : public v1::Ingest::CallbackService {
 public:
  // All pointers must outlive the service. `limiter` is per agent id;
  // `holder_limiter`, if set, is per token holder (the name in the token
  // file), which bounds a flood spread over made-up agent ids under one
  // token. An agent over its own rate is refused before it spends its
  // holder's budget.
  IngestService(Store* store, const Validator* validator, const TokenAuthenticator* tokens,
                IngestMetrics* metrics, RateLimiter* limiter, RateLimiter* holder_limiter = nullptr)
      : store_(store),
        validator_(validator),
        tokens_(tokens),
        metrics_(metrics),
        limiter_(limiter),
        holder_limiter_(holder_limiter) {}

  // The generated base also has the synchronous Upload; keep it visible
  // (-Woverloaded-virtual) even though only the callback one is used.
  using v1::Ingest::CallbackService::Upload;
  grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>* Upload(
      grpc::CallbackServerContext* context) override;

 private:
  friend class UploadReactor;
  Store* store_;
  const Validator* validator_;
  const TokenAuthenticator* tokens_;
  IngestMetrics* metrics_;
  RateLimiter* limiter_;
  RateLimiter* holder_limiter_;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_INGEST_SERVICE_H_
