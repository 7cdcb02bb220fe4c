// The reference relay: the server side of the relay handshake on a list of
// addresses and ports, for tests, the local demo and synthetic checks.
//
// One thread accepts on every listener; a fixed pool of workers runs the
// handshakes, each bounded by a deadline, so a slow or hostile client costs
// one worker for at most that long and overload is refused, never queued
// without bound. Each handshake is logged as one key=value line and counted
// in Prometheus metrics by result.
#ifndef RELAY_RELAY_SERVER_H_
#define RELAY_RELAY_SERVER_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace relayscope::relay {

struct RelayOptions {
  // "127.0.0.1:8200", "[::1]:8200"; port 0 picks a free port.
  std::vector<std::string> listen;
  // Budget for a whole handshake: hello in, reply out, confirmation in.
  absl::Duration handshake_timeout = absl::Seconds(10);
  int workers = 16;
  // Connections waiting for a worker; beyond this they are refused.
  int max_pending = 256;
};

// Splits "host:port" or "[v6]:port". INVALID_ARGUMENT if malformed.
absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(absl::string_view text);

class RelayServer {
 public:
  // Binds every listener and starts serving. UNAVAILABLE naming the address
  // that cannot be bound; INVALID_ARGUMENT for a malformed one. `registry`
  // (may be null) receives relayscope_relay_handshakes_total{result} and
  // relayscope_relay_handshake_duration_seconds.
  static absl::StatusOr<std::unique_ptr<RelayServer>> Start(
      const RelayOptions& options, const std::shared_ptr<prometheus::Registry>& registry);
  ~RelayServer();

  // The addresses actually bound, as "host:port" / "[v6]:port".
  const std::vector<std::string>& bound() const { return bound_; }
  // Stops accepting, lets running handshakes finish (each is bounded by its
  // deadline) and drops connections still waiting. Idempotent.
  void Shutdown();

  struct Metrics;

 private:
  RelayServer() = default;
  void AcceptLoop();
  void WorkerLoop();
  void Handle(int fd);

  RelayOptions options_;
  std::vector<int> listeners_;
  std::vector<std::string> bound_;
  std::unique_ptr<Metrics> metrics_;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::vector<std::thread> workers_;
  absl::Mutex mu_;
  std::deque<int> pending_ ABSL_GUARDED_BY(mu_);
  absl::Mutex log_mu_;
};

}  // namespace relayscope::relay

#endif  // RELAY_RELAY_SERVER_H_
