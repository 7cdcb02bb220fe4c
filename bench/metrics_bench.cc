// P5: the cost of a /metrics scrape of the collector. The series are
// created through the collector's own code path (IngestMetrics, as the
// ingest service counts committed attempts), served by the same
// prometheus-cpp exposer (ServeMetrics), and fetched over HTTP on loopback
// as Prometheus would. BM_Scrape/10 is the baseline: the same scrape with
// 10 series.
#include <benchmark/benchmark.h>
#include <curl/curl.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/synthetic.h"
#include "collector/ingest/ingest_metrics.h"
#include "common/metrics_endpoint.h"

namespace relayscope::bench {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// A collector's metrics with `series` relayscope_attempts_total series
// (distinct region/relay/port/route/outcome label sets), plus the
// histograms and gauges those attempts bring.
struct Served {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<collector::IngestMetrics> metrics;
  MetricsEndpoint endpoint;

  explicit Served(int series) {
    metrics = std::make_unique<collector::IngestMetrics>(*registry);
    const FleetShape shape;
    v1::Attempt a;
    std::vector<collector::IngestMetrics::Sample> samples;
    for (int i = 0; i < series; ++i) {
      FillAttempt(shape, 1, 1, "s", absl::Now(), &a);
      // 5 regions x 20 relays x 10 ports x 4 routes x 14 outcomes bound
      // the label sets, like a big catalogue.
      a.set_region(absl::StrCat("region-", i % 5));
      a.set_relay(absl::StrCat("relay-", i / 5 % 20));
      a.set_port(8000 + static_cast<uint32_t>(i / 100 % 10));
      a.set_route_kind(RouteOf(i / 1000 % 4));
      a.set_outcome(static_cast<v1::Outcome>(1 + i / 4000 % 14));
      samples.push_back(metrics->Resolve(a));
    }
    metrics->Count(samples, std::vector<bool>(samples.size(), true), "site-1", absl::Now());
    metrics->UpdateActiveSites(absl::Now());
    auto served = ServeMetrics("127.0.0.1:0", registry);
    if (served.ok()) endpoint = *std::move(served);
  }
};

void BM_Scrape(benchmark::State& state) {
  Served served(static_cast<int>(state.range(0)));
  if (served.endpoint.address.empty()) {
    state.SkipWithError("cannot serve /metrics");
    return;
  }
  const std::string url = absl::StrCat("http://", served.endpoint.address, "/metrics");
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  // The exposer closes the connection after each reply (no keep-alive).
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");  // loopback, whatever the environment says
  size_t bytes = 0, lines = 0;
  for (auto _ : state) {
    body.clear();
    const CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      state.SkipWithError(curl_easy_strerror(rc));
      break;
    }
    bytes = body.size();
  }
  for (char c : body) lines += c == '\n';
  curl_easy_cleanup(curl);
  // Every attempts_total series must be there, or the figure means nothing.
  size_t attempts_series = 0;
  for (size_t at = body.find("\nrelayscope_attempts_total{"); at != std::string::npos;
       at = body.find("\nrelayscope_attempts_total{", at + 1)) {
    ++attempts_series;
  }
  if (attempts_series != static_cast<size_t>(state.range(0))) {
    state.SkipWithError("the scrape lacks series");
  }
  state.counters["series"] = static_cast<double>(attempts_series);
  state.counters["sample_lines"] = static_cast<double>(lines);
  state.counters["bytes"] = static_cast<double>(bytes);
}

BENCHMARK(BM_Scrape)->Arg(10)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace relayscope::bench

BENCHMARK_MAIN();
