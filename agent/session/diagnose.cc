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
#include "agent/attempt/tls_check.h"
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

// The DNS check of every planned relay that the catalogue lists with both
// a name and addresses: one lookup per relay, each on its own thread,
// started beside the race so that a slow resolver delays no attempt, each
// returning by `deadline`.
class DnsChecks {
 public:
  DnsChecks(const v1::Catalogue& catalogue, const std::vector<PlannedAttempt>& plan,
            Resolver& resolver, absl::Time deadline) {
    for (const v1::Region& region : catalogue.regions()) {
      for (const v1::Relay& relay : region.relays()) {
        if (relay.host().empty() || relay.addresses().empty()) continue;
        const bool planned = std::any_of(plan.begin(), plan.end(), [&](const PlannedAttempt& p) {
          return p.relay == relay.id();
        });
        if (!planned) continue;
        jobs_.push_back(
            {relay.id(), relay.host(), {relay.addresses().begin(), relay.addresses().end()}, {}});
      }
    }
    threads_.reserve(jobs_.size());  // jobs_ never moves from here on
    for (Job& job : jobs_) {
      threads_.emplace_back([&job, &resolver, deadline] {
        job.evidence = CheckDns(job.host, job.listed, resolver.Resolve(job.host, deadline));
      });
    }
  }
  ~DnsChecks() { Wait(); }
  DnsChecks(const DnsChecks&) = delete;
  DnsChecks& operator=(const DnsChecks&) = delete;

  // Waits for every lookup.
  void Wait() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  // After Wait: the evidence for `relay`, or nullptr when it has none.
  const v1::DnsEvidence* For(const std::string& relay) const {
    for (const Job& job : jobs_) {
      if (job.relay == relay) return &job.evidence;
    }
    return nullptr;
  }

 private:
  struct Job {
    std::string relay;
    std::string host;
    std::vector<std::string> listed;
    v1::DnsEvidence evidence;  // written by the job's own thread only
  };
  std::vector<Job> jobs_;
  std::vector<std::thread> threads_;
};

// One session's attempts: running planned attempts, the 407 questions and
// retries, and collecting every attempt that ends. Methods are called from
// the race's worker threads.
class Session {
 public:
  Session(const DiagnoseOptions& options, Transport& transport, const RaceOptions& race,
          const std::vector<PlannedAttempt>& plan, std::string session_id, absl::Time budget_end)
      : options_(options),
        transport_(transport),
        race_(race),
        plan_(plan),
        session_id_(std::move(session_id)),
        budget_end_(budget_end) {}

  // The race's work for plan index `i`.
  void RunPlanned(size_t i, absl::Time deadline) {
    const PlannedAttempt& planned = plan_[i];
    ProxyUrl endpoint = planned.route->endpoint;
    // Only attempts through a proxy without credentials of its own ever
    // consult the book; DIRECT and other proxies never wait for a prompt.
    const bool may_ask = !endpoint.direct() && endpoint.username.empty();
    const CredentialsBook::Key key = CredentialsBook::KeyOf(endpoint);
    if (may_ask) {
      if (auto known = credentials_.Known(key)) {
        endpoint.username = known->first;
        endpoint.password = known->second;
      }
    }
    v1::Attempt attempt = RunOne(planned, endpoint, deadline);
    if (!may_ask || !options_.ask_credentials || !endpoint.username.empty() ||
        attempt.outcome() != v1::OUTCOME_PROXY_AUTH_REQUIRED) {
      Finish(std::move(attempt));
      return;
    }
    Challenge challenge{i, endpoint, std::move(attempt)};
    std::optional<Credentials> answer;
    switch (credentials_.OnChallenge(key, challenge, &answer)) {
      case CredentialsBook::Role::kWait:
        return;  // the asker decides, and frees this attempt's slot meanwhile
      case CredentialsBook::Role::kAnswered: {
        std::vector<Challenge> one;
        one.push_back(std::move(challenge));
        RetryAll(std::move(one), answer);
        return;
      }
      case CredentialsBook::Role::kAsk:
        break;
    }
    {
      // One prompt at a time on the terminal: only askers (whose 407 is
      // already in) ever wait for this lock; no attempt does.
      absl::MutexLock lock(&prompt_mu_);
      answer = options_.ask_credentials(planned.route->proxy);
    }
    std::vector<Challenge> challenges = credentials_.Answer(key, answer);
    challenges.insert(challenges.begin(), std::move(challenge));
    RetryAll(std::move(challenges), answer);
  }

  // Every attempt that ended (407s and retries included), in start order.
  std::vector<v1::Attempt> TakeFinished() {
    std::vector<v1::Attempt> ordered;
    {
      absl::MutexLock lock(&finished_mu_);
      ordered = std::move(finished_);
    }
    std::stable_sort(
        ordered.begin(), ordered.end(),
        [](const v1::Attempt& a, const v1::Attempt& b) { return StartOf(a) < StartOf(b); });
    return ordered;
  }
  // The trace of the attempt that started at `attempt`'s start time.
  std::optional<AttemptTrace> TakeTrace(const v1::Attempt& attempt) {
    absl::MutexLock lock(&trace_mu_);
    auto it = traces_.find(StartOf(attempt));
    if (it == traces_.end()) return std::nullopt;
    return std::move(it->second);
  }

 private:
  static std::pair<int64_t, int32_t> StartOf(const v1::Attempt& a) {
    return {a.start_time().seconds(), a.start_time().nanos()};
  }

  // Reports an attempt as ended: to on_attempt, and into the report.
  void Finish(v1::Attempt attempt) {
    if (options_.on_attempt) {
      absl::MutexLock lock(&callback_mu_);
      options_.on_attempt(attempt);
    }
    absl::MutexLock lock(&finished_mu_);
    finished_.push_back(std::move(attempt));
  }

  v1::Attempt RunOne(const PlannedAttempt& planned, const ProxyUrl& endpoint, absl::Time deadline) {
    AttemptTrace trace;
    const Destination destination{planned.address, planned.port};
    v1::Attempt attempt = planned.download != nullptr
                              ? RunTlsCheck(*planned.download, destination, endpoint, deadline,
                                            transport_, options_.tls)
                              : RunAttempt(destination, endpoint, deadline, transport_,
                                           options_.traces != nullptr ? &trace : nullptr);
    if (options_.traces != nullptr) {
      absl::MutexLock lock(&trace_mu_);
      traces_[StartOf(attempt)] = std::move(trace);
    }
    attempt.set_session_id(session_id_);
    attempt.set_region(planned.region);
    attempt.set_relay(planned.relay);
    if (!endpoint.direct()) {
      *attempt.mutable_proxy() = planned.route->proxy;
      attempt.mutable_proxy()->set_has_credentials(!endpoint.username.empty());
    }
    return attempt;
  }

  // Decides the 407s in `challenges` once the user has answered: each is
  // retried with the answer (and marked retried) while the budget lasts,
  // concurrently and staggered like the race; without an answer or time
  // left, the 407 stands. A retry's deadline is its own attempt timeout,
  // cut at the budget's end: asking the user never buys the session time.
  void RetryAll(std::vector<Challenge> challenges, const std::optional<Credentials>& answer) {
    std::vector<bool> started(challenges.size(), false);
    const absl::Time now = race_.clock->Now();
    if (answer.has_value() && now < budget_end_) {
      RaceOptions retries = race_;
      retries.budget = budget_end_ - now;
      started = Race(challenges.size(), retries, [&](size_t j, absl::Time deadline) {
        Challenge& challenge = challenges[j];
        challenge.answer.set_retried(true);
        Finish(std::move(challenge.answer));
        challenge.endpoint.username = answer->first;
        challenge.endpoint.password = answer->second;
        Finish(RunOne(plan_[challenge.index], challenge.endpoint, std::min(deadline, budget_end_)));
      });
    }
    for (size_t j = 0; j < challenges.size(); ++j) {
      if (!started[j]) Finish(std::move(challenges[j].answer));
    }
  }

  const DiagnoseOptions& options_;
  Transport& transport_;
  const RaceOptions& race_;
  const std::vector<PlannedAttempt>& plan_;
  const std::string session_id_;
  const absl::Time budget_end_;
  CredentialsBook credentials_;
  absl::Mutex prompt_mu_;
  absl::Mutex callback_mu_;
  absl::Mutex finished_mu_;
  std::vector<v1::Attempt> finished_ ABSL_GUARDED_BY(finished_mu_);
  absl::Mutex trace_mu_;
  // Traces keyed by start time until sequence numbers are known.
  std::map<std::pair<int64_t, int32_t>, AttemptTrace> traces_ ABSL_GUARDED_BY(trace_mu_);
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

namespace {

// Each relay's own route order (DiagnoseOptions::relay_routes) over the
// shared route list.
class RelayOrder {
 public:
  RelayOrder(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
             const std::map<std::string, std::vector<RelayRouteChoice>>& relay_routes)
      : routes_(routes), relay_routes_(relay_routes) {
    for (const v1::Region& region : catalogue.regions()) {
      for (const v1::Relay& relay : region.relays()) {
        ports_[relay.id()].assign(relay.ports().begin(), relay.ports().end());
      }
    }
    for (const v1::DownloadService& service : catalogue.downloads()) {
      ports_[service.id()].assign(service.ports().begin(), service.ports().end());
    }
  }

  // Port preference first (as Plan), then the relay's own route order,
  // then Plan's order (regions, relays, addresses).
  void Sort(std::vector<PlannedAttempt>* plan) const {
    if (relay_routes_.empty()) return;
    auto key = [&](const PlannedAttempt& p) {
      const std::vector<uint32_t>& ports = ports_.at(p.relay);
      const size_t rank = std::find(ports.begin(), ports.end(), p.port) - ports.begin();
      return std::pair{rank, Position(p.relay, static_cast<size_t>(p.route - routes_.data()))};
    };
    std::stable_sort(
        plan->begin(), plan->end(),
        [&](const PlannedAttempt& a, const PlannedAttempt& b) { return key(a) < key(b); });
  }

  // Records the route's role, rank and bypass entry on a finished attempt.
  void Label(v1::Attempt* attempt) const {
    if (relay_routes_.empty()) return;
    const size_t route = RouteOf(*attempt);
    if (route == routes_.size()) return;
    auto it = relay_routes_.find(attempt->relay());
    if (it == relay_routes_.end()) return;
    uint32_t rank = 0;
    for (const RelayRouteChoice& choice : it->second) {
      if (choice.role == v1::ROUTE_ROLE_CONFIGURED) ++rank;
      if (choice.route != route) continue;
      attempt->set_route_role(choice.role);
      attempt->set_route_rank(choice.role == v1::ROUTE_ROLE_CONFIGURED ? rank : 0);
      attempt->set_bypass_entry(choice.bypass_entry);
      attempt->set_bypass_source(choice.bypass_source);
      return;
    }
    attempt->set_route_role(v1::ROUTE_ROLE_ALTERNATIVE);
  }

 private:
  size_t Position(const std::string& relay, size_t route) const {
    auto it = relay_routes_.find(relay);
    if (it == relay_routes_.end()) return route;
    for (size_t i = 0; i < it->second.size(); ++i) {
      if (it->second[i].route == route) return i;
    }
    return it->second.size() + route;  // not in its list: an alternative, last
  }

  // The route an attempt went over: DIRECT, or the proxy's kind, host, port.
  size_t RouteOf(const v1::Attempt& attempt) const {
    for (size_t i = 0; i < routes_.size(); ++i) {
      const v1::Proxy& proxy = routes_[i].proxy;
      const bool direct = routes_[i].endpoint.direct();
      if (attempt.route_kind() == v1::ROUTE_KIND_DIRECT
              ? direct
              : !direct && proxy.kind() == attempt.proxy().kind() &&
                    proxy.host() == attempt.proxy().host() &&
                    proxy.port() == attempt.proxy().port()) {
        return i;
      }
    }
    return routes_.size();
  }

  const std::vector<Route>& routes_;
  const std::map<std::string, std::vector<RelayRouteChoice>>& relay_routes_;
  std::map<std::string, std::vector<uint32_t>> ports_;
};

}  // namespace

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

  std::vector<PlannedAttempt> plan = Plan(catalogue, routes, options.allowed_ports);
  const RelayOrder order(catalogue, routes, options.relay_routes);
  order.Sort(&plan);
  // Each lookup gets as long as one attempt, within the budget.
  DnsChecks dns(catalogue, plan, resolver, std::min(start + race.attempt_timeout, budget_end));
  Session session(options, transport, race, plan, report.session_id(), budget_end);
  const std::vector<bool> started = Race(
      plan.size(), race, [&](size_t i, absl::Time deadline) { session.RunPlanned(i, deadline); });
  dns.Wait();

  std::vector<v1::Attempt> ordered = session.TakeFinished();
  for (size_t i = 0; i < ordered.size(); ++i) {
    ordered[i].set_sequence(i + 1);
    if (const v1::DnsEvidence* evidence = dns.For(ordered[i].relay())) {
      *ordered[i].mutable_dns() = *evidence;
    }
    order.Label(&ordered[i]);
    if (options.traces != nullptr) {
      if (auto trace = session.TakeTrace(ordered[i])) (*options.traces)[i + 1] = *std::move(trace);
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
