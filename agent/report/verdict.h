// The verdict: what works, what is blocked, by what, and what to change, in
// plain language and as structured causes (v1::Blocker).
//
// Built from a session's attempts alone, so the same attempts always give the
// same verdict (the collector and tests can recompute it).
//
// How it is reached (see ComputeVerdict):
//   1. Fold: a route (relay, address, port, route) is one logical unit. A
//      407 that the agent answered by retrying with credentials is evidence
//      for the retry, not a failure of its own.
//   2. Attribute: each failed route is blamed on the hop where it failed,
//      along agent -> [proxy] -> relay. Through a proxy, a failure to reach
//      the proxy (its name, its TCP port) is the proxy's, never the relay's.
//   3. Group: failures of one kind at one hop with the same evidence become
//      one cause, naming the device and what it said.
//   4. Rank: the cause whose fix restores the most regions comes first,
//      then the most routes; ties go to the earlier hop, then the kind, port
//      and proxy. DIRECT closed at a site that has a proxy is context, listed
//      last: that is how such sites are meant to work.
#ifndef AGENT_REPORT_VERDICT_H_
#define AGENT_REPORT_VERDICT_H_

#include <string>
#include <vector>

#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Computes the verdict for `attempts` against `catalogue` (used for region
// names, the regions expected and the addresses relays should resolve to).
// Never fails: with no attempts the verdict is UNREACHABLE with a summary
// saying nothing was tried.
v1::Verdict ComputeVerdict(const v1::Catalogue& catalogue,
                           const std::vector<v1::Attempt>& attempts);

// The agent flags the verdict's advice can name, without the leading "--"
// ("proxy-user", ...). agent/cli/flags_test.cc checks that each exists.
const std::vector<std::string>& AdvisedFlags();

// "direct", "HTTP proxy 10.0.0.1:3128 (from env https_proxy)", ... for people.
std::string DescribeRoute(const v1::Attempt& attempt);

// "emea-1 81.144.208.229:8200 via direct" for people.
std::string DescribeAttempt(const v1::Attempt& attempt);

// "connection refused", "protocol interference", ... for people.
std::string DescribeOutcome(v1::Outcome outcome);

// "NTLM", "Basic", ... for people.
std::string DescribeAuthScheme(v1::ProxyAuthScheme scheme);

// "the proxy", "the network", ... for people.
std::string DescribeHop(v1::Hop hop);

}  // namespace relayscope::agent

#endif  // AGENT_REPORT_VERDICT_H_
