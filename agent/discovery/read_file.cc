#include "agent/discovery/read_file.h"

#include <cerrno>
#include <cstdio>

namespace relayscope::agent {

std::optional<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes,
                                           bool* missing) {
  if (missing != nullptr) *missing = false;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    if (missing != nullptr) *missing = errno == ENOENT || errno == ENOTDIR;
    return std::nullopt;
  }
  std::string text(max_bytes, '\0');
  const size_t size = std::fread(text.data(), 1, text.size(), file);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return std::nullopt;
  text.resize(size);
  return text;
}

}  // namespace relayscope::agent
