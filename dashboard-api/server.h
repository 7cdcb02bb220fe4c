// The dashboard's HTTP server (civetweb, the embeddable server
// prometheus-cpp already brings in): routes requests to the REST API, the
// embedded web assets, /healthz, /readyz and /metrics.
#ifndef DASHBOARD_API_SERVER_H_
#define DASHBOARD_API_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dashboard-api/rest.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

struct mg_context;
struct mg_connection;

namespace relayscope::dashboard {

class DashboardServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks one
    int threads = 8;
    // Answers /readyz: OK when the collector is serving.
    std::function<absl::Status()> collector_ready;
  };

  // Starts serving. UNAVAILABLE naming the address if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<DashboardServer>> Start(Options options, RestApi* api);
  ~DashboardServer();

  // The address actually bound, "host:port".
  const std::string& address() const { return address_; }

  // What the server answers for a GET of `path` with `query`; public for
  // the server's callback.
  HttpResponse Route(const std::string& path, const std::string& query);

 private:
  DashboardServer(Options options, RestApi* api);
  static int HandleRequest(mg_connection* connection, void* self);

  Options options_;
  RestApi* api_;
  mg_context* context_ = nullptr;
  std::string address_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Gauge* collector_up_;
};

}  // namespace relayscope::dashboard

#endif  // DASHBOARD_API_SERVER_H_
