#include "common/files.h"

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <unistd.h>
#endif

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/errno_text.h"

namespace relayscope {
namespace {

bool DiskFull(int err) {
#ifdef EDQUOT  // the Windows C library has no quota error
  if (err == EDQUOT) return true;
#endif
  return err == ENOSPC;
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content) {
  const std::string temp = absl::StrCat(path, ".tmp");
  FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create ", temp, ": ", ErrnoText(errno)));
  }
  const size_t written = std::fwrite(content.data(), 1, content.size(), f);
  const int write_errno = errno;
#ifdef _WIN32
  const bool flushed = std::fflush(f) == 0 && _commit(_fileno(f)) == 0;
#else
  const bool flushed = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
#endif
  const int flush_errno = errno;
  std::fclose(f);
  if (written != content.size() || !flushed) {
    std::remove(temp.c_str());
    const int err = written != content.size() ? write_errno : flush_errno;
    const std::string message = absl::StrCat("cannot write ", path, ": ", ErrnoText(err));
    return DiskFull(err) ? absl::ResourceExhaustedError(message) : absl::UnavailableError(message);
  }
#ifdef _WIN32
  // rename() on Windows refuses to replace an existing file.
  if (!MoveFileExA(temp.c_str(), path.c_str(),
                   MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    const int err = EACCES;  // GetLastError has no errno; the path is in the message
#else
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
#endif
    std::remove(temp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", temp, ": ", ErrnoText(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace relayscope
