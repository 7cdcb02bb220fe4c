// What the agent reads from desktop tools' output: GNOME's `gsettings
// list-recursively org.gnome.system.proxy` (ParseGsettingsProxy) when the
// first byte is even, macOS's `scutil --proxy` (ParseScutilProxy, nested
// <dictionary>/<array> blocks) when it is odd. Both come from a program
// whose output the agent does not control (a user's settings, a wrapper
// script earlier on PATH).
//
// Invariants: as every proxy source (usable proxies with their source,
// warnings naming where); a result that is explicitly direct has no proxy
// and no PAC. (Whether a warning can quote the GNOME proxy password is the
// unit tests' and the secrets test's job: a fuzzed password is often a
// substring of a warning's own words.)
#include <cstdint>
#include <string>

#include "agent/discovery/desktop_sources.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  namespace agent = relayscope::agent;
  if (data[0] % 2 == 0) {
    const agent::DiscoveryResult result = agent::ParseGsettingsProxy(text);
    relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_GNOME, "gsettings");
    if (result.explicitly_direct) FUZZ_CHECK(result.proxies.empty() && result.pac.empty());
  } else {
    const agent::DiscoveryResult result = agent::ParseScutilProxy(text);
    relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_MACOS,
                                           "scutil --proxy");
    if (result.explicitly_direct) FUZZ_CHECK(result.proxies.empty() && result.pac.empty());
  }
  return 0;
}
