// Proxy replies as the agent meets them: HTTP CONNECT status lines and
// headers, SOCKS4 and SOCKS5 method/auth/connect replies. The agent does
// not parse these bytes itself: libcurl does (CONNECT_ONLY, see
// agent/attempt/transport.h), and CurlTransport turns libcurl's verdict into
// an outcome. So the smallest unit that parses them is CurlTransport::Open,
// whose
// first hop is here a rig::CannedPeer: a loopback connection made and
// accepted by the fuzzing thread, already holding the fuzz input and then
// end of stream (the proxy answered and closed).
//
// Invariants: the outcome is one of the closed set Transport::Open
// documents;
// a tunnel exactly when the outcome is OK; a failure names its phase; the
// detail never shows the proxy password, whatever the proxy echoed; the
// proxy's words (status line, Server, Via, SOCKS reply, realm) are
// printable, within their caps and never show the password either; the
// schemes offered are known ones, without duplicates.
//
// A TCP connection and a libcurl handle per input, so it runs at
// thousands, not millions, of inputs per second; libcurl is Debian's
// (uninstrumented), so coverage feedback covers CurlTransport's classification
// only. (A listener served by a second thread took 1.3-1.5x the CPU per
// input: the context switches between the two threads. A socketpair is
// not possible: libcurl 7.88 calls connect() on the socket it is handed.)
#ifndef TESTS_FUZZ_PROXY_REPLY_FUZZ_H_
#define TESTS_FUZZ_PROXY_REPLY_FUZZ_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/attempt/proxy_evidence.h"
#include "agent/attempt/transport.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/rig/canned_peer.h"

namespace relayscope::fuzz {

inline constexpr char kProxyPassword[] = "Fuzz-Pa55word";

inline bool IsOpenOutcome(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_OK:
    case v1::OUTCOME_DNS_FAILURE:
    case v1::OUTCOME_CONNECT_TIMEOUT:
    case v1::OUTCOME_CONNECTION_REFUSED:
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
    case v1::OUTCOME_CONNECTION_RESET:
    case v1::OUTCOME_PROXY_ERROR:
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
    case v1::OUTCOME_PROXY_AUTH_FAILED:
    case v1::OUTCOME_TLS_FAILURE:
      return true;
    default:
      return false;
  }
}

// Evidence text as EscapeEvidence makes it: printable ASCII, at most `cap`.
inline bool IsEvidenceText(const std::string& text, size_t cap) {
  if (text.size() > cap) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

inline void CheckProxyAuthEvidence(const v1::ProxyAuthEvidence& auth) {
  FUZZ_CHECK(IsEvidenceText(auth.realm(), agent::kMaxRealm));
  for (int i = 0; i < auth.offered_size(); ++i) {
    FUZZ_CHECK(auth.offered(i) != v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
    FUZZ_CHECK(v1::ProxyAuthScheme_IsValid(auth.offered(i)));
    for (int j = 0; j < i; ++j) FUZZ_CHECK(auth.offered(i) != auth.offered(j));
  }
}

inline void CheckProxyReply(const v1::ProxyReply& reply) {
  for (const std::string* field :
       {&reply.status_line(), &reply.server(), &reply.via(), &reply.socks_reply()}) {
    FUZZ_CHECK(IsEvidenceText(*field, agent::kMaxReplyField));
  }
}

// Feeds `reply` to the header parser directly, one line per "\n", so the
// parser also sees what libcurl would have stopped at (NULs, lines
// without a colon, lines past 16 KiB).
inline void ParseHeadersDirectly(const std::string& reply) {
  agent::ConnectReplyEvidence evidence;
  size_t start = 0;
  while (start <= reply.size()) {
    size_t end = reply.find('\n', start);
    if (end == std::string::npos) end = reply.size();
    evidence.AddHeaderLine(absl::string_view(reply).substr(start, end + 1 - start));
    start = end + 1;
  }
  CheckProxyReply(evidence.reply());
  CheckProxyAuthEvidence(evidence.auth());
  FUZZ_CHECK(evidence.auth().used() == v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
}

// Opens a route to relay.example:443 through a proxy that answers
// `reply`; `with_credentials` adds a user name and kProxyPassword.
inline void OpenThroughFakeProxy(v1::RouteKind kind, bool remote_dns, bool with_credentials,
                                 const std::string& reply) {
  auto peer = rig::CannedPeer::Create(reply);
  FUZZ_CHECK(peer.ok());
  agent::ProxyUrl endpoint;
  endpoint.kind = kind;
  endpoint.host = "127.0.0.1";  // libcurl's own connect() finds the socket connected
  endpoint.port = 3128;
  endpoint.remote_dns = remote_dns;
  if (with_credentials) {
    endpoint.username = "fuzzer";
    endpoint.password = kProxyPassword;
  }
  // The relay is an IP literal unless the proxy resolves names (socks4a,
  // socks5h): no DNS query ever leaves the machine.
  const agent::Destination destination{remote_dns ? "relay.example" : "192.0.2.10", 443};
  agent::CurlTransport::Options options;
  options.connect_first_hop = [&peer] { return (*peer)->TakeClientEnd(); };
  agent::CurlTransport transport(std::move(options));
  agent::OpenResult result = transport.Open(destination, endpoint, absl::Now() + absl::Seconds(2));
  const bool has_tunnel = result.tunnel != nullptr;
  result.tunnel.reset();  // closes the agent's end
  // RELAYSCOPE_FUZZ_VERBOSE=1 prints each verdict (to read a reproducer).
  static const bool verbose = std::getenv("RELAYSCOPE_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "outcome %s, status %u: %s\n", v1::Outcome_Name(result.outcome).c_str(),
                 result.proxy_status, result.detail.c_str());
  }
  FUZZ_CHECK(IsOpenOutcome(result.outcome));
  FUZZ_CHECK((result.outcome == v1::OUTCOME_OK) == has_tunnel);
  if (result.outcome != v1::OUTCOME_OK) {
    FUZZ_CHECK(result.failed_phase != v1::PHASE_UNSPECIFIED);
    FUZZ_CHECK(!result.detail.empty());
  }
  FUZZ_CHECK(result.detail.find(kProxyPassword) == std::string::npos);
  FUZZ_CHECK(result.proxy_status <= 999);
  CheckProxyReply(result.proxy_reply);
  CheckProxyAuthEvidence(result.proxy_auth);
  // A proxy that was sent the password can echo it into its headers: the
  // evidence never keeps it. (Without credentials the agent never had it,
  // and the same bytes in a reply are only text.)
  if (with_credentials) {
    for (const std::string* field :
         {&result.proxy_reply.status_line(), &result.proxy_reply.server(),
          &result.proxy_reply.via(), &result.proxy_auth.realm()}) {
      FUZZ_CHECK(field->find(kProxyPassword) == std::string::npos);
    }
  }
  if (!with_credentials) FUZZ_CHECK(result.proxy_auth.used() == v1::PROXY_AUTH_SCHEME_UNSPECIFIED);
  // Only an HTTPS proxy presents a certificate.
  FUZZ_CHECK(result.proxy_certificate.ByteSizeLong() == 0 || kind == v1::ROUTE_KIND_HTTPS_PROXY);
}

}  // namespace relayscope::fuzz

#endif  // TESTS_FUZZ_PROXY_REPLY_FUZZ_H_
