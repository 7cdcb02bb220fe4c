// Delivering a session's telemetry to the collector, at least once.
//
// The session is cut into batches and sent on the Ingest stream; a batch is
// done only when the collector acks it (after its durable commit). Whatever
// is not acked - collector down, network cut, deadline - goes to a bounded
// disk spool and is delivered first, in order, the next time. The collector
// de-duplicates by (agent, session, sequence), so resending is always safe.
//
// The stream is gRPC's wire format (grpc_wire.h) over libcurl's HTTP/2:
// h2c with prior knowledge when insecure, TLS with ALPN h2 otherwise. It
// goes over the routes given, in order - DIRECT or the customer's proxies,
// as the diagnosis found and authenticated them - so telemetry gets out
// wherever the diagnosis did, and the collector stays a gRPC server.
// Portable C++ (std::filesystem and libcurl only): the Windows agent
// builds this same file.
#ifndef AGENT_UPLOAD_UPLOADER_H_
#define AGENT_UPLOAD_UPLOADER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "agent/proxy/proxy_url.h"
#include "common/clock.h"
#include "relayscope/v1/ingest.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// One way to the collector: DIRECT, or a proxy with its credentials (a
// secret, never shown: see ProxyUrl::Redacted).
struct UploadRoute {
  ProxyUrl proxy = ProxyUrl::Direct();
  // For people: where the route comes from ("PAC http://wpad/wpad.dat
  // answered ...", "https_proxy (env)").
  std::string why;
};

// (user, password) for a proxy that answered 407, or nullopt to give up.
using ProxyCredentialsQuestion =
    std::function<std::optional<std::pair<std::string, std::string>>(const v1::Proxy&)>;

struct UploadOptions {
  // Collector address, host:port.
  std::string target;
  // Plain text instead of TLS (local demo and tests only).
  bool insecure = false;
  // PEM CA bundle for the collector's certificate; empty: system roots.
  std::string ca_file;
  // Bearer token (a secret: never logged).
  std::string token;
  // The routes to the collector, in the order they are tried; a route that
  // fails before the collector answers (proxy unreachable, CONNECT refused,
  // 407 that cannot be satisfied, TLS, something that is not gRPC) passes
  // to the next. Empty: DIRECT alone. HTTP(S) proxies carry the stream in
  // a CONNECT tunnel; SOCKS proxies as their scheme says.
  std::vector<UploadRoute> routes;
  // HTTPS proxies: the CA bundle to verify them with (empty: system roots).
  std::string proxy_ca_file;
  // Asked at most once per proxy and upload when a proxy route without
  // credentials answers 407; the route is then tried again with the
  // answer. Empty: a 407 stands.
  ProxyCredentialsQuestion ask_credentials;
  // Where unacknowledged batches wait; empty disables the spool.
  std::string spool_dir;
  // The spool never grows beyond this; the oldest batches go first.
  uint64_t spool_max_bytes = 64 << 20;
  int attempts_per_batch = 500;
  // The whole upload, retries included, ends by then.
  absl::Duration deadline = absl::Seconds(10);
  int max_tries = 4;
  // What the deadline and the backoff between tries are measured on;
  // nullptr: the system clock.
  Clock* clock = nullptr;
};

struct UploadResult {
  uint64_t delivered_batches = 0;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t delivered_from_spool = 0;  // batches of earlier sessions
  uint64_t spooled = 0;               // batches left for next time
  uint64_t dropped = 0;               // spooled batches dropped to stay in bounds
  // The route the collector answered over, as people read it ("DIRECT",
  // "http://user:****@proxy:3128"); empty when it answered over none.
  std::string route;
  // Why delivery stopped, if it did ("collector host:port unavailable:
  // DIRECT: ... (14)"), naming each route tried and its failure.
  std::string error;
};

// Splits a session into ingest batches: every batch carries the agent and
// session id; the first also carries the proxies and the verdict.
std::vector<v1::UploadRequest> MakeBatches(const v1::SessionReport& report, int per_batch);

// Delivers the spool, then `report`. Never throws, never blocks longer than
// options.deadline; failures end up in the result and the spool.
UploadResult Upload(const v1::SessionReport& report, const UploadOptions& options);

}  // namespace relayscope::agent

#endif  // AGENT_UPLOAD_UPLOADER_H_
