// DHCP lease files (dhclient's and NetworkManager's) for the WPAD option
// 252, and resolv.conf's search list (the other half of the WPAD input).
#include <cstdint>
#include <set>
#include <string>

#include "agent/discovery/wpad.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> urls = relayscope::agent::ParseDhcpWpadOption(text);
  std::set<std::string> seen;
  for (const std::string& url : urls) {
    // Only http(s) URLs, each once, without spaces or control characters
    // (the NUL Windows servers append included).
    FUZZ_CHECK(absl::StartsWithIgnoreCase(url, "http://") ||
               absl::StartsWithIgnoreCase(url, "https://"));
    for (unsigned char c : url) FUZZ_CHECK(c > 0x20 && c != 0x7f);
    FUZZ_CHECK(seen.insert(url).second);
  }
  for (const std::string& domain : relayscope::agent::ParseResolvConfSearch(text)) {
    FUZZ_CHECK(!domain.empty());
    FUZZ_CHECK(domain.back() != '.');
  }
  return 0;
}
