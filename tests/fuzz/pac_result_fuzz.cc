// PAC result strings ("PROXY a:8080; SOCKS5 [::1]:1080; DIRECT"), as a
// hostile PAC file may return them.
#include <cstdint>
#include <string>

#include "agent/pac/pac_result.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const relayscope::agent::PacResult result = relayscope::agent::ParsePacResult(text);
  // Never nothing: an empty or unusable result is DIRECT or warnings.
  FUZZ_CHECK(!result.routes.empty() || !result.warnings.empty());
  FUZZ_CHECK(result.routes.size() <= 32);
  for (const relayscope::agent::PacRoute& route : result.routes) {
    FUZZ_CHECK(!route.text.empty());
    FUZZ_CHECK(absl::StripAsciiWhitespace(route.text) == route.text);
    if (route.direct) continue;
    FUZZ_CHECK(relayscope::fuzz::IsPlainHost(route.proxy.host));
    FUZZ_CHECK(route.proxy.port != 0);
    // The entry's own text names its host.
    FUZZ_CHECK(route.text.find(route.proxy.host) != std::string::npos);
  }
  return 0;
}
