// The agent's flags (defined in flags.cc) and the options they give.
#ifndef AGENT_CLI_FLAGS_H_
#define AGENT_CLI_FLAGS_H_

#include <array>

#include "agent/cli/agent_command.h"

namespace relayscope::agent {

// The list flags, whose repeats add up (--proxy=A --proxy=B tries both).
inline constexpr std::array<const char*, 5> kListFlags = {"proxy", "pac_url", "region", "ports",
                                                          "wpad_lease_dirs"};

// The AgentOptions the parsed command line asks for.
AgentOptions OptionsFromFlags();

}  // namespace relayscope::agent

#endif  // AGENT_CLI_FLAGS_H_
