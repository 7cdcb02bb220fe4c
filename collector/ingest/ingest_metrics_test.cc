// IngestMetrics on its own registry: the site gauges as sites arrive and
// leave the window, with a fixed clock.
#include "collector/ingest/ingest_metrics.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

// The value of the series of `family_name` with exactly `labels` (a
// gauge's or a counter's), or -1.
double SeriesValue(prometheus::Registry& registry, const std::string& family_name,
                   const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != family_name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                            : metric.gauge.value;
    }
  }
  return -1;
}

TEST(IngestMetricsTest, SitesThatReachOrNeverReachARelayAndAPortAreGauges) {
  prometheus::Registry registry;
  IngestMetrics metrics(registry);
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  auto attempt = [](const std::string& relay, uint32_t port, v1::Outcome outcome) {
    v1::Attempt a;
    a.set_region("emea");
    a.set_relay(relay);
    a.set_port(port);
    a.set_route_kind(v1::ROUTE_KIND_DIRECT);
    a.set_outcome(outcome);
    return a;
  };
  auto count = [&](const std::string& site, std::vector<v1::Attempt> attempts) {
    std::vector<IngestMetrics::Sample> samples;
    for (const auto& a : attempts) samples.push_back(metrics.Resolve(a));
    metrics.Count(samples, std::vector<bool>(samples.size(), true), site, now);
  };
  // paris reaches emea-1 on 8200 but never on 80; lyon never reaches it.
  count("paris", {attempt("emea-1", 8200, v1::OUTCOME_OK),
                  attempt("emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE)});
  count("lyon", {attempt("emea-1", 80, v1::OUTCOME_PROTOCOL_INTERFERENCE),
                 attempt("emea-1", 8200, v1::OUTCOME_CONNECT_TIMEOUT)});
  // The gauges move as sites arrive, before any sweep.
  EXPECT_EQ(SeriesValue(registry, "relayscope_sites_active", {{"region", "emea"}}), 2);
  EXPECT_EQ(SeriesValue(registry, "relayscope_relay_sites",
                        {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "true"}}),
            1);
  EXPECT_EQ(SeriesValue(registry, "relayscope_relay_sites",
                        {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            1);
  EXPECT_EQ(
      SeriesValue(registry, "relayscope_port_sites", {{"port", "80"}, {"reachable", "false"}}), 2);
  EXPECT_EQ(
      SeriesValue(registry, "relayscope_port_sites", {{"port", "8200"}, {"reachable", "true"}}), 1);
  metrics.UpdateActiveSites(now);  // a sweep agrees
  EXPECT_EQ(SeriesValue(registry, "relayscope_relay_sites",
                        {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            1);
  // Fifteen minutes on, nobody has reported: every gauge reads 0.
  metrics.UpdateActiveSites(now + absl::Minutes(16));
  EXPECT_EQ(SeriesValue(registry, "relayscope_relay_sites",
                        {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            0);
  EXPECT_EQ(SeriesValue(registry, "relayscope_sites_active", {{"region", "emea"}}), 0);
}

// Series of `family_name` (any labels).
size_t SeriesCount(prometheus::Registry& registry, const std::string& family_name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == family_name) return family.metric.size();
  }
  return 0;
}

TEST(IngestMetricsTest, DownloadChecksHaveTheirOwnFamiliesAndLeaveRelaySeriesAlone) {
  prometheus::Registry registry;
  IngestMetrics metrics(registry);
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  auto download = [](uint32_t port, v1::Outcome outcome) {
    v1::Attempt a;
    a.set_target(v1::TARGET_DOWNLOAD);
    a.set_region("emea");
    a.set_relay("plugin");
    a.set_port(port);
    a.set_route_kind(v1::ROUTE_KIND_HTTP_CONNECT);
    a.set_outcome(outcome);
    v1::PhaseTiming* connect = a.add_phases();
    connect->set_phase(v1::PHASE_TCP_CONNECT);
    connect->set_completed(true);
    connect->mutable_duration()->set_nanos(2000000);
    return a;
  };
  auto count = [&](const std::string& site, std::vector<v1::Attempt> attempts) {
    std::vector<IngestMetrics::Sample> samples;
    for (const auto& a : attempts) samples.push_back(metrics.Resolve(a));
    metrics.Count(samples, std::vector<bool>(samples.size(), true), site, now);
  };
  // paris is intercepted on 443 and reaches the service on 8443; lyon is
  // intercepted twice and never reaches it.
  count("paris", {download(443, v1::OUTCOME_TLS_INTERCEPTED), download(8443, v1::OUTCOME_OK)});
  count("lyon",
        {download(443, v1::OUTCOME_TLS_INTERCEPTED), download(443, v1::OUTCOME_TLS_INTERCEPTED)});
  EXPECT_EQ(SeriesValue(registry, "relayscope_download_attempts_total",
                        {{"region", "emea"},
                         {"service", "plugin"},
                         {"port", "443"},
                         {"route", "http_connect"},
                         {"outcome", "tls_intercepted"}}),
            3);
  EXPECT_EQ(SeriesValue(registry, "relayscope_download_attempts_total",
                        {{"region", "emea"},
                         {"service", "plugin"},
                         {"port", "8443"},
                         {"route", "http_connect"},
                         {"outcome", "ok"}}),
            1);
  EXPECT_EQ(SeriesValue(registry, "relayscope_download_sites",
                        {{"region", "emea"}, {"service", "plugin"}, {"reachable", "true"}}),
            1);
  EXPECT_EQ(SeriesValue(registry, "relayscope_download_sites",
                        {{"region", "emea"}, {"service", "plugin"}, {"reachable", "false"}}),
            1);
  // Nothing of it in the relay families: no attempts, no latencies, no
  // sites (a site that only checked downloads is no active relay site).
  for (const char* family : {"relayscope_attempts_total", "relayscope_connect_duration_seconds",
                             "relayscope_handshake_duration_seconds", "relayscope_sites_active",
                             "relayscope_relay_sites", "relayscope_port_sites"}) {
    EXPECT_EQ(SeriesCount(registry, family), 0u) << family;
  }
  // The window empties the download gauges as it does the relay ones.
  metrics.UpdateActiveSites(now + absl::Minutes(16));
  EXPECT_EQ(SeriesValue(registry, "relayscope_download_sites",
                        {{"region", "emea"}, {"service", "plugin"}, {"reachable", "false"}}),
            0);
}

}  // namespace
}  // namespace relayscope::collector
