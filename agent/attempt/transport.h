// Opening a byte stream to a relay over one route: DIRECT, HTTP CONNECT,
// HTTPS proxy, SOCKS4/4a/5.
//
// All routes go through libcurl in CONNECT_ONLY mode, so proxy
// authentication (Basic, Digest, NTLM, Negotiate, SOCKS5 user/password) and
// TLS to HTTPS proxies come from a well-kept library rather than our own
// protocol code. OpenRoute never throws and never returns an error status
// for network failures: a failure is an outcome, recorded as data.
#ifndef AGENT_ATTEMPT_TRANSPORT_H_
#define AGENT_ATTEMPT_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// A proxy to go through. `password` is a secret: it is handed to libcurl and
// never logged, printed or put into telemetry.
struct ProxyEndpoint {
  v1::RouteKind kind = v1::ROUTE_KIND_DIRECT;
  std::string host;
  uint16_t port = 0;
  std::string username;
  std::string password;
  // SOCKS5 only: let the proxy resolve the relay name (socks5h).
  bool remote_dns = false;
  // HTTPS proxies only: CA bundle to verify the proxy's certificate with;
  // empty means the system roots.
  std::string ca_file;
};

// Where to go: a relay host name or literal address, and a port.
struct Destination {
  std::string host;
  uint16_t port = 0;
};

// An open byte stream to the relay (through the proxy, if any). Moves only.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  // Sends all of `data` before `deadline`. On failure returns the outcome
  // (CONNECTION_RESET, HANDSHAKE_TIMEOUT) and the errno behind it.
  struct IoError {
    v1::Outcome outcome;
    int os_error;
  };
  virtual absl::StatusOr<size_t> Send(absl::Span<const uint8_t> data, absl::Time deadline,
                                      IoError* error) = 0;
  // Receives up to `buffer.size()` bytes, waiting until `deadline`.
  // Returns the byte count, 0 at end of stream. On a timeout or reset returns
  // an error status and fills `error`.
  virtual absl::StatusOr<size_t> Recv(absl::Span<uint8_t> buffer, absl::Time deadline,
                                      IoError* error) = 0;
};

// What opening the route found. When `tunnel` is set the route is open and
// `outcome` is OUTCOME_OK; otherwise `outcome` says why not.
struct OpenResult {
  std::unique_ptr<Tunnel> tunnel;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  v1::Phase failed_phase = v1::PHASE_UNSPECIFIED;
  // Phases completed or failed, in order, with their timings.
  std::vector<v1::PhaseTiming> phases;
  // The proxy's HTTP status to CONNECT, or the SOCKS reply code.
  uint32_t proxy_status = 0;
  int os_error = 0;
  // One line for people; never contains the proxy password.
  std::string detail;
};

// Opens `destination` over `proxy` (kind DIRECT means no proxy) before
// `deadline`. The result's outcome is one of the closed set: OK, DNS_FAILURE,
// CONNECT_TIMEOUT, CONNECTION_REFUSED, HOST_UNREACHABLE,
// NETWORK_UNREACHABLE, CONNECTION_RESET, PROXY_ERROR, PROXY_AUTH_REQUIRED,
// PROXY_AUTH_FAILED, TLS_FAILURE.
OpenResult OpenRoute(const Destination& destination, const ProxyEndpoint& proxy,
                     absl::Time deadline);

// Makes the connection to the first hop (relay or proxy) in place of the
// TCP connect to the address libcurl resolved: returns a TCP socket whose
// non-blocking connect() was started (libcurl checks it by calling
// connect() again), which OpenRoute then owns, or -1 with errno set. For
// tests and fuzzing, which make and accept the connection themselves and
// so need no thread to serve it.
using FirstHopConnector = std::function<int()>;

// As above, with the first hop's connection made by `connect_first_hop`.
OpenResult OpenRoute(const Destination& destination, const ProxyEndpoint& proxy,
                     absl::Time deadline, const FirstHopConnector& connect_first_hop);

// The symbolic name of an errno value ("ECONNREFUSED"), or "" for 0.
std::string ErrnoName(int os_error);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_TRANSPORT_H_
