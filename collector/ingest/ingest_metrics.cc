#include "collector/ingest/ingest_metrics.h"

#include <cctype>
#include <optional>

#include "absl/strings/str_cat.h"
#include "collector/ingest/validator.h"

namespace relayscope::collector {

namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(c));
  return text;
}

std::optional<double> PhaseSeconds(const v1::Attempt& a, v1::Phase phase) {
  for (const v1::PhaseTiming& p : a.phases()) {
    if (p.phase() == phase && p.completed()) {
      return static_cast<double>(p.duration().seconds()) + p.duration().nanos() / 1e9;
    }
  }
  return std::nullopt;
}

// (key, site) entries kept per window: sites per region; x5 for relays,
// x2 for ports (a fleet of 100k sites over a handful of each).
constexpr size_t kMaxSites = 100000;

}  // namespace

IngestMetrics::IngestMetrics(prometheus::Registry& registry)
    : attempts_(prometheus::BuildCounter()
                    .Name("relayscope_attempts_total")
                    .Help("Attempts reported by agents, counted once each, by region, relay, "
                          "port, route and outcome.")
                    .Register(registry)),
      connect_(prometheus::BuildHistogram()
                   .Name("relayscope_connect_duration_seconds")
                   .Help("TCP connect time of attempts that connected.")
                   .Register(registry)),
      handshake_(prometheus::BuildHistogram()
                     .Name("relayscope_handshake_duration_seconds")
                     .Help("Relay handshake time of attempts that completed it.")
                     .Register(registry)),
      sites_active_(prometheus::BuildGauge()
                        .Name("relayscope_sites_active")
                        .Help("Sites that reported in the last 15 minutes, by region.")
                        .Register(registry)),
      relay_sites_(prometheus::BuildGauge()
                       .Name("relayscope_relay_sites")
                       .Help("Sites that tried a relay in the last 15 minutes: reachable=\"true\" "
                             "if they reached it at least once, \"false\" if never.")
                       .Register(registry)),
      port_sites_(prometheus::BuildGauge()
                      .Name("relayscope_port_sites")
                      .Help("Sites that tried a port in the last 15 minutes: reachable=\"true\" if "
                            "they reached a relay on it at least once, \"false\" if never.")
                      .Register(registry)),
      download_attempts_(prometheus::BuildCounter()
                             .Name("relayscope_download_attempts_total")
                             .Help("Download checks (TLS to a catalogue download service) "
                                   "reported by agents, counted once each, by region, service, "
                                   "port, route and outcome.")
                             .Register(registry)),
      download_sites_(prometheus::BuildGauge()
                          .Name("relayscope_download_sites")
                          .Help("Sites that checked a download service in the last 15 minutes: "
                                "reachable=\"true\" if they reached the genuine service at least "
                                "once, \"false\" if never.")
                          .Register(registry)),
      batches_(prometheus::BuildCounter()
                   .Name("relayscope_ingest_batches_total")
                   .Help("Ingest batches by result.")
                   .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("relayscope_ingest_rejected_attempts_total")
                    .Help("Attempts refused by validation, by offending field.")
                    .Register(registry)),
      duplicates_(prometheus::BuildCounter()
                      .Name("relayscope_ingest_duplicate_attempts_total")
                      .Help("Attempts received again (resent batches) and not counted again.")
                      .Register(registry)
                      .Add({})),
      commit_(prometheus::BuildHistogram()
                  .Name("relayscope_store_commit_duration_seconds")
                  .Help("Time from handing a batch to the store to its durable commit.")
                  .Register(registry)
                  .Add({}, LatencyBuckets())),
      queue_depth_(prometheus::BuildGauge()
                       .Name("relayscope_store_queue_depth")
                       .Help("Batches waiting for the store's committer.")
                       .Register(registry)
                       .Add({})),
      by_region_(kActiveWindow, kMaxSites),
      by_relay_(kActiveWindow, kMaxSites * 5),
      by_port_(kActiveWindow, kMaxSites * 2),
      by_download_(kActiveWindow, kMaxSites * 2) {}

IngestMetrics::Sample IngestMetrics::Resolve(const v1::Attempt& a) {
  const bool download = a.target() == v1::TARGET_DOWNLOAD;
  const std::string key =
      absl::StrCat(download ? "d" : "r", "\x1f", a.region(), "\x1f", a.relay(), "\x1f", a.port(),
                   "\x1f", static_cast<int>(a.route_kind()), "\x1f", static_cast<int>(a.outcome()));
  Sample sample;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = series_.try_emplace(key);
    if (inserted) {
      // First time for these label values: build the label sets once.
      const std::string route = Lower(v1::RouteKind_Name(a.route_kind()).substr(11));
      const std::string port = a.port() == 0 ? std::string(kOther) : absl::StrCat(a.port());
      const std::string outcome = Lower(v1::Outcome_Name(a.outcome()).substr(8));
      Sample& s = it->second;
      s.reached = a.outcome() == v1::OUTCOME_OK;
      if (download) {
        // The validator made `relay` a catalogue download service.
        s.attempts = &download_attempts_.Add({{"region", a.region()},
                                              {"service", a.relay()},
                                              {"port", port},
                                              {"route", route},
                                              {"outcome", outcome}});
        // No durations: the connect and handshake histograms are relays'.
        s.download = by_download_.Find({{"region", a.region()}, {"service", a.relay()}});
      } else {
        s.attempts = &attempts_.Add({{"region", a.region()},
                                     {"relay", a.relay()},
                                     {"port", port},
                                     {"route", route},
                                     {"outcome", outcome}});
        const prometheus::Labels labels = {
            {"region", a.region()}, {"port", port}, {"route", route}};
        s.connect = &connect_.Add(labels, LatencyBuckets());
        s.handshake = &handshake_.Add(labels, LatencyBuckets());
        s.region = by_region_.Find({{"region", a.region()}});
        s.relay = by_relay_.Find({{"region", a.region()}, {"relay", a.relay()}});
        s.port = by_port_.Find({{"port", port}});
      }
    }
    sample = it->second;
  }
  if (sample.download != nullptr) return sample;
  if (auto s = PhaseSeconds(a, v1::PHASE_TCP_CONNECT)) {
    sample.connect_seconds = *s;
  } else {
    sample.connect = nullptr;
  }
  if (auto s = PhaseSeconds(a, v1::PHASE_HANDSHAKE)) {
    sample.handshake_seconds = *s;
  } else {
    sample.handshake = nullptr;
  }
  return sample;
}

void IngestMetrics::Count(const std::vector<Sample>& samples, const std::vector<bool>& is_new,
                          const std::string& site, absl::Time now) {
  const std::string& who = site.empty() ? "(none)" : site;
  absl::MutexLock lock(&mu_);
  // A batch's attempts mostly share their keys: each (slot, reached) pair is
  // recorded once per batch.
  const Sample* previous = nullptr;
  for (size_t i = 0; i < samples.size() && i < is_new.size(); ++i) {
    if (!is_new[i]) continue;
    const Sample& s = samples[i];
    s.attempts->Increment();
    if (s.connect != nullptr) s.connect->Observe(s.connect_seconds);
    if (s.handshake != nullptr) s.handshake->Observe(s.handshake_seconds);
    const bool same = previous != nullptr && previous->reached == s.reached;
    if (s.download != nullptr) {
      if (!(same && previous->download == s.download) &&
          by_download_.Record(s.download, who, s.reached, now)) {
        SetSplitGauges(download_sites_, *s.download);
      }
      previous = &s;
      continue;
    }
    if (!(same && previous->region == s.region) &&
        by_region_.Record(s.region, who, s.reached, now)) {
      SetRegionGauge(*s.region);
    }
    if (!(same && previous->relay == s.relay) && by_relay_.Record(s.relay, who, s.reached, now)) {
      SetSplitGauges(relay_sites_, *s.relay);
    }
    if (!(same && previous->port == s.port) && by_port_.Record(s.port, who, s.reached, now)) {
      SetSplitGauges(port_sites_, *s.port);
    }
    previous = &s;
  }
}

void IngestMetrics::SetRegionGauge(const SiteWindow::Slot& slot) {
  sites_active_.Add(slot.key).Set(static_cast<double>(slot.counts.sites));
}

void IngestMetrics::SetSplitGauges(prometheus::Family<prometheus::Gauge>& family,
                                   const SiteWindow::Slot& slot) {
  SiteWindow::Key labels = slot.key;
  labels["reachable"] = "true";
  family.Add(labels).Set(static_cast<double>(slot.counts.reached));
  labels["reachable"] = "false";
  family.Add(labels).Set(static_cast<double>(slot.counts.sites - slot.counts.reached));
}

void IngestMetrics::UpdateActiveSites(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (now - last_sweep_ < absl::Seconds(1)) return;
  last_sweep_ = now;
  by_region_.Expire(now, [&](const SiteWindow::Slot& slot) { SetRegionGauge(slot); });
  by_relay_.Expire(now, [&](const SiteWindow::Slot& slot) { SetSplitGauges(relay_sites_, slot); });
  by_port_.Expire(now, [&](const SiteWindow::Slot& slot) { SetSplitGauges(port_sites_, slot); });
  by_download_.Expire(now,
                      [&](const SiteWindow::Slot& slot) { SetSplitGauges(download_sites_, slot); });
}

void IngestMetrics::CountBatch(const std::string& result) {
  batches_.Add({{"result", result}}).Increment();
}

void IngestMetrics::CountRejected(const v1::RejectedAttempt& rejected) {
  std::string field;
  bool in_index = false;
  for (char c : rejected.field()) {
    if (c == '[') in_index = true;
    if (!in_index) field += c;
    if (c == ']') in_index = false;
  }
  rejected_.Add({{"field", field}}).Increment();
}

void IngestMetrics::CountDuplicates(uint64_t n) { duplicates_.Increment(static_cast<double>(n)); }
void IngestMetrics::ObserveCommit(absl::Duration latency) {
  commit_.Observe(absl::ToDoubleSeconds(latency));
}
void IngestMetrics::SetQueueDepth(size_t depth) { queue_depth_.Set(static_cast<double>(depth)); }

}  // namespace relayscope::collector
