#include "agent/pac/pac_result.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace relayscope::agent {
namespace {

constexpr size_t kMaxEntries = 32;

bool ParseHostPort(absl::string_view text, uint16_t default_port, std::string* host,
                   uint16_t* port) {
  if (text.empty()) return false;
  absl::string_view port_text;
  if (text.front() == '[') {  // [v6]:port
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return false;
    *host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon != absl::string_view::npos && text.find(':') == colon) {
      *host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    } else {
      *host = std::string(text);
    }
  }
  if (host->empty()) return false;
  for (char c : *host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':') return false;
  }
  if (port_text.empty()) {
    *port = default_port;
    return true;
  }
  uint32_t value = 0;
  if (!absl::SimpleAtoi(port_text, &value) || value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

PacResult ParsePacResult(absl::string_view text) {
  PacResult result;
  for (absl::string_view raw : absl::StrSplit(text, ';')) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) continue;
    if (result.routes.size() >= kMaxEntries) {
      result.warnings.push_back(
          absl::StrCat("more than ", kMaxEntries, " entries; the rest ignored"));
      break;
    }
    std::vector<absl::string_view> words =
        absl::StrSplit(entry, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
    const std::string type = absl::AsciiStrToUpper(words[0]);
    PacRoute route;
    route.text = std::string(entry);
    if (type == "DIRECT") {
      if (words.size() != 1) {
        result.warnings.push_back(absl::StrCat("\"", entry, "\": DIRECT takes no address"));
      }
      route.direct = true;
      result.routes.push_back(std::move(route));
      continue;
    }
    uint16_t default_port = 0;
    if (type == "PROXY" || type == "HTTP") {
      route.proxy.kind = v1::ROUTE_KIND_HTTP_CONNECT;
      default_port = 80;
    } else if (type == "HTTPS") {
      route.proxy.kind = v1::ROUTE_KIND_HTTPS_PROXY;
      default_port = 443;
    } else if (type == "SOCKS" || type == "SOCKS4") {
      route.proxy.kind = v1::ROUTE_KIND_SOCKS4;
      default_port = 1080;
    } else if (type == "SOCKS5") {
      route.proxy.kind = v1::ROUTE_KIND_SOCKS5;
      default_port = 1080;
    } else {
      result.warnings.push_back(absl::StrCat("\"", entry, "\": unknown type \"", words[0], "\""));
      continue;
    }
    if (words.size() != 2 ||
        !ParseHostPort(words[1], default_port, &route.proxy.host, &route.proxy.port)) {
      result.warnings.push_back(absl::StrCat("\"", entry, "\": expected ", type, " host:port"));
      continue;
    }
    result.routes.push_back(std::move(route));
  }
  if (result.routes.empty() && result.warnings.empty()) {
    PacRoute direct;
    direct.direct = true;
    direct.text = "DIRECT";
    result.routes.push_back(direct);
  }
  return result;
}

}  // namespace relayscope::agent
