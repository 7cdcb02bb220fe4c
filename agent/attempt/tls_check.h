// The download check: a TLS handshake to a download service (the plugin
// server) over one route, as a browser would make it (SNI, the machine's
// trusted roots), judged against the catalogue's pin of the genuine server.
//
// The route is opened by the same Transport as relay attempts (DIRECT,
// CONNECT with proxy authentication, SOCKS), and OpenSSL runs the TLS
// client over that tunnel through memory BIOs: no hand-written TLS. What
// the handshake finds is one outcome of the closed set:
//   OK                     the genuine chain (a pin matched, or with no pin
//                          the chain is trusted) carrying the service's name
//   TLS_INTERCEPTED        TLS completed with another chain (an inspection
//                          device), trusted here or not: see Attempt.tls
//   SNI_FILTERED           reset, closed or silent right after the
//                          ClientHello, while a ClientHello naming another
//                          server over the same route is answered (the SNI
//                          control)
//   TLS_REFUSED            a TLS alert in answer (versions, ciphers)
//   PROTOCOL_INTERFERENCE  something that is not TLS answered (an HTTP page)
//   CONNECTION_RESET / HANDSHAKE_TIMEOUT  cut or silent, and the control
//                          failed too (the address or port, not the name)
//   TLS_FAILURE            a broken TLS answer
// and any outcome of opening the route.
#ifndef AGENT_ATTEMPT_TLS_CHECK_H_
#define AGENT_ATTEMPT_TLS_CHECK_H_

#include <string>

#include "absl/time/time.h"
#include "agent/attempt/transport.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// The name the SNI control sends: a reserved name (RFC 2606 .invalid) that
// no filter lists and no server is configured for, so any TLS answer to it
// means the address and port are open to TLS.
inline constexpr char kSniControlName[] = "sni-control.relayscope.invalid";

// How long the SNI control may run beyond the attempt's deadline when the
// first handshake went silent (and so used up the deadline): a silent SNI
// filter costs that attempt up to this much more.
inline constexpr absl::Duration kSniControlGrace = absl::Seconds(2);

struct TlsCheckOptions {
  // PEM file of the roots to trust instead of this machine's (tests);
  // empty: the system roots (OpenSSL's default paths, SSL_CERT_FILE /
  // SSL_CERT_DIR honoured; on Windows the ROOT certificate store as well).
  // The roots are read at the first check and kept for the process.
  std::string ca_file;
};

// Checks `service` at `destination` over `proxy` before `deadline`, on the
// transport's clock. Fills what RunAttempt fills (start_time, address,
// port, route_kind, phases ending in PHASE_SERVER_TLS, outcome,
// failed_phase, proxy evidence, bytes, detail), plus target =
// TARGET_DOWNLOAD and `tls`; the caller adds the session, sequence,
// region, relay (the service id) and proxy description.
v1::Attempt RunTlsCheck(const v1::DownloadService& service, const Destination& destination,
                        const ProxyUrl& proxy, absl::Time deadline,
                        Transport& transport = RealTransport(),
                        const TlsCheckOptions& options = {});

// True when `received` (the first bytes back) can be the start of a TLS
// record: a handshake (22) or alert (21) record of TLS version 3.x.
bool LooksLikeTls(absl::string_view received);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_TLS_CHECK_H_
