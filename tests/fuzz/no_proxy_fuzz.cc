// no_proxy lists (curl 7.88's semantics). Input: the host
// (first line, with an optional ":port" as a decimal after the last '|'),
// then the list, comma-separated, as in the environment variable.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/discovery/config_text.h"
#include "agent/discovery/no_proxy.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t newline = text.find('\n');
  absl::string_view host = text.substr(0, newline);
  const absl::string_view list =
      newline == absl::string_view::npos ? absl::string_view() : text.substr(newline + 1);
  uint16_t port = 443;
  if (const size_t bar = host.rfind('|'); bar != absl::string_view::npos) {
    uint32_t value = 0;
    if (absl::SimpleAtoi(host.substr(bar + 1), &value)) port = static_cast<uint16_t>(value);
    host = host.substr(0, bar);
  }
  const std::vector<std::string> no_proxy = relayscope::agent::SplitList(list, ",");
  const bool bypass = relayscope::agent::BypassesProxy(no_proxy, host, port);
  // Deterministic, and monotone: more entries never bypass less, except
  // that "*" counts only as the whole value (curl 7.88: "*,other" is a
  // list whose "*" entry matches nothing).
  FUZZ_CHECK(relayscope::agent::BypassesProxy(no_proxy, host, port) == bypass);
  std::vector<std::string> more = no_proxy;
  more.push_back("unrelated.invalid");
  const bool whole_star = no_proxy.size() == 1 && no_proxy[0] == "*";
  FUZZ_CHECK(!bypass || whole_star || relayscope::agent::BypassesProxy(more, host, port));
  // "*" alone (curl: only as the whole value) bypasses every named host.
  FUZZ_CHECK(host.empty() || relayscope::agent::BypassesProxy({"*"}, host, port));
  // A plain host name listed as is bypasses itself.
  if (relayscope::fuzz::IsPlainHost(host) && host.find(':') == absl::string_view::npos &&
      host.find_first_not_of("0123456789.") != absl::string_view::npos && host.front() != '.' &&
      host.back() != '.') {
    FUZZ_CHECK(relayscope::agent::BypassesProxy({std::string(host)}, host, port));
  }
  return 0;
}
