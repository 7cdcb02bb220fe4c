// relayscope-agent: finds out why this machine can or cannot reach the
// relays, and says what to change. Parses the flags and runs the command;
// what the commands do is agent/cli/agent_command.h.
#include <cstdio>
#include <string>
#include <vector>

#include "agent/cli/agent_command.h"
#include "agent/cli/console.h"
#include "agent/cli/credentials.h"
#include "agent/cli/flags.h"
#include "agent/pac/pac_sandbox.h"
#include "common/ca_bundle.h"
#include "common/cli.h"

int main(int argc, char** argv) {
  using namespace relayscope::agent;
  // On Windows this executable is also the PAC sandbox's child.
  RunPacSandboxChildIfAsked(argc, argv);
  // Before any thread: the static agent's OpenSSL knows only Debian's paths.
  relayscope::UseSystemCaBundle();
  const std::vector<std::string> args = relayscope::ParseCommandLine(
      argc, argv,
      "Diagnoses relay connectivity from this machine.\n"
      "  relayscope-agent diagnose --catalogue=deploy/catalogue/aos.textproto\n"
      "  relayscope-agent diagnose --catalogue=... --proxy=http://proxy:3128 --proxy-user=me\n"
      "  relayscope-agent watch --interval=5m --collector=collector:50051 (diagnose "
      "repeatedly)\n"
      "  relayscope-agent proxies (what this machine's proxy settings say, per relay)\n"
      "List flags add up when repeated (--proxy=A --proxy=B tries both).\n"
      "Exit status: 0 reachable, 1 degraded, 2 unreachable, 64 usage error, 78 bad "
      "catalogue.",
      std::vector<std::string>(kListFlags.begin(), kListFlags.end()));
  auto command = ParseCommand(args);
  if (!command.ok()) {
    std::fputs(ErrorLine(std::string(command.status().message())).c_str(), stderr);
    return kExitUsage;
  }

  AgentOptions o = OptionsFromFlags();
  SystemTerminal terminal;
  return RunAgent(*command, o, SystemIo(&terminal));
}
