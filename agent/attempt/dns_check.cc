#include "agent/attempt/dns_check.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "common/socket.h"

namespace relayscope::agent {
namespace {

constexpr int kMaxAnswers = 16;
constexpr size_t kMaxErrorBytes = 256;

// An address as 16 bytes (IPv4 as ::ffff:a.b.c.d), or nullopt.
std::optional<std::array<uint8_t, 16>> Parse(absl::string_view text) {
  const std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

bool IsMappedV4(const std::array<uint8_t, 16>& a) {
  for (int i = 0; i < 10; ++i) {
    if (a[i] != 0) return false;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

}  // namespace

bool IsSinkholeAddress(absl::string_view address) {
  const auto a = Parse(address);
  if (!a) return false;
  if (IsMappedV4(*a)) {
    const uint8_t first = (*a)[12], second = (*a)[13];
    return first == 0 || first == 127 || (first == 169 && second == 254);
  }
  bool zero_prefix = true;  // the first 15 bytes are zero
  for (int i = 0; i < 15; ++i) zero_prefix = zero_prefix && (*a)[i] == 0;
  if (zero_prefix && ((*a)[15] == 0 || (*a)[15] == 1)) return true;  // ::, ::1
  return (*a)[0] == 0xfe && ((*a)[1] & 0xc0) == 0x80;                // fe80::/10
}

v1::DnsEvidence CheckDns(const std::string& host, const std::vector<std::string>& listed,
                         const absl::StatusOr<std::vector<std::string>>& answers) {
  v1::DnsEvidence evidence;
  evidence.set_host(host);
  if (!answers.ok() || answers->empty()) {
    evidence.set_status(v1::DnsEvidence::STATUS_FAILED);
    std::string error = answers.ok() ? "no address" : std::string(answers.status().message());
    if (error.size() > kMaxErrorBytes) error.resize(kMaxErrorBytes);
    evidence.set_error(std::move(error));
    return evidence;
  }
  std::vector<std::array<uint8_t, 16>> listed_parsed;
  for (const std::string& address : listed) {
    if (auto parsed = Parse(address)) listed_parsed.push_back(*parsed);
  }
  bool sinkhole = false, unexpected = false;
  for (const std::string& answer : *answers) {
    if (evidence.answers_size() < kMaxAnswers) evidence.add_answers(answer);
    const auto parsed = Parse(answer);
    const bool is_listed = parsed && std::find(listed_parsed.begin(), listed_parsed.end(),
                                               *parsed) != listed_parsed.end();
    if (is_listed) continue;
    unexpected = true;
    sinkhole = sinkhole || IsSinkholeAddress(answer);
  }
  evidence.set_status(sinkhole     ? v1::DnsEvidence::STATUS_SINKHOLE
                      : unexpected ? v1::DnsEvidence::STATUS_UNEXPECTED
                                   : v1::DnsEvidence::STATUS_CONSISTENT);
  return evidence;
}

}  // namespace relayscope::agent
