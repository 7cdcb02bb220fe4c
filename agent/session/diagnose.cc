#include "agent/session/diagnose.h"

#include <openssl/rand.h>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/attempt/attempt.h"
#include "agent/report/verdict.h"

namespace relayscope::agent {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  out->set_seconds(us / 1000000);
  out->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
}

}  // namespace

std::string NewUuid() {
  uint8_t b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return absl::StrFormat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                         b[12], b[13], b[14], b[15]);
}

v1::SessionReport Diagnose(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
                           const std::vector<v1::DiscoveredProxy>& proxies,
                           const DiagnoseOptions& options) {
  v1::SessionReport report;
  *report.mutable_agent() = options.agent;
  report.set_session_id(options.session_id.empty() ? NewUuid() : options.session_id);
  report.set_catalogue(catalogue.name());
  for (const v1::DiscoveredProxy& proxy : proxies) *report.add_proxies() = proxy;
  SetTimestamp(absl::Now(), report.mutable_start_time());

  const std::vector<PlannedAttempt> plan = Plan(catalogue, routes, options.allowed_ports);
  std::vector<v1::Attempt> results(plan.size());
  absl::Mutex callback_mu;
  const std::vector<bool> started = Race(
      plan.size(), options.race,
      [&](size_t i, absl::Time deadline) {
        const PlannedAttempt& planned = plan[i];
        v1::Attempt attempt =
            RunAttempt(Destination{planned.address, planned.port}, planned.route->endpoint,
                       deadline);
        attempt.set_session_id(report.session_id());
        attempt.set_sequence(i + 1);
        attempt.set_region(planned.region);
        attempt.set_relay(planned.relay);
        if (planned.route->endpoint.kind != v1::ROUTE_KIND_DIRECT) {
          *attempt.mutable_proxy() = planned.route->proxy;
        }
        results[i] = std::move(attempt);  // each index written by one thread
      },
      [&](size_t i) {
        if (!options.on_attempt) return;
        absl::MutexLock lock(&callback_mu);
        options.on_attempt(results[i]);
      });

  std::vector<v1::Attempt> finished;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (started[i]) finished.push_back(results[i]);
  }
  for (const v1::Attempt& attempt : finished) *report.add_attempts() = attempt;
  *report.mutable_verdict() = ComputeVerdict(catalogue, finished);
  if (finished.size() < plan.size()) {
    report.mutable_verdict()->set_summary(absl::StrFormat(
        "%s (%d of %d attempts were not started: the time budget ran out.)",
        report.verdict().summary(), plan.size() - finished.size(), plan.size()));
  }
  SetTimestamp(absl::Now(), report.mutable_end_time());
  return report;
}

}  // namespace relayscope::agent
