// Reading a configuration file with a size bound, telling "missing" (not
// configured: say nothing) from "unreadable" (say so).
#ifndef AGENT_DISCOVERY_READ_FILE_H_
#define AGENT_DISCOVERY_READ_FILE_H_

#include <cstddef>
#include <optional>
#include <string>

namespace relayscope::agent {

// At most `max_bytes` of `path`; std::nullopt if it cannot be read, with
// *missing (when given) set if it does not exist.
std::optional<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes,
                                           bool* missing = nullptr);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_READ_FILE_H_
