// Opening a byte stream to a relay over one route: DIRECT, HTTP CONNECT,
// HTTPS proxy, SOCKS4/4a/5.
//
// Transport is the seam in front of the network (see CONVENTIONS.md §4):
// CurlTransport below is the real one; FakeTransport
// (agent/attempt/fake_transport.h) scripts routes and peers in memory for
// unit tests. Opening a route never fails as a function: a network failure
// is an outcome, recorded as data.
#ifndef AGENT_ATTEMPT_TRANSPORT_H_
#define AGENT_ATTEMPT_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/proxy/proxy_url.h"
#include "common/clock.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Where to go: a relay host name or literal address, and a port.
struct Destination {
  std::string host;
  uint16_t port = 0;
};

// An open byte stream to the relay (through the proxy, if any).
//
// Send and Recv fail with DEADLINE_EXCEEDED when nothing could move before
// the deadline and with UNAVAILABLE when the stream was reset or broke;
// TunnelFailureOf says what either means for the attempt.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  // Sends all of `data` before `deadline`; returns data.size().
  virtual absl::StatusOr<size_t> Send(absl::Span<const uint8_t> data, absl::Time deadline) = 0;
  // Receives up to `buffer.size()` bytes, waiting until `deadline`. Returns
  // the byte count, 0 at end of stream.
  virtual absl::StatusOr<size_t> Recv(absl::Span<uint8_t> buffer, absl::Time deadline) = 0;
};

// What a failed Tunnel::Send or Recv means for the attempt, and the errno
// behind it: HANDSHAKE_TIMEOUT (ETIMEDOUT) for DEADLINE_EXCEEDED,
// CONNECTION_RESET (ECONNRESET) for anything else.
struct TunnelFailure {
  v1::Outcome outcome;
  int os_error;
};
TunnelFailure TunnelFailureOf(const absl::Status& status);

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
  // What the proxy said: an HTTP proxy's status line, Server and Via (on
  // every outcome where it answered CONNECT, 200 included), or a SOCKS
  // proxy's reply code in words (when it refused). Empty otherwise.
  v1::ProxyReply proxy_reply;
  // The schemes an HTTP proxy offered (Proxy-Authenticate) and the one the
  // credentials were sent with; SOCKS5 user/password where the proxy
  // asked for it. Empty when the proxy asked for nothing.
  v1::ProxyAuthEvidence proxy_auth;
  // HTTPS proxies: the certificate the proxy presented and whether it
  // verified; unset when TLS did not get as far as a certificate.
  v1::CertificateEvidence proxy_certificate;
};

// Opens routes. Implementations are safe to call from many threads at once.
class Transport {
 public:
  virtual ~Transport() = default;
  // Opens `destination` over `proxy` (proxy.direct(): no proxy) before
  // `deadline`. The result's outcome is one of the closed set: OK,
  // DNS_FAILURE, CONNECT_TIMEOUT, CONNECTION_REFUSED, HOST_UNREACHABLE,
  // NETWORK_UNREACHABLE, CONNECTION_RESET, PROXY_ERROR,
  // PROXY_AUTH_REQUIRED, PROXY_AUTH_FAILED, TLS_FAILURE.
  virtual OpenResult Open(const Destination& destination, const ProxyUrl& proxy,
                          absl::Time deadline) = 0;
  // The clock this transport's deadlines are on; attempts over it are
  // timed with it too.
  virtual Clock& clock() = 0;
};

// Makes the connection to the first hop (relay or proxy) in place of the
// TCP connect to the address libcurl resolved: returns a TCP socket whose
// non-blocking connect() was started (libcurl checks it by calling
// connect() again), which the transport then owns, or -1 with errno set.
// For tests and fuzzing, which make and accept the connection themselves
// and so need no thread to serve it.
using FirstHopConnector = std::function<int()>;

// The real transport. All routes go through libcurl in CONNECT_ONLY mode,
// so proxy authentication (Basic, Digest, NTLM, Negotiate, SOCKS5
// user/password) and TLS to HTTPS proxies come from a well-kept library
// rather than our own protocol code. The proxy password is handed to
// libcurl and never logged, printed or put into a result.
class CurlTransport final : public Transport {
 public:
  struct Options {
    // nullptr: the system clock.
    Clock* clock = nullptr;
    // HTTPS proxies: the CA bundle to verify the proxy's certificate with;
    // empty means the system roots. Recorded as custom_ca on the
    // certificate evidence; the path itself never is.
    std::string proxy_ca_file;
    // When set, replaces the TCP connect to the first hop.
    FirstHopConnector connect_first_hop;
  };
  CurlTransport() : CurlTransport(Options()) {}
  explicit CurlTransport(Options options);

  OpenResult Open(const Destination& destination, const ProxyUrl& proxy,
                  absl::Time deadline) override;
  Clock& clock() override { return clock_; }

 private:
  Options options_;
  Clock& clock_;
};

// The process's CurlTransport on the system clock: what attempts use
// unless given another transport.
Transport& RealTransport();

// How every transport names what went wrong, so a fake one names it as
// the real one does.
//
// The outcome of a TCP connect to the first hop that failed with `os_error`.
v1::Outcome ConnectFailureOutcome(int os_error);
// A proxy that answered CONNECT with HTTP `status` (not 200): sets the
// outcome (PROXY_AUTH_REQUIRED or _FAILED for 407, by whether credentials
// were sent; PROXY_ERROR otherwise), failed phase and detail naming `hop`.
// Leaves proxy_status to the caller.
void ClassifyConnectStatus(long status, bool has_credentials, absl::string_view hop,
                           OpenResult* result);
// A SOCKS proxy that answered its connect request with reply `code`
// (`version` 4 or 5, code not a success): sets the outcome
// (CONNECTION_REFUSED for 5, HOST_ and NETWORK_UNREACHABLE for 4 and 3,
// CONNECT_TIMEOUT for 6's TTL expiry, PROXY_ERROR otherwise), the failed
// phase, proxy_status = code and proxy_reply.socks_reply (SocksReplyMeaning).
void ClassifySocksReply(int version, int code, OpenResult* result);
// The scheme libcurl answers an HTTP proxy's challenge with when it has a
// password (Basic, Digest or NTLM allowed; see transport.cc): the most
// secure of those offered, Digest before NTLM before Basic; UNSPECIFIED
// when none of them is offered.
v1::ProxyAuthScheme PasswordSchemeFor(const v1::ProxyAuthEvidence& auth);
// How details name the first hop: "proxy host:port", or the relay's
// "host:port" for DIRECT.
std::string FirstHopName(const Destination& destination, const ProxyUrl& proxy);
// The detail of a TCP connect to `hop` that failed with `os_error`:
// "hop: ECONNREFUSED (Connection refused)" (common/socket.h's names and
// texts, the same on Linux and Windows).
std::string ConnectFailureDetail(absl::string_view hop, int os_error);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_TRANSPORT_H_
