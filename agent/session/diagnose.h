// One diagnosis session: plan every relay x port x route of a catalogue,
// race the attempts, and conclude with a verdict, as a SessionReport.
//
// This is the whole agent run minus the user interface and the upload; the
// binary and the tests call it the same way.
#ifndef AGENT_SESSION_DIAGNOSE_H_
#define AGENT_SESSION_DIAGNOSE_H_

#include <functional>
#include <string>
#include <vector>

#include "agent/attempt/race.h"
#include "agent/plan/plan.h"
#include "relayscope/v1/catalogue.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

struct DiagnoseOptions {
  RaceOptions race;
  v1::AgentInfo agent;
  // Empty: a new random UUID.
  std::string session_id;
  // Empty: every port of the catalogue.
  std::vector<uint16_t> allowed_ports;
  // Called as each attempt finishes (from worker threads, one at a time).
  std::function<void(const v1::Attempt&)> on_attempt;
};

// Runs the diagnosis. Never fails: a catalogue or route list with nothing
// to try gives a report whose verdict says so.
v1::SessionReport Diagnose(const v1::Catalogue& catalogue, const std::vector<Route>& routes,
                           const std::vector<v1::DiscoveredProxy>& proxies,
                           const DiagnoseOptions& options);

// A random (version 4) UUID, from OpenSSL's CSPRNG.
std::string NewUuid();

}  // namespace relayscope::agent

#endif  // AGENT_SESSION_DIAGNOSE_H_
