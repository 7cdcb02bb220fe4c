// Windows Internet Settings as a regedit export (.reg): UTF-16LE with BOM
// or ASCII, continuation lines, dword and string values.
#include <cstdint>
#include <string>

#include "agent/discovery/windows_source.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "C:/Users/u/internet-settings.reg";
  const auto result = relayscope::agent::ParseRegExport(text, path);
  relayscope::fuzz::CheckDiscoveryResult(result, relayscope::v1::PROXY_SOURCE_WINDOWS, path);
  return 0;
}
