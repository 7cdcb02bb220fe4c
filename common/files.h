// Reading a small file whole, and writing a file so that readers see all of
// it or none of it.
#ifndef COMMON_FILES_H_
#define COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace relayscope {

// Writes `content` to a temporary file beside `path`, syncs it and renames
// it over `path`. On failure nothing partial is left behind:
// RESOURCE_EXHAUSTED when the disk is full, UNAVAILABLE otherwise, naming
// the file.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

// The whole content of a (small: keys, tokens, certificates) file.
// NOT_FOUND naming the file if it cannot be read.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace relayscope

#endif  // COMMON_FILES_H_
