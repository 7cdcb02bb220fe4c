// ErrnoText(err): the message of an errno value, for error statuses
// ("cannot bind 0.0.0.0:8200: Address already in use").
//
// std::strerror may return a buffer that another thread's call overwrites
// (clang-tidy concurrency-mt-unsafe); the agent races attempts and the
// services serve concurrently, so the project uses this instead.
#ifndef COMMON_ERRNO_TEXT_H_
#define COMMON_ERRNO_TEXT_H_

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace relayscope {

namespace errno_text_internal {
// glibc with _GNU_SOURCE (g++ and clang++ define it) returns the message;
// the POSIX strerror_r returns 0 and fills the buffer.
inline std::string FromStrerrorR(const char* message, const char* /*buffer*/, int /*err*/) {
  return message;
}
inline std::string FromStrerrorR(int result, const char* buffer, int err) {
  return result == 0 ? std::string(buffer) : absl::StrCat("errno ", err);
}
}  // namespace errno_text_internal

inline std::string ErrnoText(int err) {
  char buffer[256] = {};
#ifdef _WIN32
  if (strerror_s(buffer, sizeof(buffer), err) != 0) return absl::StrCat("errno ", err);
  return buffer;
#else
  return errno_text_internal::FromStrerrorR(strerror_r(err, buffer, sizeof(buffer)), buffer, err);
#endif
}

}  // namespace relayscope

#endif  // COMMON_ERRNO_TEXT_H_
