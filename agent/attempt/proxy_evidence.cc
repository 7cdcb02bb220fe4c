#include "agent/attempt/proxy_evidence.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/attempt/reply_classifier.h"

namespace relayscope::agent {
namespace {

bool IsTokenChar(char c) {
  // RFC 9110 tchar.
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

// Splits a header value at the commas that are not inside a quoted string.
std::vector<absl::string_view> SplitOutsideQuotes(absl::string_view value) {
  std::vector<absl::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted && c == '\\') {
      ++i;  // the escaped character, whatever it is
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start <= value.size()) parts.push_back(value.substr(start));
  return parts;
}

// The value of an auth-param: a quoted-string without its quotes and
// escapes, or a token as it is.
std::string ParamValue(absl::string_view raw) {
  raw = absl::StripAsciiWhitespace(raw);
  if (raw.empty() || raw.front() != '"') return std::string(raw);
  std::string out;
  for (size_t i = 1; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '"') break;
    if (c == '\\' && i + 1 < raw.size()) ++i;
    out.push_back(raw[i]);
  }
  return out;
}

}  // namespace

v1::ProxyAuthScheme AuthSchemeNamed(absl::string_view name) {
  if (absl::EqualsIgnoreCase(name, "Basic")) return v1::PROXY_AUTH_SCHEME_BASIC;
  if (absl::EqualsIgnoreCase(name, "Digest")) return v1::PROXY_AUTH_SCHEME_DIGEST;
  if (absl::EqualsIgnoreCase(name, "NTLM")) return v1::PROXY_AUTH_SCHEME_NTLM;
  if (absl::EqualsIgnoreCase(name, "Negotiate")) return v1::PROXY_AUTH_SCHEME_NEGOTIATE;
  return v1::PROXY_AUTH_SCHEME_UNSPECIFIED;
}

void ConnectReplyEvidence::AddHeaderLine(absl::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new reply: what it says replaces what the previous one said.
    reply_.Clear();
    reply_.set_status_line(EscapeEvidence(line, kMaxReplyField));
    return;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return;
  const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
  const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "Server")) {
    reply_.set_server(EscapeEvidence(value, kMaxReplyField));
  } else if (absl::EqualsIgnoreCase(name, "Via")) {
    reply_.set_via(EscapeEvidence(value, kMaxReplyField));
  } else if (absl::EqualsIgnoreCase(name, "Proxy-Authenticate")) {
    AddChallenges(value);
  }
}

// A Proxy-Authenticate value holds one or more challenges, separated by
// commas that also separate each challenge's parameters (RFC 9110 §11.6.1):
// `Basic realm="corp", NTLM`. An element that starts with a token followed
// by a space or nothing (not "=") starts a challenge; the rest are
// parameters of the current one.
void ConnectReplyEvidence::AddChallenges(absl::string_view value) {
  v1::ProxyAuthScheme current = v1::PROXY_AUTH_SCHEME_UNSPECIFIED;
  for (absl::string_view element : SplitOutsideQuotes(value)) {
    element = absl::StripAsciiWhitespace(element);
    if (element.empty()) continue;
    size_t token_end = 0;
    while (token_end < element.size() && IsTokenChar(element[token_end])) ++token_end;
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(element.substr(token_end));
    absl::string_view param = element;
    if (token_end > 0 && (rest.empty() || rest.front() != '=')) {
      current = AuthSchemeNamed(element.substr(0, token_end));
      Offer(current);
      param = rest;  // "Basic realm=..." carries its first parameter
    }
    if (current != v1::PROXY_AUTH_SCHEME_BASIC && current != v1::PROXY_AUTH_SCHEME_DIGEST) {
      continue;
    }
    const size_t equals = param.find('=');
    if (equals == absl::string_view::npos || !auth_.realm().empty()) continue;
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(param.substr(0, equals)), "realm")) {
      auth_.set_realm(EscapeEvidence(ParamValue(param.substr(equals + 1)), kMaxRealm));
    }
  }
}

void ConnectReplyEvidence::Offer(v1::ProxyAuthScheme scheme) {
  if (scheme == v1::PROXY_AUTH_SCHEME_UNSPECIFIED) return;
  const auto& offered = auth_.offered();
  if (std::find(offered.begin(), offered.end(), scheme) != offered.end()) return;
  auth_.add_offered(scheme);
}

std::string SocksReplyMeaning(int version, int code) {
  const char* meaning = "unassigned";
  if (version == 5) {
    switch (code) {
      case 0:
        meaning = "succeeded";
        break;
      case 1:
        meaning = "general SOCKS server failure";
        break;
      case 2:
        meaning = "connection not allowed by ruleset";
        break;
      case 3:
        meaning = "network unreachable (from the proxy)";
        break;
      case 4:
        meaning = "host unreachable (from the proxy)";
        break;
      case 5:
        meaning = "connection refused (by the relay, to the proxy)";
        break;
      case 6:
        meaning = "TTL expired";
        break;
      case 7:
        meaning = "command not supported";
        break;
      case 8:
        meaning = "address type not supported";
        break;
      default:
        break;
    }
  } else if (version == 4) {
    switch (code) {
      case 90:
        meaning = "request granted";
        break;
      case 91:
        meaning = "request rejected or failed";
        break;
      case 92:
        meaning = "request rejected: the proxy cannot reach identd on this machine";
        break;
      case 93:
        meaning = "request rejected: identd reports a different user";
        break;
      default:
        break;
    }
  }
  return absl::StrCat("SOCKS", version, " reply ", code, ": ", meaning);
}

}  // namespace relayscope::agent
