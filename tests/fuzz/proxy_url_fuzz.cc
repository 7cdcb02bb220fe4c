// Proxy URLs as users write them (flags, environment, manual file).
// Invariants: a parsed URL round-trips through its canonical form, its host
// is plain, and no error message ever shows the password.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/proxy/proxy_url.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using relayscope::agent::ProxyUrl;
namespace v1 = relayscope::v1;

std::string PercentEncode(const std::string& in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Whether ParseProxyUrl's percent-decoding accepts `text`.
bool DecodesCleanly(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 2 >= text.size() || !absl::ascii_isxdigit(text[i + 1]) ||
        !absl::ascii_isxdigit(text[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

std::string Canonical(const ProxyUrl& url) {
  std::string scheme;
  switch (url.kind) {
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
      scheme = url.remote_dns ? "socks5h" : "socks5";
      break;
    default:
      scheme = "http";
      break;
  }
  std::string user_info;
  if (!url.username.empty() || !url.password.empty()) {
    user_info = absl::StrCat(PercentEncode(url.username), ":", PercentEncode(url.password), "@");
  }
  const std::string host =
      url.host.find(':') != std::string::npos ? absl::StrCat("[", url.host, "]") : url.host;
  return absl::StrCat(scheme, "://", user_info, host, ":", url.port);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const auto url = relayscope::agent::ParseProxyUrl(text);
  if (!url.ok()) {
    FUZZ_CHECK(url.status().code() == absl::StatusCode::kInvalidArgument);
    // The password as written: between the first ':' of the user-info and
    // the last '@'. An error may name the host or port, never it: the
    // message must read the same with another password in its place (one
    // that percent-decodes, or fails to, like the original).
    absl::string_view rest = text;
    if (const size_t sep = rest.find("://"); sep != absl::string_view::npos) {
      rest.remove_prefix(sep + 3);
    }
    if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
      const absl::string_view user_info = rest.substr(0, at);
      // (Only a password that is there: whether there is one at all may
      // change the message, e.g. "a password without a user name".)
      if (const size_t colon = user_info.find(':');
          colon != absl::string_view::npos && colon + 1 < user_info.size()) {
        const size_t begin = static_cast<size_t>(user_info.data() - text.data()) + colon + 1;
        const absl::string_view password = user_info.substr(colon + 1);
        const std::string stand_in = DecodesCleanly(password) ? "x" : "%";
        const std::string other =
            absl::StrCat(text.substr(0, begin), stand_in, text.substr(begin + password.size()));
        const auto again = relayscope::agent::ParseProxyUrl(other);
        FUZZ_CHECK(!again.ok());
        FUZZ_CHECK(again.status().message() == url.status().message());
      }
    }
    return 0;
  }
  FUZZ_CHECK(relayscope::fuzz::IsPlainHost(url->host));
  FUZZ_CHECK(url->port != 0);
  // Redacted() never shows the password: it reads the same whatever the
  // password is, as long as there is one.
  ProxyUrl other = *url;
  other.password = url->password.empty() ? "" : "x";
  FUZZ_CHECK(other.Redacted() == url->Redacted());
  const auto again = relayscope::agent::ParseProxyUrl(Canonical(*url));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->kind == url->kind);
  FUZZ_CHECK(again->host == url->host);
  FUZZ_CHECK(again->port == url->port);
  FUZZ_CHECK(again->username == url->username);
  FUZZ_CHECK(again->password == url->password);
  FUZZ_CHECK(again->remote_dns == url->remote_dns);
  return 0;
}
