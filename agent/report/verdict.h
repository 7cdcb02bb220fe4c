// The verdict: what works, what is blocked, by what, and what to ask the
// network administrator to change, in plain language.
//
// Built from a session's attempts alone, so the same attempts always give the
// same verdict (the collector and tests can recompute it).
#ifndef AGENT_REPORT_VERDICT_H_
#define AGENT_REPORT_VERDICT_H_

#include <string>
#include <vector>

#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Computes the verdict for `attempts` against `catalogue` (used for region
// names and to know which regions were expected). Never fails: with no
// attempts the verdict is UNREACHABLE with a summary saying nothing was tried.
v1::Verdict ComputeVerdict(const v1::Catalogue& catalogue,
                           const std::vector<v1::Attempt>& attempts);

// "direct", "HTTP proxy 10.0.0.1:3128 (from env https_proxy)", ... for people.
std::string DescribeRoute(const v1::Attempt& attempt);

// "emea-1 81.144.208.229:8200 via direct" for people.
std::string DescribeAttempt(const v1::Attempt& attempt);

// "connection refused", "protocol interference", ... for people.
std::string DescribeOutcome(v1::Outcome outcome);

}  // namespace relayscope::agent

#endif  // AGENT_REPORT_VERDICT_H_
