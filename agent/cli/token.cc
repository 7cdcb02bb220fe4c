#include "agent/cli/token.h"

#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace relayscope::agent {

absl::StatusOr<std::string> LoadToken(const std::string& token_file, const Environment& env) {
  if (token_file.empty()) return env("RELAYSCOPE_TOKEN").value_or("");
  std::ifstream in(token_file);
  std::string token;
  std::getline(in, token);
  // A first line that is empty but readable is an (empty) token, as before;
  // nothing readable at all is the error.
  if (!in && token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read --token-file ", token_file));
  }
  return token;
}

}  // namespace relayscope::agent
