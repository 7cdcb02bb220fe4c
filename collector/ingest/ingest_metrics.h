// Prometheus metrics of ingest: attempts counted once each, connect and
// handshake durations, the sites active per region / relay / port, batches
// by result, rejected and duplicate attempts, and the store's commit
// latency and queue depth. Labels come only from bounded sets.
//
// Download checks (Attempt.target = TARGET_DOWNLOAD) have their own
// families, relayscope_download_attempts_total and relayscope_download_sites:
// a TLS handshake with a download server is not a relay attempt, and
// counting it among them would move relay reachability and its alerts.
#ifndef COLLECTOR_INGEST_INGEST_METRICS_H_
#define COLLECTOR_INGEST_INGEST_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/ingest/site_window.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "relayscope/v1/ingest.pb.h"
#include "relayscope/v1/telemetry.pb.h"

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
    // Null for download checks, which count in `download` alone.
    SiteWindow::Slot* region = nullptr;
    SiteWindow::Slot* relay = nullptr;
    SiteWindow::Slot* port = nullptr;
    // A download check's service in the site window (null for relays).
    SiteWindow::Slot* download = nullptr;
  };
  Sample Resolve(const v1::Attempt& attempt);
  // Counts newly stored attempts: relayscope_attempts_total, the connect and
  // handshake duration histograms, and the site as active in each region,
  // on each relay and on each port, reaching them or not (the site itself is
  // never a label; a site new to a key, or newly reaching it, shows in the
  // gauges at once). Download checks count in
  // relayscope_download_attempts_total{region, service, port, route,
  // outcome} and relayscope_download_sites instead.
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
  // "false": it tried and never did), and relayscope_download_sites{region,
  // service, reachable} (reachable="true": it reached the genuine service).
  void UpdateActiveSites(absl::Time now);

  static constexpr absl::Duration kActiveWindow = absl::Minutes(15);

 private:
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& connect_;
  prometheus::Family<prometheus::Histogram>& handshake_;
  prometheus::Family<prometheus::Gauge>& sites_active_;
  prometheus::Family<prometheus::Gauge>& relay_sites_;
  prometheus::Family<prometheus::Gauge>& port_sites_;
  prometheus::Family<prometheus::Counter>& download_attempts_;
  prometheus::Family<prometheus::Gauge>& download_sites_;
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
  SiteWindow by_download_ ABSL_GUARDED_BY(mu_);
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_INGEST_METRICS_H_
