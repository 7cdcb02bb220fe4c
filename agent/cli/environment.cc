#include "agent/cli/environment.h"

#include <cstdlib>
#include <utility>

#include "common/utf16.h"

namespace relayscope::agent {

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
#ifdef _WIN32
    // As UTF-16: getenv gives the ANSI code page, wrong for a %TMP% under
    // a user name outside it.
    const wchar_t* value = _wgetenv(Utf16(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return Utf8(value);
#else
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
#endif
  };
}

Environment FixedEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace relayscope::agent
