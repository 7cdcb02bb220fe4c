// The agent's flags (defined in flags.cc) and the options they give.
#ifndef AGENT_CLI_FLAGS_H_
#define AGENT_CLI_FLAGS_H_

#include "agent/cli/agent_command.h"

namespace relayscope::agent {

// The AgentOptions the parsed command line asks for.
AgentOptions OptionsFromFlags();

}  // namespace relayscope::agent

#endif  // AGENT_CLI_FLAGS_H_
