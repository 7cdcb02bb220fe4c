#include "agent/session/diagnose.h"

#include <openssl/rand.h>

#include <algorithm>
#include <map>
#include <memory>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "agent/attempt/attempt.h"
#include "agent/attempt/dns_check.h"
#include "agent/report/verdict.h"
#include "common/proto_time.h"

namespace relayscope::agent {
namespace {

using Credentials = std::pair<std::string, std::string>;

// A 407 without credentials, waiting for the decision on its retry.
struct Challenge {
  size_t index = 0;    // into the plan
  ProxyUrl endpoint;   // as the challenged attempt used it
  v1::Attempt answer;  // the 407 attempt
};

// The one question per proxy: who asks, what the user answered, and which
// 407s wait for that answer. A proxy is its kind, host and port, so two
// routes through the same proxy (two sources naming it, socks5 and socks5h)
// share one prompt. The prompt itself runs with no lock held.
class CredentialsBook {
 public:
  using Key = std::tuple<int, std::string, uint16_t>;
  static Key KeyOf(const ProxyUrl& proxy) { return {proxy.kind, proxy.host, proxy.port}; }

  // The answer for `key`, once the user has given one.
  std::optional<Credentials> Known(const Key& key) {
    absl::MutexLock lock(&mu_);
    auto it = book_.find(key);
    if (it == book_.end() || !it->second.answered) return std::nullopt;
    return it->second.answer;
  }

  enum class Role {
    kAsk,       // the caller asks the user, then calls Answer
    kWait,      // a prompt runs: the challenge was handed to its asker
    kAnswered,  // the answer is known: `*answer`
  };
  Role OnChallenge(const Key& key, Challenge& challenge, std::optional<Credentials>* answer) {
    absl::MutexLock lock(&mu_);
    Entry& entry = book_[key];
    if (entry.answered) {
      *answer = entry.answer;
      return Role::kAnswered;
    }
    if (entry.asking) {
      entry.waiting.push_back(std::move(challenge));
      return Role::kWait;
    }
    entry.asking = true;
    return Role::kAsk;
  }

  // Records the user's answer; returns the challenges that waited for it.
  std::vector<Challenge> Answer(const Key& key, std::optional<Credentials> answer) {
    absl::MutexLock lock(&mu_);
    Entry& entry = book_[key];
    entry.answered = true;
    entry.answer = std::move(answer);
    return std::exchange(entry.waiting, {});
  }

 private:
  struct Entry {
    bool asking = false;
    bool answered = false;
    std::optional<Credentials> answer;
    std::vector<Challenge> waiting;
  };
  absl::Mutex mu_;
  std::map<Key, Entry> book_ ABSL_GUARDED_BY(mu_);
};

// One relay whose name and addresses the catalogue both lists.
struct DnsCheckJob {
  std::string relay;
  std::string host;
  std::vector<std::string> listed;
  v1::DnsEvidence evidence;  // written by the job's own thread only
};

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
  Transport& transport = options.transport != nullptr ? *options.transport : RealTransport();
  Clock& clock = transport.clock();
  SystemResolver system_resolver(SystemResolver::Options{&clock, nullptr});
  Resolver& resolver = options.resolver != nullptr ? *options.resolver : system_resolver;
  RaceOptions race = options.race;
  race.clock = &clock;
  v1::SessionReport report;
  *report.mutable_agent() = options.agent;
  report.set_session_id(options.session_id.empty() ? NewUuid() : options.session_id);
  report.set_catalogue(catalogue.name());
  for (const v1::DiscoveredProxy& proxy : proxies) *report.add_proxies() = proxy;
  const absl::Time start = clock.Now();
  *report.mutable_start_time() = ToProtoTimestamp(start);
  // The race measures its budget from its own start, a moment later; this
  // end is never after the race's.
  const absl::Time budget_end = start + race.budget;

  const std::vector<PlannedAttempt> plan = Plan(catalogue, routes, options.allowed_ports);

  // The DNS check runs beside the race, one lookup per relay, so a slow
  // resolver delays no attempt; each lookup gets as long as one attempt,
  // within the budget.
  std::vector<DnsCheckJob> dns_jobs;
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) {
      if (relay.host().empty() || relay.addresses().empty()) continue;
      const bool planned = std::any_of(
          plan.begin(), plan.end(), [&](const PlannedAttempt& p) { return p.relay == relay.id(); });
      if (!planned) continue;
      dns_jobs.push_back(
          {relay.id(), relay.host(), {relay.addresses().begin(), relay.addresses().end()}, {}});
    }
  }
  const absl::Time lookup_deadline = std::min(start + race.attempt_timeout, budget_end);
  std::vector<std::thread> lookups;
  lookups.reserve(dns_jobs.size());
  for (DnsCheckJob& job : dns_jobs) {
    lookups.emplace_back([&job, &resolver, lookup_deadline] {
      job.evidence = CheckDns(job.host, job.listed, resolver.Resolve(job.host, lookup_deadline));
    });
  }

  // Traces keyed by start time until sequence numbers are known.
  absl::Mutex trace_mu;
  std::map<std::pair<int64_t, int32_t>, AttemptTrace> traces_by_start;  // guarded by trace_mu
  absl::Mutex finished_mu;
  // Every attempt that ended, 407s and their retries included; guarded by
  // finished_mu.
  std::vector<v1::Attempt> finished;
  absl::Mutex callback_mu;
  // Reports an attempt as finished: to on_attempt, and into the report.
  auto finish = [&](v1::Attempt attempt) {
    if (options.on_attempt) {
      absl::MutexLock lock(&callback_mu);
      options.on_attempt(attempt);
    }
    absl::MutexLock lock(&finished_mu);
    finished.push_back(std::move(attempt));
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

  CredentialsBook credentials;
  // Decides the 407s in `challenges` once the user has answered: each is
  // retried with the answer (and marked retried) while the budget lasts,
  // concurrently and staggered like the race; without an answer or time
  // left, the 407 stands. A retry's deadline is its own attempt timeout,
  // cut at the budget's end: asking the user never buys the session time.
  auto retry_all = [&](std::vector<Challenge> challenges,
                       const std::optional<Credentials>& answer) {
    std::vector<bool> started(challenges.size(), false);
    const absl::Time now = clock.Now();
    if (answer.has_value() && now < budget_end) {
      RaceOptions retries = race;
      retries.budget = budget_end - now;
      started = Race(challenges.size(), retries, [&](size_t j, absl::Time deadline) {
        Challenge& challenge = challenges[j];
        challenge.answer.set_retried(true);
        finish(std::move(challenge.answer));
        challenge.endpoint.username = answer->first;
        challenge.endpoint.password = answer->second;
        finish(run_one(plan[challenge.index], challenge.endpoint, std::min(deadline, budget_end)));
      });
    }
    for (size_t j = 0; j < challenges.size(); ++j) {
      if (!started[j]) finish(std::move(challenges[j].answer));
    }
  };

  const std::vector<bool> started = Race(plan.size(), race, [&](size_t i, absl::Time deadline) {
    const PlannedAttempt& planned = plan[i];
    ProxyUrl endpoint = planned.route->endpoint;
    // Only attempts through a proxy without credentials of its own ever
    // consult the book; DIRECT and other proxies never wait for a prompt.
    const bool may_ask = !endpoint.direct() && endpoint.username.empty();
    const CredentialsBook::Key key = CredentialsBook::KeyOf(endpoint);
    if (may_ask) {
      if (auto known = credentials.Known(key)) {
        endpoint.username = known->first;
        endpoint.password = known->second;
      }
    }
    v1::Attempt attempt = run_one(planned, endpoint, deadline);
    if (!may_ask || !options.ask_credentials || !endpoint.username.empty() ||
        attempt.outcome() != v1::OUTCOME_PROXY_AUTH_REQUIRED) {
      finish(std::move(attempt));
      return;
    }
    Challenge challenge{i, endpoint, std::move(attempt)};
    std::optional<Credentials> answer;
    switch (credentials.OnChallenge(key, challenge, &answer)) {
      case CredentialsBook::Role::kWait:
        return;  // the asker decides, and frees this attempt's slot meanwhile
      case CredentialsBook::Role::kAnswered: {
        std::vector<Challenge> one;
        one.push_back(std::move(challenge));
        retry_all(std::move(one), answer);
        return;
      }
      case CredentialsBook::Role::kAsk:
        break;
    }
    answer = options.ask_credentials(planned.route->proxy);
    std::vector<Challenge> challenges = credentials.Answer(key, answer);
    challenges.insert(challenges.begin(), std::move(challenge));
    retry_all(std::move(challenges), answer);
  });
  for (std::thread& lookup : lookups) lookup.join();

  std::vector<v1::Attempt> ordered;
  {
    absl::MutexLock lock(&finished_mu);
    ordered = std::move(finished);
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const v1::Attempt& a, const v1::Attempt& b) {
    return std::make_pair(a.start_time().seconds(), a.start_time().nanos()) <
           std::make_pair(b.start_time().seconds(), b.start_time().nanos());
  });
  for (size_t i = 0; i < ordered.size(); ++i) {
    ordered[i].set_sequence(i + 1);
    for (const DnsCheckJob& job : dns_jobs) {
      if (job.relay == ordered[i].relay()) *ordered[i].mutable_dns() = job.evidence;
    }
    if (options.traces != nullptr) {
      absl::MutexLock lock(&trace_mu);
      auto it = traces_by_start.find(
          {ordered[i].start_time().seconds(), ordered[i].start_time().nanos()});
      if (it != traces_by_start.end()) (*options.traces)[i + 1] = std::move(it->second);
    }
  }
  for (const v1::Attempt& attempt : ordered) *report.add_attempts() = attempt;
  *report.mutable_verdict() = ComputeVerdict(catalogue, ordered);
  if (const size_t skipped = std::count(started.begin(), started.end(), false); skipped > 0) {
    report.mutable_verdict()->set_summary(
        absl::StrFormat("%s (%d of %d attempts were not started: the time budget ran out.)",
                        report.verdict().summary(), skipped, plan.size()));
  }
  *report.mutable_end_time() = ToProtoTimestamp(clock.Now());
  return report;
}

}  // namespace relayscope::agent
