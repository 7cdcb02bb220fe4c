// One diagnosis session: plan every relay x port x route of a catalogue,
// race the attempts, and conclude with a verdict, as a SessionReport.
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
#include "agent/plan/plan.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

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
  // Called as each attempt finishes (from worker threads, one at a time).
  std::function<void(const v1::Attempt&)> on_attempt;
  // Asked at most once per proxy, the first time it answers 407 to an
  // attempt without credentials: the (user, password) to retry with, or
  // nullopt to give up. The challenged attempt is then retried once, and
  // every later attempt through that proxy uses the credentials. Called
  // from a worker thread, one call at a time (it may prompt the user).
  std::function<std::optional<std::pair<std::string, std::string>>(const v1::Proxy&)>
      ask_credentials;
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
