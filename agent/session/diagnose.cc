#include "agent/session/diagnose.h"

#include <openssl/rand.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "agent/attempt/attempt.h"
#include "agent/report/verdict.h"
#include "common/proto_time.h"

namespace relayscope::agent {

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
  Transport& transport = options.transport != nullptr ? *options.transport : RealTransport();
  Clock& clock = transport.clock();
  RaceOptions race = options.race;
  race.clock = &clock;
  v1::SessionReport report;
  *report.mutable_agent() = options.agent;
  report.set_session_id(options.session_id.empty() ? NewUuid() : options.session_id);
  report.set_catalogue(catalogue.name());
  for (const v1::DiscoveredProxy& proxy : proxies) *report.add_proxies() = proxy;
  *report.mutable_start_time() = ToProtoTimestamp(clock.Now());

  const std::vector<PlannedAttempt> plan = Plan(catalogue, routes, options.allowed_ports);
  std::vector<v1::Attempt> results(plan.size());
  // Traces keyed by start time until sequence numbers are known.
  absl::Mutex trace_mu;
  std::map<std::pair<int64_t, int32_t>, AttemptTrace> traces_by_start;
  // Credentials obtained after a 407, per route (by index in `routes`).
  absl::Mutex credentials_mu;
  std::map<const Route*, std::optional<std::pair<std::string, std::string>>> credentials;
  absl::Mutex retried_mu;
  std::vector<v1::Attempt> challenged;  // 407 answers that led to a retry
  absl::Mutex callback_mu;
  auto notify = [&](const v1::Attempt& attempt) {
    if (!options.on_attempt) return;
    absl::MutexLock lock(&callback_mu);
    options.on_attempt(attempt);
  };
  auto run_one = [&](const PlannedAttempt& planned, const ProxyUrl& endpoint, absl::Time deadline) {
    AttemptTrace trace;
    v1::Attempt attempt = RunAttempt(Destination{planned.address, planned.port}, endpoint, deadline,
                                     transport, options.traces != nullptr ? &trace : nullptr);
    if (options.traces != nullptr) {
      absl::MutexLock lock(&trace_mu);
      traces_by_start[{attempt.start_time().seconds(), attempt.start_time().nanos()}] =
          std::move(trace);
    }
    attempt.set_session_id(report.session_id());
    attempt.set_region(planned.region);
    attempt.set_relay(planned.relay);
    if (!endpoint.direct()) {
      *attempt.mutable_proxy() = planned.route->proxy;
      attempt.mutable_proxy()->set_has_credentials(!endpoint.username.empty());
    }
    return attempt;
  };
  // The credentials to use for `route`: asked for once, then remembered.
  auto credentials_for = [&](const Route* route,
                             bool ask) -> std::optional<std::pair<std::string, std::string>> {
    absl::MutexLock lock(&credentials_mu);
    auto it = credentials.find(route);
    if (it != credentials.end()) return it->second;
    if (!ask || !options.ask_credentials) return std::nullopt;
    auto answer = options.ask_credentials(route->proxy);
    credentials[route] = answer;
    return answer;
  };

  const std::vector<bool> started = Race(
      plan.size(), race,
      [&](size_t i, absl::Time deadline) {
        const PlannedAttempt& planned = plan[i];
        ProxyUrl endpoint = planned.route->endpoint;
        if (endpoint.username.empty()) {
          if (auto known = credentials_for(planned.route, /*ask=*/false)) {
            endpoint.username = known->first;
            endpoint.password = known->second;
          }
        }
        v1::Attempt attempt = run_one(planned, endpoint, deadline);
        if (attempt.outcome() == v1::OUTCOME_PROXY_AUTH_REQUIRED && endpoint.username.empty()) {
          if (auto answer = credentials_for(planned.route, /*ask=*/true)) {
            notify(attempt);
            {
              absl::MutexLock lock(&retried_mu);
              challenged.push_back(std::move(attempt));
            }
            endpoint.username = answer->first;
            endpoint.password = answer->second;
            // One retry, with a deadline of its own.
            attempt = run_one(planned, endpoint, clock.Now() + race.attempt_timeout);
          }
        }
        results[i] = std::move(attempt);  // each index written by one thread
      },
      [&](size_t i) { notify(results[i]); });

  std::vector<v1::Attempt> finished = std::move(challenged);
  for (size_t i = 0; i < plan.size(); ++i) {
    if (started[i]) finished.push_back(results[i]);
  }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const v1::Attempt& a, const v1::Attempt& b) {
                     return std::make_pair(a.start_time().seconds(), a.start_time().nanos()) <
                            std::make_pair(b.start_time().seconds(), b.start_time().nanos());
                   });
  for (size_t i = 0; i < finished.size(); ++i) {
    finished[i].set_sequence(i + 1);
    if (options.traces != nullptr) {
      auto it = traces_by_start.find(
          {finished[i].start_time().seconds(), finished[i].start_time().nanos()});
      if (it != traces_by_start.end()) (*options.traces)[i + 1] = std::move(it->second);
    }
  }
  for (const v1::Attempt& attempt : finished) *report.add_attempts() = attempt;
  *report.mutable_verdict() = ComputeVerdict(catalogue, finished);
  if (const size_t skipped = std::count(started.begin(), started.end(), false); skipped > 0) {
    report.mutable_verdict()->set_summary(
        absl::StrFormat("%s (%d of %d attempts were not started: the time budget ran out.)",
                        report.verdict().summary(), skipped, plan.size()));
  }
  *report.mutable_end_time() = ToProtoTimestamp(clock.Now());
  return report;
}

}  // namespace relayscope::agent
