// The agent's stable identity: a random UUID kept in a state file, so one
// installation's sessions can be told apart from another's in fleet
// queries (never in metric labels).
#ifndef AGENT_SESSION_AGENT_ID_H_
#define AGENT_SESSION_AGENT_ID_H_

#include <string>

namespace relayscope::agent {

// The default state file: $XDG_STATE_HOME/relayscope/agent-id, or
// ~/.local/state/relayscope/agent-id.
std::string DefaultAgentIdPath();

// Reads the id from `path`, creating it (and its directory) with a new UUID
// if missing or malformed. If the file cannot be written the id is still
// returned, for this run only.
std::string LoadOrCreateAgentId(const std::string& path);

}  // namespace relayscope::agent

#endif  // AGENT_SESSION_AGENT_ID_H_
