// Firefox prefs.js (the network.proxy.* user_pref lines), and the
// profiles.ini that points at it: the input is split at the first NUL,
// profiles.ini before, prefs.js after (no NUL: prefs.js only).
#include <cstdint>
#include <string>

#include "agent/discovery/sources.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (const size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    auto profile =
        relayscope::agent::DefaultFirefoxProfile(text.substr(0, nul), "/home/u/.mozilla/firefox");
    FUZZ_CHECK(!profile.ok() || !profile->empty());
    text.remove_prefix(nul + 1);
  }
  const std::string path = "/home/u/.mozilla/firefox/abc.default/prefs.js";
  const auto result = relayscope::agent::ParsePrefsJs(text, path);
  relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_FIREFOX, path);
  return 0;
}
