#include "agent/discovery/wpad.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <glob.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/discovery/config_text.h"

namespace relayscope::agent {
namespace {

// How WpadSource marks a location found in a lease file (WpadFoundBy
// reads it back).
constexpr absl::string_view kDhcpDetailSuffix = " (DHCP option 252)";

// Two-label public suffixes common enough to meet in corporate domains. A
// full Public Suffix List would be ~10k rules to ship and keep current; this
// covers the registries whose companies register under a second level.
constexpr absl::string_view kTwoLabelSuffixes[] = {
    "ac.in",  "ac.jp",  "ac.nz",  "ac.uk",  "ac.za",  "co.at",  "co.id",  "co.il",  "co.in",
    "co.jp",  "co.kr",  "co.nz",  "co.th",  "co.uk",  "co.za",  "com.ar", "com.au", "com.br",
    "com.cn", "com.co", "com.eg", "com.hk", "com.mx", "com.my", "com.ng", "com.pe", "com.ph",
    "com.pk", "com.pl", "com.sa", "com.sg", "com.tr", "com.tw", "com.ua", "com.vn", "edu.au",
    "edu.cn", "gov.au", "gov.br", "gov.cn", "gov.uk", "go.jp",  "ltd.uk", "me.uk",  "ne.jp",
    "net.au", "net.br", "net.cn", "net.in", "net.nz", "nhs.uk", "or.jp",  "or.kr",  "org.au",
    "org.br", "org.cn", "org.in", "org.mx", "org.nz", "org.tr", "org.uk", "org.za", "plc.uk",
};

bool IsDnsLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; });
}

// "68:74:74:70" (dhclient prints each byte with %x, so "0" for a NUL) or,
// without `colons`, "68747470".
std::optional<std::string> DecodeHex(absl::string_view text, bool colons) {
  std::string out;
  if (colons) {
    for (absl::string_view byte : absl::StrSplit(text, ':')) {
      int value = 0;
      if (byte.empty() || byte.size() > 2 || !absl::SimpleHexAtoi(byte, &value)) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(value));
    }
    return out;
  }
  if (text.empty() || text.size() % 2 != 0) return std::nullopt;
  for (size_t i = 0; i < text.size(); i += 2) {
    int value = 0;
    if (!absl::SimpleHexAtoi(text.substr(i, 2), &value)) return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

// A dhclient string: "..." with \" \\ and octal \ooo escapes.
std::optional<std::string> DecodeDhclientString(absl::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  text = text.substr(1, text.size() - 2);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out.push_back(text[i]);
      continue;
    }
    auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
    if (i + 3 < text.size() && is_octal(text[i + 1]) && is_octal(text[i + 2]) &&
        is_octal(text[i + 3])) {
      out.push_back(static_cast<char>(((text[i + 1] - '0') << 6) | ((text[i + 2] - '0') << 3) |
                                      (text[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(text[++i]);
    }
  }
  return out;
}

// An http(s) URL without spaces or control characters (a hostile DHCP
// server can put any bytes in option 252; such a value is no URL).
bool IsHttpUrl(absl::string_view url) {
  if (!absl::StartsWithIgnoreCase(url, "http://") && !absl::StartsWithIgnoreCase(url, "https://")) {
    return false;
  }
  return std::none_of(url.begin(), url.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

#ifdef _WIN32
// Windows keeps no dhclient lease files: option 252 is asked of the DHCP
// client by WinHTTP's auto-detect, the second opinion (system_proxy.h).
std::vector<std::string> Glob(const std::string&) { return {}; }

// The machine's primary DNS suffix, as the DNS walk starts from it.
std::string HostNameDomain() {
  char name[256] = {};
  DWORD size = sizeof(name);
  if (!GetComputerNameExA(ComputerNameDnsDomain, name, &size)) return "";
  return std::string(name, size);
}
#else
std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> paths;
  glob_t matches = {};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  }
  globfree(&matches);
  return paths;
}

std::string HostNameDomain() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  absl::string_view host(name);
  const size_t dot = host.find('.');
  return dot == absl::string_view::npos ? "" : std::string(host.substr(dot + 1));
}
#endif  // _WIN32

constexpr size_t kMaxFileBytes = 1 << 20;

}  // namespace

std::vector<std::string> ParseDhcpWpadOption(absl::string_view lease_text) {
  std::vector<std::string> urls;
  for (absl::string_view line : absl::StrSplit(lease_text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::optional<std::string> value;
    if (absl::ConsumePrefix(&line, "option ")) {  // dhclient
      line = absl::StripLeadingAsciiWhitespace(line);
      const size_t space = line.find_first_of(" \t");
      if (space == absl::string_view::npos) continue;
      const absl::string_view name = line.substr(0, space);
      if (name != "wpad" && name != "wpad-url" && name != "unknown-252") continue;
      absl::string_view raw = absl::StripAsciiWhitespace(line.substr(space + 1));
      absl::ConsumeSuffix(&raw, ";");
      raw = absl::StripTrailingAsciiWhitespace(raw);
      value = absl::StartsWith(raw, "\"") ? DecodeDhclientString(raw) : DecodeHex(raw, true);
    } else if (const size_t eq = line.find('='); eq != absl::string_view::npos) {  // NM
      const absl::string_view key = line.substr(0, eq);
      if (key != "WPAD" && key != "OPTION_252") continue;
      absl::string_view raw = line.substr(eq + 1);
      if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'') &&
          raw.back() == raw.front()) {
        raw = raw.substr(1, raw.size() - 2);
      }
      if (IsHttpUrl(raw)) {
        value = std::string(raw);
      } else {
        value = DecodeHex(raw, absl::StrContains(raw, ':'));
      }
    } else {
      continue;
    }
    if (!value) continue;
    // Windows DHCP servers NUL-terminate the option.
    std::string url(
        absl::StripAsciiWhitespace(absl::StripSuffix(*value, absl::string_view("\0", 1))));
    if (!IsHttpUrl(url)) continue;
    // Renewals repeat the URL: keep it once, where it was seen last.
    urls.erase(std::remove(urls.begin(), urls.end(), url), urls.end());
    urls.push_back(std::move(url));
  }
  return urls;
}

std::vector<std::string> WpadDnsCandidates(absl::string_view fqdn_or_domain,
                                           const std::vector<std::string>& search_domains) {
  std::vector<std::string> out;
  auto walk = [&](absl::string_view domain) {
    const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(domain));
    absl::string_view name = lower;
    while (absl::ConsumeSuffix(&name, ".")) {
    }
    std::vector<std::string> labels = absl::StrSplit(name, '.');
    if (name.empty() || !std::all_of(labels.begin(), labels.end(), IsDnsLabel)) return;
    // A numeric last label is an IP address, which has no parent domains.
    if (std::all_of(labels.back().begin(), labels.back().end(), absl::ascii_isdigit)) return;
    size_t suffix_labels = 1;
    if (labels.size() >= 2) {
      const std::string last_two = absl::StrCat(labels[labels.size() - 2], ".", labels.back());
      if (std::find(std::begin(kTwoLabelSuffixes), std::end(kTwoLabelSuffixes), last_two) !=
          std::end(kTwoLabelSuffixes)) {
        suffix_labels = 2;
      }
    }
    // Down to the registrable domain: the public suffix and one label more.
    for (size_t first = 0; labels.size() - first > suffix_labels; ++first) {
      std::string url = absl::StrCat(
          "http://wpad.",
          absl::StrJoin(labels.begin() + static_cast<ptrdiff_t>(first), labels.end(), "."),
          "/wpad.dat");
      if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(std::move(url));
    }
  };
  walk(fqdn_or_domain);
  for (const std::string& domain : search_domains) walk(domain);
  return out;
}

std::vector<std::string> ParseResolvConfSearch(absl::string_view resolv_conf) {
  std::vector<std::string> search;
  for (absl::string_view line : absl::StrSplit(resolv_conf, '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty() || (fields[0] != "search" && fields[0] != "domain")) continue;
    // "domain" names one domain; anything after it is ignored.
    if (fields[0] == "domain") fields.resize(std::min<size_t>(fields.size(), 2));
    search.clear();
    for (size_t i = 1; i < fields.size(); ++i) {
      absl::string_view domain = fields[i];
      while (absl::ConsumeSuffix(&domain, ".")) {
      }
      if (!domain.empty()) search.emplace_back(domain);
    }
  }
  return search;
}

std::string WpadFoundBy(const PacLocation& location) {
  const std::string url = UrlWithoutUserInfo(location.url);
  if (absl::EndsWith(location.detail, kDhcpDetailSuffix)) {
    return absl::StrCat("DHCP option 252 ", url);
  }
  // The DNS walk's "http://wpad.<domain>/wpad.dat": the name asked is the
  // URL's host.
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return absl::StrCat("DNS ", url);
  const size_t host_start = scheme_end + 3;
  const size_t host_end = std::min(url.find_first_of(":/?#", host_start), url.size());
  return absl::StrCat("DNS ", url.substr(host_start, host_end - host_start));
}

std::string UrlWithoutUserInfo(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return std::string(url);
  const size_t authority = scheme_end + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at == absl::string_view::npos || at < authority) return std::string(url);
  return absl::StrCat(url.substr(0, authority), url.substr(at + 1));
}

DiscoveryResult WpadSource::Discover() {
  DiscoveryResult result;
  auto read = [&](const std::string& path) -> std::optional<std::string> {
    bool missing = false;
    auto text = ReadBoundedFile(path, kMaxFileBytes, &missing);
    if (!text && !missing) result.warnings.push_back(absl::StrCat(path, ": cannot be read"));
    return text;
  };
  auto add_leases = [&](const std::string& pattern) {
    for (const std::string& path : Glob(pattern)) {
      auto text = read(path);
      if (!text) continue;
      std::vector<std::string> urls = ParseDhcpWpadOption(*text);
      // The latest lease is the likeliest to be the network we are on.
      for (auto url = urls.rbegin(); url != urls.rend(); ++url) {
        result.pac.push_back({*url, v1::PROXY_SOURCE_WPAD, absl::StrCat(path, kDhcpDetailSuffix)});
      }
    }
  };
  for (const std::string& dir : places_.dhclient_dirs) add_leases(dir + "/dhclient*.leases");
  for (const std::string& dir : places_.networkmanager_dirs) add_leases(dir + "/*.lease*");

  std::vector<std::string> search;
  if (!places_.resolv_conf.empty()) {
    if (auto text = read(places_.resolv_conf)) search = ParseResolvConfSearch(*text);
  }
  const std::string host_domain =
      places_.host_domain.has_value() ? *places_.host_domain : HostNameDomain();
  const std::string detail =
      absl::StrCat("DNS walk of ", host_domain.empty() ? "" : "the host domain and ",
                   "the search domains in ", places_.resolv_conf);
  for (std::string& url : WpadDnsCandidates(host_domain, search)) {
    result.pac.push_back({std::move(url), v1::PROXY_SOURCE_WPAD, detail});
  }
  return result;
}

}  // namespace relayscope::agent
