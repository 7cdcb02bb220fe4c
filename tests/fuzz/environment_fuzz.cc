// The proxy environment variables (ParseEnvironment): the input is
// "NAME=value" lines, as a shell's environment; only http_proxy,
// https_proxy, all_proxy and no_proxy (either case) matter, and which of
// a lower- and upper-case pair wins.
//
// Invariants: as every proxy source; each proxy's detail and each warning
// name the variable they come from; at most one proxy per scope.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "agent/discovery/sources.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) continue;
    env.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  const relayscope::agent::DiscoveryResult result = relayscope::agent::ParseEnvironment(env);
  relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_ENV, "");
  std::set<std::string> scopes;
  for (const relayscope::agent::ProxyCandidate& p : result.proxies) {
    FUZZ_CHECK(env.count(p.detail) == 1);
    FUZZ_CHECK(scopes.insert(p.scope).second);
  }
  for (const std::string& warning : result.warnings) {
    bool named = false;
    for (const auto& [name, value] : env) named = named || absl::StartsWith(warning, name + ":");
    FUZZ_CHECK(named);
  }
  FUZZ_CHECK(result.pac.empty());
  return 0;
}
