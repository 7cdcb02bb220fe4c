// The seed-compatible manual proxy file ("Proxy=host:port" or a proxy URL).
#include <cstdint>
#include <string>

#include "agent/discovery/sources.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/etc/relayscope/proxy.txt";
  const auto result = relayscope::agent::ParseManualFile(text, path);
  relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_MANUAL_FILE, path);
  return 0;
}
