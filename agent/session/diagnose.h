// One diagnosis session: plan every relay x port x route of a catalogue
// (and every download service's TLS check beside them), race the attempts,
// and conclude with a verdict, as a SessionReport.
//
// This is the whole agent run minus the user interface and the upload; the
// binary and the tests call it the same way.
#ifndef AGENT_SESSION_DIAGNOSE_H_
#define AGENT_SESSION_DIAGNOSE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/attempt/attempt.h"
#include "agent/attempt/race.h"
#include "agent/attempt/resolver.h"
#include "agent/attempt/tls_check.h"
#include "agent/plan/plan.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// One route of one relay's own list: which route (an index into the
// routes given to Diagnose), its role, and the bypass entry that decided it.
struct RelayRouteChoice {
  size_t route = 0;
  v1::RouteRole role = v1::ROUTE_ROLE_CONFIGURED;
  std::string bypass_entry;
  v1::ProxySource bypass_source = v1::PROXY_SOURCE_UNSPECIFIED;
};

struct DiagnoseOptions {
  // race.clock is ignored: the session runs on the transport's clock.
  RaceOptions race;
  // The network the attempts go over, and (its clock) the time the race,
  // the attempts and the report are measured in; nullptr: RealTransport().
  Transport* transport = nullptr;
  v1::AgentInfo agent;
  // Empty: a new random UUID.
  std::string session_id;
  // Empty: every port of the catalogue.
  std::vector<uint16_t> allowed_ports;
  // Called as each attempt finishes (from worker threads, one at a time):
  // a 407 that is retried just before its retry starts.
  std::function<void(const v1::Attempt&)> on_attempt;
  // Asked at most once per proxy (its kind, host and port: routes through
  // the same proxy share the answer), the first time it answers 407 to an
  // attempt without credentials: the (user, password) to retry with, or
  // nullopt to give up (every 407 through that proxy then stands). Called
  // from a worker thread, one call at a time (a second proxy's question
  // waits for the first's), holding no lock any attempt needs: it may
  // prompt the user for as long as the user takes.
  //
  // While it runs, DIRECT and other proxies go on racing untouched, and
  // attempts through the challenged proxy go ahead without credentials:
  // their 407s wait for the answer off the race (no attempt's deadline is
  // spent waiting) and are then retried too. Each 407 that is retried is
  // marked `retried`, and its retry is the next attempt on the same relay,
  // address, port and route. A retry runs for its own attempt timeout cut
  // at the end of the race's budget (the session's start plus
  // race.budget): the time the user takes is not added to the session, and
  // a 407 whose answer comes after the budget is spent stands, not retried.
  // Attempts that start after the answer use the credentials at once.
  std::function<std::optional<std::pair<std::string, std::string>>(const v1::Proxy&)>
      ask_credentials;
  // The DNS check (agent/attempt/dns_check.h): for each relay the
  // catalogue lists with both a host and addresses, the host is resolved
  // once per session with this, beside the race (the first attempt never
  // waits for it), with the lookup bounded by one attempt timeout within
  // the budget; the evidence is put on every attempt of that relay in the
  // report (not on the copies given to on_attempt, which come before the
  // lookup may have finished). nullptr: SystemResolver on the transport's
  // clock.
  Resolver* resolver = nullptr;
  // Per relay id: its routes in the order the user's software tries them
  // (then its alternatives). Each relay's attempts go in that order (port
  // preference first, as Plan orders them); routes a relay's list does not
  // name come after it, as alternatives. Each attempt of the report records
  // its route's role, rank and bypass entry (not the copies given to
  // on_attempt). Empty: every relay tries `routes` in their order.
  std::map<std::string, std::vector<RelayRouteChoice>> relay_routes;
  // The roots download checks trust (agent/attempt/tls_check.h).
  TlsCheckOptions tls;
  // When given, receives each attempt's hexdumps by sequence number (for
  // the text log; never uploaded).
  std::map<uint64_t, AttemptTrace>* traces = nullptr;
};

// Runs the diagnosis. Never fails: a catalogue or route list with nothing
// to try gives a report whose verdict says so. Attempts are numbered in the
// order they started, retries included.
v1::SessionReport Diagnose(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
                           const std::vector<v1::DiscoveredProxy>& proxies,
                           const DiagnoseOptions& options);

// A random (version 4) UUID, from OpenSSL's CSPRNG.
std::string NewUuid();

}  // namespace relayscope::agent

#endif  // AGENT_SESSION_DIAGNOSE_H_
