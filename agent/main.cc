// relayscope-agent: finds out why this machine can or cannot reach the
// relays, and says what to change. Parses the flags and runs the command;
// what the commands do is agent/cli/agent_command.h.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "agent/cli/agent_command.h"
#include "agent/cli/console.h"
#include "agent/cli/credentials.h"
#include "agent/cli/flags.h"
#include "common/cli.h"

int main(int argc, char** argv) {
  using namespace relayscope::agent;
  absl::SetProgramUsageMessage(
      "Diagnoses relay connectivity from this machine.\n"
      "  relayscope-agent diagnose --catalogue=deploy/catalogue/aos.textproto\n"
      "  relayscope-agent diagnose --catalogue=... --proxy=http://proxy:3128 --proxy-user=me\n"
      "  relayscope-agent watch --interval=5m --collector=collector:50051 (diagnose repeatedly)\n"
      "Exit status: 0 reachable, 1 degraded, 2 unreachable, 64 usage error, 78 bad catalogue.");
  std::vector<std::string> arg_storage = relayscope::NormalizeFlagNames(argc, argv);
  std::vector<char*> arg_pointers = relayscope::ArgvPointers(arg_storage);
  std::vector<char*> args =
      absl::ParseCommandLine(static_cast<int>(arg_storage.size()), arg_pointers.data());
  auto command = ParseCommand(std::vector<std::string>(args.begin(), args.end()));
  if (!command.ok()) {
    std::fputs(ErrorLine(std::string(command.status().message())).c_str(), stderr);
    return kExitUsage;
  }

  AgentOptions o = OptionsFromFlags();
  SystemTerminal terminal;
  return RunAgent(*command, o, SystemIo(&terminal));
}
