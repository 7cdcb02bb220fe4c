// The seed scenario on the rig, shared by its end-to-end test and its
// benchmark (bench/seed_bench, P1).
//
// Relay A answers on 8200, 563 and 80, but 8200 and 563 are dropped and 80
// is answered by a transparent proxy. Relay B answers on 443 and 8200, but
// only the proxy may reach it, and the proxy wants credentials and answers
// 302 to CONNECT for every port but 443.
#ifndef TESTS_E2E_SEED_SCENARIO_H_
#define TESTS_E2E_SEED_SCENARIO_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/rig/firewall.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope::rig {

class SeedScenario {
 public:
  static constexpr char kPassword[] = "Seed-Secret-7f3a";

  // Starts the relays, the interceptor and squid and installs the firewall
  // rules, in the current (private) network namespace, with configs and
  // logs under `dir`. The first error stops the setup.
  absl::Status Start(const std::string& dir, const std::string& relay_binary);
  // Stops everything and removes the firewall rules (also on destruction).
  void Stop();
  ~SeedScenario() { Stop(); }

  // The agent's command line for this scenario: diagnose with the
  // scenario's catalogue, the proxy, `timeout` per attempt, reports and
  // agent id under the scenario dir.
  std::vector<std::string> AgentArgv(const std::string& agent_binary, absl::Duration timeout) const;
  // The environment that gives the agent the proxy credentials.
  static std::vector<std::string> AgentEnv();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string catalogue_;
  std::vector<std::unique_ptr<Process>> relays_;
  std::unique_ptr<Interceptor> interceptor_;
  std::unique_ptr<Squid> squid_;
  Firewall firewall_;
};

}  // namespace relayscope::rig

#endif  // TESTS_E2E_SEED_SCENARIO_H_
