// What every fuzz target shares: an invariant check that aborts (so
// libFuzzer, and the corpus-replay test, report the input), and the checks
// a DiscoveryResult from any proxy source must pass.
#ifndef TESTS_FUZZ_FUZZ_CHECK_H_
#define TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace relayscope::fuzz {

// A proxy host as ParseProxyUrl admits it: what reaches libcurl's
// CURLOPT_PROXY must not be able to smuggle a scheme, user-info or path.
inline bool IsPlainHost(absl::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':') return false;
  }
  return true;
}

inline bool IsKnownScope(const std::string& scope) {
  return scope.empty() || scope == "http" || scope == "https" || scope == "socks";
}

// Every proxy is usable and says where it came from; every warning names
// the file it is about.
inline void CheckDiscoveryResult(const agent::DiscoveryResult& result, v1::ProxySource source,
                                 absl::string_view path) {
  for (const agent::ProxyCandidate& p : result.proxies) {
    FUZZ_CHECK(IsPlainHost(p.url.host));
    FUZZ_CHECK(p.url.port != 0);
    FUZZ_CHECK(p.source == source);
    FUZZ_CHECK(!p.detail.empty());
    FUZZ_CHECK(IsKnownScope(p.scope));
  }
  for (const agent::PacLocation& pac : result.pac) {
    FUZZ_CHECK(!pac.url.empty());
    FUZZ_CHECK(pac.source == source);
  }
  // (The full path, or the file name where a source's details use it:
  // Firefox's "prefs.js:12".)
  const absl::string_view file = path.substr(path.rfind('/') + 1);
  for (const std::string& warning : result.warnings) {
    FUZZ_CHECK(absl::StartsWith(warning, path) || absl::StartsWith(warning, file));
  }
}

}  // namespace relayscope::fuzz

#endif  // TESTS_FUZZ_FUZZ_CHECK_H_
