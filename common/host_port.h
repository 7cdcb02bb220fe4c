// Host and port as people and URLs write them: "relay.example:8200",
// "203.0.113.7:443", "[2001:db8::10]:443". An IPv6 literal is bracketed
// (RFC 3986 §3.2.2), so the port can be told from the address.
#ifndef COMMON_HOST_PORT_H_
#define COMMON_HOST_PORT_H_

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace relayscope {

// The host as it goes into a URL authority: an IPv6 literal (anything with a
// ':' not already bracketed) in brackets, everything else unchanged.
inline std::string UrlHost(absl::string_view host) {
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]");
  }
  return std::string(host);
}

// "host:port", with UrlHost's bracketing.
inline std::string HostPort(absl::string_view host, int64_t port) {
  return absl::StrCat(UrlHost(host), ":", port);
}

}  // namespace relayscope

#endif  // COMMON_HOST_PORT_H_
