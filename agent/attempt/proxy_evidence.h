// What a proxy said in its own words, as evidence on an attempt: the HTTP
// CONNECT reply's status line, Server and Via headers and the
// authentication schemes it offered (Proxy-Authenticate), and the meaning
// of a SOCKS reply code.
//
// Every byte here comes from the network and is untrusted: strings are
// escaped (non-printables as \xNN) and capped, and no input, however long
// or malformed, makes these functions fail.
#ifndef AGENT_ATTEMPT_PROXY_EVIDENCE_H_
#define AGENT_ATTEMPT_PROXY_EVIDENCE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Caps of the proto's evidence fields (telemetry.proto).
inline constexpr size_t kMaxReplyField = 256;
inline constexpr size_t kMaxRealm = 128;

// Collects the evidence from an HTTP proxy's CONNECT replies, fed one
// header line at a time as libcurl delivers them (CURLOPT_HEADERFUNCTION),
// status lines included. A CONNECT may take several replies (a 407, then
// the answer to the retry with credentials): the status line, Server and
// Via are those of the last reply; the schemes offered and the realm are
// collected over all of them, in the order offered, without duplicates.
class ConnectReplyEvidence {
 public:
  // One header line as received, with or without its CRLF. Lines without
  // a colon, unknown headers and unknown schemes are ignored.
  void AddHeaderLine(absl::string_view line);

  // Status line, Server and Via of the last reply; empty when no reply
  // was seen.
  const v1::ProxyReply& reply() const { return reply_; }
  // The schemes offered (BASIC, DIGEST, NTLM, NEGOTIATE) and the realm of
  // the first Basic or Digest challenge. `used` is left UNSPECIFIED: which
  // scheme libcurl answered with is the transport's to say.
  const v1::ProxyAuthEvidence& auth() const { return auth_; }
  // True once any reply offered a scheme (a Proxy-Authenticate header with
  // a known scheme).
  bool challenged() const { return auth_.offered_size() > 0; }

 private:
  void AddChallenges(absl::string_view value);
  void Offer(v1::ProxyAuthScheme scheme);

  v1::ProxyReply reply_;
  v1::ProxyAuthEvidence auth_;
};

// The scheme a Proxy-Authenticate challenge names ("Basic", "digest",
// "NTLM", "Negotiate"; case-insensitive), or UNSPECIFIED for any other.
v1::ProxyAuthScheme AuthSchemeNamed(absl::string_view name);

// The meaning of a SOCKS reply code, as recorded in
// ProxyReply.socks_reply: "SOCKS5 reply 2: connection not allowed by
// ruleset" (RFC 1928 names for 1..8), "SOCKS4 reply 91: request rejected
// or failed" (91..93); other codes are named "unassigned".
std::string SocksReplyMeaning(int version, int code);

// What ProxyReply.socks_reply says when SOCKS5 failed before any reply
// code: method negotiation (RFC 1928 §3, method 0xFF) and the RFC 1929
// user/password check.
inline constexpr char kSocks5NoAcceptableMethod[] =
    "SOCKS5: the proxy accepts none of the offered authentication methods";
inline constexpr char kSocks5UserRejected[] =
    "SOCKS5: the proxy rejected the user name and password";

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_PROXY_EVIDENCE_H_
