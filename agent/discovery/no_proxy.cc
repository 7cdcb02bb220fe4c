#include "agent/discovery/no_proxy.h"

#include <array>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/socket.h"

namespace relayscope::agent {
namespace {

// An IP literal: its family and 16 bytes (IPv4 in the first 4).
struct Ip {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  int bits() const { return family == AF_INET ? 32 : 128; }
};

std::optional<Ip> ParseIp(absl::string_view text) {
  const std::string s(text);
  Ip ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

std::optional<Ip> ParseIpMaybeBracketed(absl::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  return ParseIp(text);
}

// The first `bits` bits of a and b are equal (same family).
bool SamePrefix(const Ip& a, const Ip& b, int bits) {
  if (a.family != b.family || bits < 0 || bits > a.bits()) return false;
  for (int bit = 0; bit < bits; ++bit) {
    const int mask = 0x80 >> (bit % 8);
    if ((a.bytes[bit / 8] & mask) != (b.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

// "10.0.0.0/8", "fd00::/8", "[fd00::]/8": network and prefix length.
std::optional<std::pair<Ip, int>> ParseCidr(absl::string_view entry) {
  const size_t slash = entry.find('/');
  if (slash == absl::string_view::npos) return std::nullopt;
  auto net = ParseIpMaybeBracketed(entry.substr(0, slash));
  int bits = 0;
  if (!net || !absl::SimpleAtoi(entry.substr(slash + 1), &bits) || bits < 0 || bits > net->bits()) {
    return std::nullopt;
  }
  return std::pair{*net, bits};
}

// Case-insensitive glob with '*' for any run of characters.
bool Glob(absl::string_view pattern, absl::string_view text) {
  size_t p = 0, t = 0, star = absl::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() &&
               absl::ascii_tolower(pattern[p]) == absl::ascii_tolower(text[t])) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// "name:port" (one colon) or "[v6]:port": the host part and the port; -1
// without a port. `bad` is set when a port is there but not a number.
absl::string_view SplitHostPort(absl::string_view entry, int* port, bool* bad) {
  *port = -1;
  *bad = false;
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == absl::string_view::npos) return entry;
    absl::string_view rest = entry.substr(close + 1);
    if (absl::ConsumePrefix(&rest, ":")) {
      if (!absl::SimpleAtoi(rest, port) || *port < 0 || *port > 65535) *bad = true;
    }
    return entry.substr(1, close - 1);
  }
  const size_t colon = entry.find(':');
  if (colon == absl::string_view::npos || entry.find(':', colon + 1) != absl::string_view::npos) {
    return entry;  // no port, or a bare IPv6 literal
  }
  if (!absl::SimpleAtoi(entry.substr(colon + 1), port) || *port < 0 || *port > 65535) *bad = true;
  return entry.substr(0, colon);
}

bool HasNoDot(absl::string_view host) {
  return !host.empty() && host.find('.') == absl::string_view::npos && !ParseIp(host);
}

// The host's own address when it is one, else the first it resolves to.
std::optional<Ip> AddressOf(const BypassTarget& target) {
  if (auto ip = ParseIp(target.host)) return ip;
  for (const std::string& address : target.addresses) {
    if (auto ip = ParseIp(address)) return ip;
  }
  return std::nullopt;
}

// ---- curl 7.88 (lib/noproxy.c, Curl_check_noproxy) ----

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// C's atoi as curl uses it for a prefix length, converted to unsigned int
// as curl stores it: junk is 0, a negative number wraps to a huge one.
unsigned int CurlBits(absl::string_view text) {
  size_t i = 0;
  while (i < text.size() && absl::ascii_isspace(text[i])) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  long long value = 0;  // NOLINT(google-runtime-int): atoi's range
  while (i < text.size() && absl::ascii_isdigit(text[i]) && value < (1LL << 33)) {
    value = value * 10 + (text[i++] - '0');
  }
  return static_cast<unsigned int>(negative ? -value : value);
}

bool CurlCidr4(absl::string_view ipv4, absl::string_view network, unsigned int bits) {
  if (bits > 32) return false;
  Ip address, check;
  if (inet_pton(AF_INET, std::string(ipv4).c_str(), address.bytes.data()) != 1) return false;
  if (inet_pton(AF_INET, std::string(network).c_str(), check.bytes.data()) != 1) return false;
  address.family = check.family = AF_INET;
  if (bits != 0 && bits != 32) return SamePrefix(address, check, static_cast<int>(bits));
  return SamePrefix(address, check, 32);
}

bool CurlCidr6(absl::string_view ipv6, absl::string_view network, unsigned int bits) {
  if (bits == 0) bits = 128;
  const unsigned int bytes = bits / 8;
  const unsigned int rest = bits & 0x07;
  std::array<unsigned char, 16> address{}, check{};
  if (inet_pton(AF_INET6, std::string(ipv6).c_str(), address.data()) != 1) return false;
  if (inet_pton(AF_INET6, std::string(network).c_str(), check.data()) != 1) return false;
  if (bytes > 16 || (bytes == 16 && rest != 0)) return false;
  if (bytes != 0 && std::memcmp(address.data(), check.data(), bytes) != 0) return false;
  // curl 7.88 rejects a partial byte when its bits are EQUAL (an inverted
  // test, fixed in later releases); kept, since curl 7.88 is the reference.
  if (rest != 0 && ((address[bytes] ^ check[bytes]) & (0xff << (8 - rest))) == 0) return false;
  return true;
}

// ---- KDE KIO (kprotocolmanager.cpp) ----

// QHostAddress::parseSubnet: "a.b.c.d/n", "a.b/n" or "a.b" (the mask then
// 8 bits per part given), "v6/n" or "v6" (128).
std::optional<std::pair<Ip, int>> QtSubnet(absl::string_view entry) {
  const size_t slash = entry.find('/');
  absl::string_view net = entry.substr(0, slash);
  int bits = -1;
  if (slash != absl::string_view::npos) {
    absl::string_view mask = entry.substr(slash + 1);
    if (auto dotted = ParseIp(mask); dotted && dotted->family == AF_INET) {
      bits = 0;
      for (int i = 0; i < 32 && (dotted->bytes[i / 8] & (0x80 >> (i % 8))) != 0; ++i) ++bits;
    } else if (!absl::SimpleAtoi(mask, &bits)) {
      return std::nullopt;
    }
  }
  Ip ip;
  if (absl::StrContains(net, ':')) {
    auto v6 = ParseIp(net);
    if (!v6 || v6->family != AF_INET6) return std::nullopt;
    if (bits == -1) bits = 128;
    if (bits < 0 || bits > 128) return std::nullopt;
    return std::pair{*v6, bits};
  }
  std::vector<absl::string_view> parts = absl::StrSplit(net, '.');
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.empty() || parts.size() > 4) return std::nullopt;
  ip.family = AF_INET;
  for (size_t i = 0; i < parts.size(); ++i) {
    uint32_t byte = 0;
    if (!absl::SimpleAtoi(parts[i], &byte) || byte > 255) return std::nullopt;
    ip.bytes[i] = static_cast<unsigned char>(byte);
  }
  if (bits == -1) bits = static_cast<int>(8 * parts.size());
  if (bits < 0 || bits > 32) return std::nullopt;
  return std::pair{ip, bits};
}

// KIO's revmatch for one entry: the entry is a suffix of `host`, or the
// entry ends in "/<host>" (a URL typed into the list).
bool KdeRevmatch(absl::string_view host, absl::string_view entry) {
  if (entry.empty() || host.empty()) return false;
  if (absl::EndsWith(host, entry)) return true;
  return entry.size() > host.size() && absl::EndsWith(entry, host) &&
         entry[entry.size() - host.size() - 1] == '/';
}

BypassMatch MatchKde(const std::vector<std::string>& entries, const BypassTarget& target,
                     bool reversed) {
  std::vector<std::string> names;
  std::vector<std::pair<std::pair<Ip, int>, std::string>> subnets;
  for (const std::string& raw : entries) {
    for (absl::string_view part : absl::StrSplit(raw, absl::ByAnyChar(", "), absl::SkipEmpty())) {
      if (auto subnet = QtSubnet(part)) {
        subnets.push_back({*subnet, std::string(part)});
      } else {
        names.push_back(absl::AsciiStrToLower(part));
      }
    }
  }
  const std::string host = absl::AsciiStrToLower(target.host);
  std::string matched;
  bool is_match = false;
  auto try_names = [&](const std::string& what) {
    for (const std::string& name : names) {
      if (KdeRevmatch(what, name)) {
        matched = name;
        return true;
      }
    }
    return false;
  };
  is_match = try_names(host);
  if (!is_match && target.port > 0) is_match = try_names(absl::StrCat(host, ":", target.port));
  if (!is_match && !host.empty() && host.find('.') == std::string::npos) {
    is_match = try_names("<local>");
  }
  if (!is_match) {
    if (auto address = AddressOf(target)) {
      for (const auto& [subnet, text] : subnets) {
        if (SamePrefix(*address, subnet.first, subnet.second)) {
          is_match = true;
          matched = text;
          break;
        }
      }
    }
  }
  // ReversedException: the listed hosts are the only ones proxied.
  return {reversed != is_match, matched};
}

// ---- GNOME (glib-networking GSimpleProxyResolver ignore_hosts) ----

BypassMatch MatchGnome(const std::vector<std::string>& entries, const BypassTarget& target) {
  const auto host_ip = ParseIp(target.host);
  for (const std::string& raw : entries) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) continue;
    // A mask: an address, or an address with a prefix length.
    std::optional<std::pair<Ip, int>> mask = ParseCidr(entry);
    if (!mask && entry.find('/') == absl::string_view::npos) {
      if (auto ip = ParseIp(entry)) mask = std::pair{*ip, ip->bits()};
    }
    if (mask) {
      if (host_ip && SamePrefix(*host_ip, mask->first, mask->second)) return {true, raw};
      continue;
    }
    int port = -1;
    bool bad = false;
    absl::string_view name = SplitHostPort(entry, &port, &bad);
    if (bad) continue;
    if (port > 0 && port != target.port) continue;
    if (!absl::ConsumePrefix(&name, "*.")) absl::ConsumePrefix(&name, ".");
    // An address with a port is compared as text, as glib does.
    const absl::string_view host = target.host;
    if (host.size() == name.size() ||
        (host.size() > name.size() && host[host.size() - name.size() - 1] == '.')) {
      if (!name.empty() && absl::EqualsIgnoreCase(host.substr(host.size() - name.size()), name)) {
        return {true, raw};
      }
    }
  }
  return {};
}

// ---- Windows (WinINet ProxyOverride) ----

BypassMatch MatchWindows(const std::vector<std::string>& entries, const BypassTarget& target) {
  for (const std::string& raw : entries) {
    for (absl::string_view entry : absl::StrSplit(raw, ';', absl::SkipWhitespace())) {
      entry = absl::StripAsciiWhitespace(entry);
      if (absl::EqualsIgnoreCase(entry, "<local>")) {
        if (HasNoDot(target.host)) return {true, std::string(entry)};
        continue;
      }
      if (const size_t scheme = entry.find("://"); scheme != absl::string_view::npos) {
        // Relays are reached like https destinations.
        if (!absl::EqualsIgnoreCase(entry.substr(0, scheme), "https")) continue;
        entry = entry.substr(scheme + 3);
      }
      int port = -1;
      bool bad = false;
      absl::string_view pattern = SplitHostPort(entry, &port, &bad);
      if (bad) pattern = entry;  // "host:*" and the like: a pattern over the host
      if (port >= 0 && port != target.port) continue;
      if (!pattern.empty() && Glob(pattern, target.host)) return {true, std::string(entry)};
    }
  }
  return {};
}

// ---- Firefox (nsProtocolProxyService host filters) ----

BypassMatch MatchFirefox(const std::vector<std::string>& entries, const BypassTarget& target) {
  const std::string host = absl::AsciiStrToLower(target.host);
  const auto host_ip = ParseIp(host);
  // network.proxy.allow_hijacking_localhost is false by default.
  if (host == "localhost" || absl::EndsWith(host, ".localhost") ||
      (host_ip && host_ip->family == AF_INET && host_ip->bytes[0] == 127) ||
      (host_ip && host_ip->family == AF_INET6 && host == "::1")) {
    return {true, "localhost (implicit)"};
  }
  for (const std::string& raw : entries) {
    for (absl::string_view entry :
         absl::StrSplit(raw, absl::ByAnyChar(", \t\n"), absl::SkipEmpty())) {
      const std::string text(entry);
      if (absl::EqualsIgnoreCase(entry, "<local>")) {
        if (HasNoDot(host)) return {true, text};
        continue;
      }
      absl::string_view rest = entry;
      int bits = -1;
      if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
        if (!absl::SimpleAtoi(rest.substr(slash + 1), &bits)) continue;
        rest = rest.substr(0, slash);
      }
      int port = -1;
      bool bad = false;
      absl::string_view name = SplitHostPort(rest, &port, &bad);
      if (bad) continue;
      if (port > 0 && port != target.port) continue;
      if (auto ip = ParseIp(name)) {
        if (host_ip && SamePrefix(*host_ip, *ip, bits < 0 ? ip->bits() : bits)) {
          return {true, text};
        }
        continue;
      }
      if (bits >= 0) continue;
      absl::ConsumePrefix(&name, "*");
      const std::string filter = absl::AsciiStrToLower(name);
      if (filter.empty() || host.size() < filter.size() || !absl::EndsWith(host, filter)) continue;
      // ".corp.example" matches every subdomain; "corp.example" itself or on
      // a label boundary ("abc-corp.example" is not "corp.example").
      if (filter.front() == '.' || host.size() == filter.size() ||
          host[host.size() - filter.size() - 1] == '.') {
        return {true, text};
      }
    }
  }
  return {};
}

// ---- macOS (ExceptionsList) ----

BypassMatch MatchMacos(const std::vector<std::string>& entries, const BypassTarget& target) {
  const auto host_ip = ParseIp(target.host);
  for (const std::string& raw : entries) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry == "<local>") {
      if (HasNoDot(target.host)) return {true, raw};
      continue;
    }
    if (const size_t slash = entry.find('/'); slash != absl::string_view::npos) {
      // "169.254/16": a network written short.
      std::vector<absl::string_view> parts = absl::StrSplit(entry.substr(0, slash), '.');
      std::string net(entry.substr(0, slash));
      if (!absl::StrContains(net, ':')) {
        for (size_t i = parts.size(); i < 4; ++i) net += ".0";
      }
      auto cidr = ParseCidr(absl::StrCat(net, entry.substr(slash)));
      if (cidr && host_ip && SamePrefix(*host_ip, cidr->first, cidr->second)) return {true, raw};
      continue;
    }
    if (auto ip = ParseIp(entry)) {
      if (host_ip && SamePrefix(*host_ip, *ip, ip->bits())) return {true, raw};
      continue;
    }
    if (!entry.empty() && Glob(entry, target.host)) return {true, raw};
  }
  return {};
}

}  // namespace

BypassRules BypassRulesFor(v1::ProxySource source) {
  switch (source) {
    case v1::PROXY_SOURCE_KDE:
      return BypassRules::kKde;
    case v1::PROXY_SOURCE_GNOME:
      return BypassRules::kGnome;
    case v1::PROXY_SOURCE_WINDOWS:
      return BypassRules::kWindows;
    case v1::PROXY_SOURCE_FIREFOX:
      return BypassRules::kFirefox;
    case v1::PROXY_SOURCE_MACOS:
      return BypassRules::kMacos;
    default:
      return BypassRules::kCurl;
  }
}

std::string BypassSettingName(BypassRules rules) {
  switch (rules) {
    case BypassRules::kCurl:
      return "no_proxy";
    case BypassRules::kKde:
      return "NoProxyFor";
    case BypassRules::kGnome:
      return "ignore-hosts";
    case BypassRules::kWindows:
      return "ProxyOverride";
    case BypassRules::kFirefox:
      return "no_proxies_on";
    case BypassRules::kMacos:
      return "ExceptionsList";
  }
  return "bypass list";
}

std::optional<std::string> CurlNoProxyMatch(absl::string_view no_proxy, absl::string_view name) {
  if (name.empty() || no_proxy.empty()) return std::nullopt;
  if (no_proxy == "*") return "*";
  enum { kHost, kIpv4, kIpv6 } type = kHost;
  if (name.front() == '[') {
    const size_t close = name.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    name = name.substr(1, close - 1);
    if (name.size() >= 128) return std::nullopt;
    type = kIpv6;
  } else {
    Ip ip;
    if (inet_pton(AF_INET, std::string(name).c_str(), ip.bytes.data()) == 1) {
      type = kIpv4;
    } else if (name.back() == '.') {
      name.remove_suffix(1);  // trailing dots in the host name are ignored
    }
  }
  size_t p = 0;
  while (p < no_proxy.size()) {
    while (p < no_proxy.size() && IsBlank(no_proxy[p])) ++p;
    const size_t start = p;
    while (p < no_proxy.size() && !IsBlank(no_proxy[p]) && no_proxy[p] != ',') ++p;
    const absl::string_view entry = no_proxy.substr(start, p - start);
    absl::string_view token = entry;
    bool match = false;
    if (!token.empty()) {
      if (type == kHost) {
        if (token.back() == '.') token.remove_suffix(1);
        if (!token.empty() && token.front() == '.') token.remove_prefix(1);
        if (token.size() == name.size()) {
          match = absl::EqualsIgnoreCase(token, name);
        } else if (token.size() < name.size()) {
          match = name[name.size() - token.size() - 1] == '.' &&
                  absl::EqualsIgnoreCase(token, name.substr(name.size() - token.size()));
        }
      } else if (token.size() < 128) {
        absl::string_view check = token;
        unsigned int bits = 0;
        if (const size_t slash = check.find('/'); slash != absl::string_view::npos) {
          bits = CurlBits(check.substr(slash + 1));
          check = check.substr(0, slash);
        }
        match = type == kIpv6 ? CurlCidr6(name, check, bits) : CurlCidr4(name, check, bits);
      }
      if (match) return std::string(entry);
    }
    while (p < no_proxy.size() && IsBlank(no_proxy[p])) ++p;
    if (p < no_proxy.size() && no_proxy[p] != ',') continue;  // blank-separated
    while (p < no_proxy.size() && no_proxy[p] == ',') ++p;
  }
  return std::nullopt;
}

bool BypassesProxy(const std::vector<std::string>& no_proxy, absl::string_view host,
                   uint16_t /*port*/) {
  return CurlNoProxyMatch(absl::StrJoin(no_proxy, ","), host).has_value();
}

BypassMatch MatchBypass(BypassRules rules, const std::vector<std::string>& entries,
                        const BypassTarget& target, bool reversed) {
  switch (rules) {
    case BypassRules::kCurl: {
      auto entry = CurlNoProxyMatch(absl::StrJoin(entries, ","), target.host);
      return {entry.has_value(), entry.value_or("")};
    }
    case BypassRules::kKde:
      return MatchKde(entries, target, reversed);
    case BypassRules::kGnome:
      return MatchGnome(entries, target);
    case BypassRules::kWindows:
      return MatchWindows(entries, target);
    case BypassRules::kFirefox:
      return MatchFirefox(entries, target);
    case BypassRules::kMacos:
      return MatchMacos(entries, target);
  }
  return {};
}

}  // namespace relayscope::agent
