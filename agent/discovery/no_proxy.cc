#include "agent/discovery/no_proxy.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace relayscope::agent {
namespace {

// An IP literal as 16 bytes (IPv4 mapped into the low 4) and its family.
bool ParseIp(absl::string_view text, unsigned char out[16], int* family) {
  std::string s(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, s.c_str(), out + 12) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

bool InPrefix(const unsigned char a[16], const unsigned char b[16], int bits, int offset) {
  for (int i = 0; i < bits; ++i) {
    const int bit = offset + i;
    const int mask = 0x80 >> (bit % 8);
    if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
  }
  return true;
}

// Splits "name:port" / "[v6]:port" / "v6" into host and optional port.
void SplitPort(absl::string_view entry, absl::string_view* host, int* port) {
  *port = -1;
  *host = entry;
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == absl::string_view::npos) return;
    *host = entry.substr(0, close + 1);
    absl::string_view rest = entry.substr(close + 1);
    int p = 0;
    if (absl::ConsumePrefix(&rest, ":") && absl::SimpleAtoi(rest, &p)) *port = p;
    return;
  }
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || entry.find(':') != colon) return;  // none, or bare v6
  int p = 0;
  if (absl::SimpleAtoi(entry.substr(colon + 1), &p)) {
    *host = entry.substr(0, colon);
    *port = p;
  }
}

}  // namespace

bool BypassesProxy(const std::vector<std::string>& no_proxy, absl::string_view host,
                   uint16_t port) {
  const std::string name = absl::AsciiStrToLower(host);
  unsigned char host_ip[16];
  int host_family = 0;
  const bool host_is_ip = ParseIp(name, host_ip, &host_family);
  for (const std::string& raw : no_proxy) {
    std::string entry = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry == "<local>") {
      if (!host_is_ip && name.find('.') == std::string::npos) return true;
      continue;
    }
    const size_t slash = entry.find('/');
    if (slash != std::string::npos) {  // CIDR
      unsigned char net[16];
      int family = 0, bits = 0;
      if (!host_is_ip || !ParseIp(entry.substr(0, slash), net, &family) || family != host_family ||
          !absl::SimpleAtoi(entry.substr(slash + 1), &bits)) {
        continue;
      }
      const int max_bits = family == AF_INET ? 32 : 128;
      if (bits < 0 || bits > max_bits) continue;
      if (InPrefix(host_ip, net, bits, family == AF_INET ? 96 : 0)) return true;
      continue;
    }
    absl::string_view entry_host;
    int entry_port = -1;
    SplitPort(entry, &entry_host, &entry_port);
    if (entry_port >= 0 && entry_port != port) continue;
    unsigned char entry_ip[16];
    int entry_family = 0;
    if (ParseIp(entry_host, entry_ip, &entry_family)) {
      if (host_is_ip && entry_family == host_family && std::memcmp(entry_ip, host_ip, 16) == 0) {
        return true;
      }
      continue;
    }
    if (host_is_ip) continue;
    absl::string_view suffix = entry_host;
    absl::ConsumePrefix(&suffix, "*");
    absl::ConsumePrefix(&suffix, ".");
    if (suffix.empty()) continue;
    if (name == suffix) return true;
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix) &&
        name[name.size() - suffix.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

}  // namespace relayscope::agent
