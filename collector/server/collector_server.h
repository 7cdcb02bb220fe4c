// The whole collector in one object: store, auth policy, ingest and
// FleetQuery services with health checking and reflection, the /metrics
// endpoint and the background loops (retention, token reload, site
// gauges). relayscope-collector is this plus flags and signals; tests
// start one in-process on port 0.
#ifndef COLLECTOR_SERVER_COLLECTOR_SERVER_H_
#define COLLECTOR_SERVER_COLLECTOR_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/auth/tokens.h"
#include "collector/ingest/ingest_metrics.h"
#include "collector/ingest/ingest_service.h"
#include "collector/ingest/ingestor.h"
#include "collector/ingest/rate_limiter.h"
#include "collector/ingest/validator.h"
#include "collector/query/fleet_query_service.h"
#include "collector/query/query_engine.h"
#include "collector/store/store.h"
#include "common/metrics_endpoint.h"
#include "prometheus/registry.h"

namespace relayscope::collector {

// Everything relayscope-collector's flags say (same names, same meaning).
struct CollectorConfig {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks one
  std::string store = "sqlite:///var/lib/relayscope/collector.db";
  std::string catalogue = "/etc/relayscope/catalogue.textproto";
  std::string tokens;        // agents' token file
  std::string query_tokens;  // FleetQuery callers' token file
  // How often the token files are checked for changes (0: never).
  absl::Duration tokens_reload_interval = absl::Seconds(5);
  bool allow_unauthenticated = false;
  std::string tls_cert;  // with tls_key: serve TLS
  std::string tls_key;
  std::string metrics = "127.0.0.1:9465";  // empty: no /metrics
  int max_message_bytes = 4 << 20;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration max_connection_idle = absl::Minutes(5);
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(1);
  int max_streams_per_connection = 100;
  double agent_batches_per_second = 20;
  double token_batches_per_second = 0;  // 0: no per-holder limit
  absl::Duration retention = absl::Hours(24 * 30);

  // Not flags: the loops' periods and the shutdown grace, so tests can
  // drive them, and the clock.
  absl::Duration retention_interval = absl::Hours(1);
  absl::Duration site_gauges_interval = absl::Seconds(5);
  // Streams get this long to finish their in-flight batch at Shutdown.
  absl::Duration shutdown_grace = absl::Seconds(5);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// Who may call what. Agents need a token from `tokens` unless
// unauthenticated callers are allowed; FleetQuery callers need one from
// `query_tokens`, and without that file they are all refused unless
// unauthenticated callers are allowed: an agent's token never reads fleet
// data.
struct AuthPolicy {
  TokenAuthenticator agents = TokenAuthenticator::DenyAll();
  TokenAuthenticator readers = TokenAuthenticator::DenyAll();

  // INVALID_ARGUMENT when there are neither agent tokens nor
  // allow_unauthenticated; a token file's error when it does not load.
  static absl::StatusOr<AuthPolicy> FromConfig(const CollectorConfig& config);
};

class CollectorServer {
 public:
  // Opens the store, loads the catalogue and token files, binds the gRPC
  // and /metrics ports and starts serving and the background loops. The
  // error names what is wrong (a flag, a file, an address) and never a
  // store password.
  static absl::StatusOr<std::unique_ptr<CollectorServer>> Create(const CollectorConfig& config);

  // Shuts down (see Shutdown).
  ~CollectorServer();
  CollectorServer(const CollectorServer&) = delete;
  CollectorServer& operator=(const CollectorServer&) = delete;

  // Stops accepting streams, gives open ones config.shutdown_grace to
  // finish their batch, then cancels them and stops the loops. Idempotent
  // and thread-safe; returns once everything has stopped.
  void Shutdown();

  // The gRPC port and address actually bound ("host:port").
  int port() const { return port_; }
  const std::string& grpc_address() const { return grpc_address_; }
  // The /metrics address actually bound ("" when off).
  const std::string& metrics_address() const { return metrics_endpoint_.address; }

  // For tests and tools in the same process.
  Store& store() { return *store_; }
  prometheus::Registry& registry() { return *registry_; }
  // An in-process channel to the gRPC services (no network, no TLS).
  std::shared_ptr<grpc::Channel> InProcessChannel();

 private:
  CollectorServer(const CollectorConfig& config, v1::Catalogue catalogue, AuthPolicy auth,
                  std::unique_ptr<Store> store);
  absl::Status Start();
  void StartLoops();
  // One pass of each loop.
  void PruneOldAttempts();
  void ReloadTokens();

  const CollectorConfig config_;
  // Declared first: destroyed last, after everything that uses it.
  std::unique_ptr<Store> store_;
  std::shared_ptr<prometheus::Registry> registry_;
  AuthPolicy auth_;
  IngestMetrics metrics_;
  Validator validator_;
  RateLimiter agent_limiter_;
  std::optional<RateLimiter> holder_limiter_;
  Ingestor ingestor_;
  IngestService ingest_;
  QueryEngine query_engine_;
  FleetQueryService fleet_query_;
  MetricsEndpoint metrics_endpoint_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string grpc_address_;

  absl::Notification stopping_;
  std::vector<std::thread> loops_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_SERVER_COLLECTOR_SERVER_H_
