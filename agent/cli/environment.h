// The environment variables the agent's commands read (HOME, TMPDIR,
// RELAYSCOPE_TOKEN, RELAYSCOPE_PROXY_USER, RELAYSCOPE_PROXY_PASSWORD), as a
// lookup the binary backs with getenv and a test with a map.
#ifndef AGENT_CLI_ENVIRONMENT_H_
#define AGENT_CLI_ENVIRONMENT_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace relayscope::agent {

// The value of a variable, or nullopt when it is not set (set and empty is
// "", which some callers treat differently).
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// getenv.
Environment ProcessEnvironment();

// Exactly `variables`, nothing else.
Environment FixedEnvironment(std::map<std::string, std::string> variables);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_ENVIRONMENT_H_
