#include "tests/e2e/seed_scenario.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace relayscope::rig {
namespace {

constexpr char kCatalogue[] = R"pb(name: "seed"
                                   regions {
                                     id: "a"
                                     display_name: "Region A"
                                     relays {
                                       id: "relay-a"
                                       addresses: "127.0.61.1"
                                       ports: [ 8200, 563, 80 ]
                                     }
                                   }
                                   regions {
                                     id: "b"
                                     display_name: "Region B"
                                     relays {
                                       id: "relay-b"
                                       addresses: "127.0.62.1"
                                       ports: [ 8200, 443 ]
                                     }
                                   }
)pb";

}  // namespace

absl::Status SeedScenario::Start(const std::string& dir, const std::string& relay_binary) {
  dir_ = dir;
  catalogue_ = dir + "/seed.textproto";
  std::ofstream(catalogue_) << kCatalogue;

  for (const auto& [name, listen] :
       {std::pair<std::string, std::string>{"relay-a", "127.0.61.1:8200,127.0.61.1:563"},
        {"relay-b", "127.0.62.1:8200,127.0.62.1:443"}}) {
    const std::string ready = absl::StrCat(dir, "/", name, ".ready");
    Process::Options options;
    options.argv = {relay_binary, "--listen=" + listen, "--ready-file=" + ready};
    options.log_path = absl::StrCat(dir, "/", name, ".log");
    auto relay = Process::Start(options);
    if (!relay.ok()) return relay.status();
    if (absl::Status up = WaitForFile(ready, absl::Seconds(10), relay->get()); !up.ok()) return up;
    relays_.push_back(*std::move(relay));
  }
  Interceptor::Options port80;
  port80.address = "127.0.61.1";
  port80.port = 80;
  port80.read_bytes = 768;
  auto interceptor = Interceptor::Start(port80);
  if (!interceptor.ok()) return interceptor.status();
  interceptor_ = *std::move(interceptor);

  Squid::Options proxy;
  proxy.address = "127.0.63.1";
  proxy.users = {{"alice", kPassword}};
  proxy.redirect_ports = {8200, 563, 80};
  auto squid = Squid::Start(proxy, dir);
  if (!squid.ok()) return squid.status();
  squid_ = *std::move(squid);

  if (absl::Status s = firewall_.Drop("127.0.61.1", 8200); !s.ok()) return s;
  if (absl::Status s = firewall_.Drop("127.0.61.1", 563); !s.ok()) return s;
  return firewall_.DropUnlessFromUser("127.0.62.1", NobodyUid());
}

void SeedScenario::Stop() {
  squid_.reset();
  interceptor_.reset();
  relays_.clear();
  firewall_.Clear();
}

std::vector<std::string> SeedScenario::AgentArgv(const std::string& agent_binary,
                                                 absl::Duration timeout) const {
  return {agent_binary,
          "diagnose",
          "--catalogue=" + catalogue_,
          "--proxy=http://127.0.63.1:3128",
          absl::StrCat("--timeout=", absl::FormatDuration(timeout)),
          "--report-dir=" + dir_ + "/reports",
          "--agent-id-file=" + dir_ + "/agent-id"};
}

std::vector<std::string> SeedScenario::AgentEnv() {
  return {"RELAYSCOPE_PROXY_USER=alice", absl::StrCat("RELAYSCOPE_PROXY_PASSWORD=", kPassword)};
}

}  // namespace relayscope::rig
