// The agent's upload token: the first line of --token-file, else
// RELAYSCOPE_TOKEN, else none. The token is a secret: it goes to the
// uploader only, and no message here ever holds it.
#ifndef AGENT_CLI_TOKEN_H_
#define AGENT_CLI_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "agent/cli/environment.h"

namespace relayscope::agent {

// With `token_file` set: its first line (without the newline).
// FAILED_PRECONDITION "cannot read --token-file <path>" when the file is
// missing, unreadable or empty. Otherwise RELAYSCOPE_TOKEN from `env` (set
// and empty is an empty token), or "" when it is not set either.
absl::StatusOr<std::string> LoadToken(const std::string& token_file, const Environment& env);

}  // namespace relayscope::agent

#endif  // AGENT_CLI_TOKEN_H_
