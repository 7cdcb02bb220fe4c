// IngestMetrics on its own registry: the site gauges as sites arrive and
// leave the window, with a fixed clock.
#include "collector/ingest/ingest_metrics.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

// The gauge value of `family` with exactly `labels`, or -1.
double GaugeValue(prometheus::Registry& registry, const std::string& family_name,
                  const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != family_name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return metric.gauge.value;
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
  EXPECT_EQ(GaugeValue(registry, "relayscope_sites_active", {{"region", "emea"}}), 2);
  EXPECT_EQ(GaugeValue(registry, "relayscope_relay_sites",
                       {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "true"}}),
            1);
  EXPECT_EQ(GaugeValue(registry, "relayscope_relay_sites",
                       {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            1);
  EXPECT_EQ(GaugeValue(registry, "relayscope_port_sites", {{"port", "80"}, {"reachable", "false"}}),
            2);
  EXPECT_EQ(
      GaugeValue(registry, "relayscope_port_sites", {{"port", "8200"}, {"reachable", "true"}}), 1);
  metrics.UpdateActiveSites(now);  // a sweep agrees
  EXPECT_EQ(GaugeValue(registry, "relayscope_relay_sites",
                       {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            1);
  // Fifteen minutes on, nobody has reported: every gauge reads 0.
  metrics.UpdateActiveSites(now + absl::Minutes(16));
  EXPECT_EQ(GaugeValue(registry, "relayscope_relay_sites",
                       {{"region", "emea"}, {"relay", "emea-1"}, {"reachable", "false"}}),
            0);
  EXPECT_EQ(GaugeValue(registry, "relayscope_sites_active", {{"region", "emea"}}), 0);
}

}  // namespace
}  // namespace relayscope::collector
