#include "agent/proxy/proxy_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace relayscope::agent {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || HexValue(in[i + 1]) < 0 || HexValue(in[i + 2]) < 0) {
      return absl::InvalidArgumentError("bad percent-escape in user-info");
    }
    out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
    i += 2;
  }
  return out;
}

}  // namespace

ProxyUrl ProxyUrl::Direct() {
  ProxyUrl url;
  url.kind = v1::ROUTE_KIND_DIRECT;
  return url;
}

v1::Proxy ToProxyProto(const ProxyUrl& url, v1::ProxySource source, std::string source_detail) {
  v1::Proxy proxy;
  proxy.set_kind(url.kind);
  if (url.direct()) return proxy;
  proxy.set_host(url.host);
  proxy.set_port(url.port);
  proxy.set_source(source);
  proxy.set_source_detail(std::move(source_detail));
  proxy.set_has_credentials(!url.username.empty());
  return proxy;
}

std::string ProxyUrl::Redacted() const {
  std::string scheme;
  switch (kind) {
    case v1::ROUTE_KIND_HTTPS_PROXY:
      scheme = "https";
      break;
    case v1::ROUTE_KIND_SOCKS4:
      scheme = "socks4";
      break;
    case v1::ROUTE_KIND_SOCKS4A:
      scheme = "socks4a";
      break;
    case v1::ROUTE_KIND_SOCKS5:
      scheme = remote_dns ? "socks5h" : "socks5";
      break;
    default:
      scheme = "http";
      break;
  }
  const std::string user_info =
      username.empty() ? "" : absl::StrCat(username, password.empty() ? "" : ":****", "@");
  const std::string shown_host =
      host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(scheme, "://", user_info, shown_host, ":", port);
}

absl::StatusOr<ProxyUrl> ParseProxyUrl(absl::string_view text) {
  ProxyUrl url;
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  if (rest.empty()) return absl::InvalidArgumentError("empty proxy URL");
  std::string scheme = "http";
  if (size_t sep = rest.find("://"); sep != absl::string_view::npos) {
    scheme = absl::AsciiStrToLower(rest.substr(0, sep));
    rest.remove_prefix(sep + 3);
  }
  uint32_t default_port = 1080;
  if (scheme == "http") {
    url.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  } else if (scheme == "https") {
    url.kind = v1::ROUTE_KIND_HTTPS_PROXY;
    default_port = 443;
  } else if (scheme == "socks4") {
    url.kind = v1::ROUTE_KIND_SOCKS4;
  } else if (scheme == "socks4a") {
    url.kind = v1::ROUTE_KIND_SOCKS4A;
    url.remote_dns = true;
  } else if (scheme == "socks5" || scheme == "socks") {
    url.kind = v1::ROUTE_KIND_SOCKS5;
  } else if (scheme == "socks5h") {
    url.kind = v1::ROUTE_KIND_SOCKS5;
    url.remote_dns = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown proxy scheme \"", scheme, "\""));
  }
  // User-info first, up to the last '@': people write passwords with '/'
  // or '@' unencoded, and a password must never be mistaken for a host or
  // port (it would end up in an error message).
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    absl::string_view user_info = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const size_t colon = user_info.find(':');
    auto user = PercentDecode(user_info.substr(0, colon));
    if (!user.ok()) return absl::InvalidArgumentError("malformed user name (not shown)");
    url.username = *user;
    if (colon != absl::string_view::npos) {
      auto password = PercentDecode(user_info.substr(colon + 1));
      if (!password.ok()) return absl::InvalidArgumentError("malformed password (not shown)");
      url.password = *password;
    }
    // Nothing can send a password without a user name (SOCKS5 needs one,
    // and every credential check keys on it): dropping the password here
    // would make the proxy's 407 look like a missing password.
    if (url.username.empty() && !url.password.empty()) {
      return absl::InvalidArgumentError(
          "a proxy password without a user name (not shown): write user:password@host");
    }
  }
  // A trailing path ("http://proxy:3128/") is allowed and ignored.
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) rest = rest.substr(0, slash);
  absl::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unterminated [IPv6] address");
    }
    url.host = std::string(rest.substr(1, close - 1));
    absl::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("expected :port after ]");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon != absl::string_view::npos && rest.find(':') != colon) {
      return absl::InvalidArgumentError("an IPv6 proxy address must be in [brackets]");
    }
    url.host = std::string(rest.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (url.host.empty()) return absl::InvalidArgumentError("proxy URL has no host");
  for (char c : url.host) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid character in proxy host \"", url.host, "\""));
    }
  }
  uint32_t port = default_port;
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("port \"", port_text, "\" out of range"));
  }
  url.port = static_cast<uint16_t>(port);
  return url;
}

}  // namespace relayscope::agent
