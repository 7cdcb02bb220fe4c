// The DNS check, as OONI's web-connectivity test does it: what this
// machine's resolver says about a relay's name, compared with the
// addresses the catalogue lists for it. A sinkhole or unexpected answer is
// evidence of DNS-level blocking or hijacking even when the attempts (which
// go to the catalogue's addresses) work.
#ifndef AGENT_ATTEMPT_DNS_CHECK_H_
#define AGENT_ATTEMPT_DNS_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// True for an address no public service uses, which resolvers that block a
// name answer with: 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, ::, ::1,
// fe80::/10 (and the IPv4 ones written as ::ffff:a.b.c.d). False for
// anything that is not a literal address.
bool IsSinkholeAddress(absl::string_view address);

// Judges the answers to `host` against `listed` (the catalogue's addresses;
// compared as addresses, so "2001:db8::1" matches "2001:DB8:0::1"):
//   FAILED      the lookup failed or gave nothing (`error` says why);
//   SINKHOLE    an answer is a sinkhole address the catalogue does not list
//               (the catalogue may list loopback, as tests do);
//   UNEXPECTED  an answer the catalogue does not list;
//   CONSISTENT  every answer is listed.
// `answers` keeps the resolver's order (at most 16); `error` at most 256
// bytes.
v1::DnsEvidence CheckDns(const std::string& host, const std::vector<std::string>& listed,
                         const absl::StatusOr<std::vector<std::string>>& answers);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_DNS_CHECK_H_
