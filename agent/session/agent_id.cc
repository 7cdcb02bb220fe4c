#include "agent/session/agent_id.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "agent/session/diagnose.h"

namespace relayscope::agent {
namespace {

bool LooksLikeUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !absl::ascii_isxdigit(s[i])) return false;
  }
  return true;
}

}  // namespace

std::string DefaultAgentIdPath() {
#ifdef _WIN32
  // %LOCALAPPDATA%\relayscope\agent-id: per user and machine, not roaming.
  if (const char* local = std::getenv("LOCALAPPDATA"); local != nullptr && *local) {
    return std::string(local) + "\\relayscope\\agent-id";
  }
#endif
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state) {
    return std::string(state) + "/relayscope/agent-id";
  }
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/relayscope/agent-id";
}

std::string LoadOrCreateAgentId(const std::string& path) {
  {
    std::ifstream in(path);
    std::string id;
    if (in >> id && LooksLikeUuid(id)) return id;
  }
  const std::string id = NewUuid();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::ofstream out(path, std::ios::trunc);
  out << id << "\n";
  return id;
}

}  // namespace relayscope::agent
