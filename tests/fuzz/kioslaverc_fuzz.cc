// KDE's kioslaverc ([Proxy Settings] group).
#include <cstdint>
#include <string>

#include "agent/discovery/desktop_sources.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/home/u/.config/kioslaverc";
  const auto result = relayscope::agent::ParseKioslaverc(text, path);
  relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_KDE, path);
  return 0;
}
