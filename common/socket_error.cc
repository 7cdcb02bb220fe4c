#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/errno_text.h"
#include "common/socket.h"

namespace relayscope {
namespace {

struct Known {
  int value;
  const char* name;
  const char* text;  // glibc's wording, so Linux and Windows reports read alike
};

// The errors a connect, send or receive reports.
constexpr Known kKnown[] = {
    {ECONNREFUSED, "ECONNREFUSED", "Connection refused"},
    {ECONNRESET, "ECONNRESET", "Connection reset by peer"},
    {ECONNABORTED, "ECONNABORTED", "Software caused connection abort"},
    {ETIMEDOUT, "ETIMEDOUT", "Connection timed out"},
    {EHOSTUNREACH, "EHOSTUNREACH", "No route to host"},
    {ENETUNREACH, "ENETUNREACH", "Network is unreachable"},
    {EINPROGRESS, "EINPROGRESS", "Operation now in progress"},
    {EALREADY, "EALREADY", "Operation already in progress"},
    {EISCONN, "EISCONN", "Transport endpoint is already connected"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "Address family not supported by protocol"},
    {EACCES, "EACCES", "Permission denied"},
    {EPERM, "EPERM", "Operation not permitted"},
    {EMFILE, "EMFILE", "Too many open files"},
    {ENOBUFS, "ENOBUFS", "No buffer space available"},
    {EPIPE, "EPIPE", "Broken pipe"},
};

const Known* Find(int err) {
  for (const Known& known : kKnown) {
    if (known.value == err) return &known;
  }
  return nullptr;
}

}  // namespace

std::string SocketErrorName(int err) {
  if (err == 0) return "";
  if (const Known* known = Find(err)) return known->name;
#ifdef __GLIBC__
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return absl::StrCat("E", err);
}

std::string SocketErrorText(int err) {
  if (err == 0) return "";
  if (const Known* known = Find(err)) return known->text;
#ifdef _WIN32
  return absl::StrCat("Winsock error ", err);
#else
  return ErrnoText(err);
#endif
}

}  // namespace relayscope
