#include "agent/report/verdict.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "agent/proxy/proxy_url.h"
#include "common/catalogue.h"
#include "common/host_port.h"
#include "google/protobuf/util/time_util.h"

namespace relayscope::agent {
namespace {

using google::protobuf::util::TimeUtil;

// The flags advice names, spelled as the user types them.
constexpr char kProxyUserFlag[] = "--proxy-user";
constexpr char kProxyCaFlag[] = "--proxy-ca";
constexpr char kProxyFlag[] = "--proxy";

// The collector refuses a verdict whose texts exceed these (telemetry.proto
// bounds every evidence string, but a sentence quotes several).
constexpr size_t kMaxSentence = 1024;
constexpr size_t kMaxSummary = 2048;

// `text` cut to at most `max` bytes, at a UTF-8 character boundary, with
// "..." when cut.
std::string Bounded(std::string text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

int64_t Millis(const google::protobuf::Duration& d) { return TimeUtil::DurationToMilliseconds(d); }

std::string Plural(size_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

std::string SourceName(v1::ProxySource source) {
  std::string name = v1::ProxySource_Name(source);
  absl::StrReplaceAll({{"PROXY_SOURCE_", ""}}, &name);
  return absl::AsciiStrToLower(name);
}

bool Proxied(const v1::Attempt& a) {
  return a.route_kind() != v1::ROUTE_KIND_DIRECT && a.route_kind() != v1::ROUTE_KIND_UNSPECIFIED;
}

std::string ProxyHostPort(const v1::Attempt& a) {
  return Proxied(a) && a.has_proxy() ? HostPort(a.proxy().host(), a.proxy().port()) : "";
}

std::string Target(const v1::Attempt& a) { return HostPort(a.address(), a.port()); }

// Where a proxy's setting lives, for "remove it from ...".
std::string SettingOf(const v1::Proxy& proxy) {
  const std::string& detail = proxy.source_detail();
  const std::string in = detail.empty() ? "" : absl::StrCat(" (", detail, ")");
  switch (proxy.source()) {
    case v1::PROXY_SOURCE_PAC:
      return detail.empty() ? "the PAC file" : absl::StrCat("the PAC file ", detail);
    case v1::PROXY_SOURCE_WPAD:
      return absl::StrCat("the PAC file that WPAD finds", in);
    case v1::PROXY_SOURCE_ENV:
      return detail.empty() ? "the proxy environment variables"
                            : absl::StrCat("the environment variable ", detail);
    case v1::PROXY_SOURCE_FIREFOX:
      return absl::StrCat("Firefox's connection settings", in);
    case v1::PROXY_SOURCE_WINDOWS:
      return absl::StrCat("the Windows proxy settings", in);
    case v1::PROXY_SOURCE_GNOME:
      return absl::StrCat("the GNOME proxy settings", in);
    case v1::PROXY_SOURCE_KDE:
      return absl::StrCat("the KDE proxy settings", in);
    case v1::PROXY_SOURCE_MACOS:
      return absl::StrCat("the macOS network proxy settings", in);
    case v1::PROXY_SOURCE_MANUAL_FILE:
      return detail.empty() ? "the manual proxy file" : absl::StrCat("the proxy file ", detail);
    case v1::PROXY_SOURCE_FLAG:
      return absl::StrCat("the ", kProxyFlag, " option");
    default:
      return "the settings it came from";
  }
}

// The proxy's own words: "HTTP/1.1 403 Forbidden, Server: squid/5.7".
std::string ProxyWords(const v1::Attempt& a) {
  std::vector<std::string> words;
  const v1::ProxyReply& reply = a.proxy_reply();
  if (!reply.socks_reply().empty()) {
    words.push_back(reply.socks_reply());
  } else if (!reply.status_line().empty()) {
    words.push_back(reply.status_line());
  } else if (a.proxy_status() != 0 && !IsSocks(a.route_kind())) {
    words.push_back(absl::StrCat("HTTP ", a.proxy_status()));
  }
  if (!reply.server().empty()) words.push_back(absl::StrCat("Server: ", reply.server()));
  if (!reply.via().empty()) words.push_back(absl::StrCat("Via: ", reply.via()));
  return absl::StrJoin(words, ", ");
}

std::string InterferenceWords(const v1::Attempt& a) {
  const v1::InterferenceEvidence& e = a.interference();
  std::string what = e.status_line();
  if (!e.page_title().empty()) absl::StrAppend(&what, " \"", e.page_title(), "\"");
  if (what.empty()) what = e.excerpt();
  if (!e.server().empty()) absl::StrAppend(&what, what.empty() ? "" : ", ", "Server: ", e.server());
  return what;
}

std::vector<v1::ProxyAuthScheme> Offered(const v1::Attempt& a) {
  std::vector<v1::ProxyAuthScheme> out;
  for (int s : a.proxy_auth().offered()) out.push_back(static_cast<v1::ProxyAuthScheme>(s));
  return out;
}

std::string OfferedWords(const std::vector<v1::ProxyAuthScheme>& offered) {
  std::vector<std::string> names;
  for (v1::ProxyAuthScheme s : offered) names.push_back(DescribeAuthScheme(s));
  return absl::StrJoin(names, ", ");
}

bool OnlyWindowsSchemes(const std::vector<v1::ProxyAuthScheme>& offered) {
  if (offered.empty()) return false;
  return std::all_of(offered.begin(), offered.end(), [](v1::ProxyAuthScheme s) {
    return s == v1::PROXY_AUTH_SCHEME_NTLM || s == v1::PROXY_AUTH_SCHEME_NEGOTIATE;
  });
}

enum class Reply { kNone, kRangeError, kMacError, kCut };
Reply InvalidReplyKind(const v1::Attempt& a) {
  if (a.outcome() != v1::OUTCOME_HANDSHAKE_INVALID) return Reply::kNone;
  if (absl::StartsWith(a.detail(), "R2 ")) return Reply::kRangeError;
  if (absl::StrContains(a.detail(), "key confirmation")) return Reply::kMacError;
  return Reply::kCut;
}

bool IsUpstreamStatus(uint32_t status) { return status == 502 || status == 503 || status == 504; }

// SOCKS reply codes that mean "the proxy could not reach the destination".
bool IsSocksUpstream(uint32_t code) { return code == 3 || code == 4 || code == 5 || code == 6; }

// What the verdict knows beyond one attempt when it attributes it.
struct SessionFacts {
  // (relay, port) pairs whose DIRECT attempt stalled after connecting.
  std::set<std::pair<std::string, uint32_t>> direct_stalls;
  // Relays reached over DIRECT.
  std::set<std::string> direct_ok;
  // Whether any route went through a proxy.
  bool has_proxy = false;
};

struct Attribution {
  v1::CauseKind kind = v1::CAUSE_KIND_UNSPECIFIED;
  v1::Hop hop = v1::HOP_UNSPECIFIED;
};

Attribution Attribute(const v1::Attempt& a, const SessionFacts& facts) {
  const bool proxied = Proxied(a);
  const v1::Outcome o = a.outcome();
  const v1::Phase phase = a.failed_phase();
  // Download checks: what TLS with the service found. Through a proxy the
  // proxy is the first suspect (an inspecting proxy re-signs or filters).
  switch (o) {
    case v1::OUTCOME_TLS_INTERCEPTED:
      return {v1::CAUSE_KIND_TLS_INTERCEPTED, proxied ? v1::HOP_PROXY : v1::HOP_NETWORK};
    case v1::OUTCOME_SNI_FILTERED:
      return {v1::CAUSE_KIND_SNI_FILTERED, proxied ? v1::HOP_PROXY : v1::HOP_NETWORK};
    case v1::OUTCOME_TLS_REFUSED:
      return {v1::CAUSE_KIND_TLS_REFUSED, v1::HOP_RELAY};
    case v1::OUTCOME_TLS_FAILURE:
      if (phase == v1::PHASE_SERVER_TLS) return {v1::CAUSE_KIND_INVALID_REPLY, v1::HOP_RELAY};
      break;
    default:
      break;
  }
  if (!proxied) {
    switch (o) {
      case v1::OUTCOME_DNS_FAILURE:
        return {v1::CAUSE_KIND_DNS_FAILURE, v1::HOP_LOCAL};
      case v1::OUTCOME_CONNECT_TIMEOUT:
        return {v1::CAUSE_KIND_FIREWALL_DROP, v1::HOP_NETWORK};
      case v1::OUTCOME_CONNECTION_REFUSED:
      case v1::OUTCOME_CONNECTION_RESET:
        return {v1::CAUSE_KIND_FIREWALL_REJECT, v1::HOP_NETWORK};
      case v1::OUTCOME_HOST_UNREACHABLE:
      case v1::OUTCOME_NETWORK_UNREACHABLE:
        return {v1::CAUSE_KIND_NO_ROUTE, v1::HOP_LOCAL};
      case v1::OUTCOME_PROTOCOL_INTERFERENCE:
        return {v1::CAUSE_KIND_INTERCEPTED, v1::HOP_NETWORK};
      case v1::OUTCOME_HANDSHAKE_TIMEOUT:
        return {v1::CAUSE_KIND_PATH_STALLED, v1::HOP_NETWORK};
      case v1::OUTCOME_HANDSHAKE_INVALID:
        return InvalidReplyKind(a) == Reply::kCut
                   ? Attribution{v1::CAUSE_KIND_PATH_STALLED, v1::HOP_NETWORK}
                   : Attribution{v1::CAUSE_KIND_INVALID_REPLY, v1::HOP_RELAY};
      default:
        // A proxy outcome on a DIRECT route cannot happen; keep it visible.
        return {v1::CAUSE_KIND_FIREWALL_REJECT, v1::HOP_NETWORK};
    }
  }
  // Through a proxy: up to the end of the TCP connect, the proxy is the hop.
  const bool reaching_proxy = phase == v1::PHASE_DNS || phase == v1::PHASE_TCP_CONNECT;
  switch (o) {
    case v1::OUTCOME_DNS_FAILURE:
      return phase == v1::PHASE_PROXY_NEGOTIATION
                 ? Attribution{v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED, v1::HOP_RELAY}
                 : Attribution{v1::CAUSE_KIND_PROXY_UNREACHABLE, v1::HOP_PROXY};
    case v1::OUTCOME_CONNECT_TIMEOUT:
    case v1::OUTCOME_CONNECTION_REFUSED:
    case v1::OUTCOME_CONNECTION_RESET:
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
      if (reaching_proxy) return {v1::CAUSE_KIND_PROXY_UNREACHABLE, v1::HOP_PROXY};
      if (phase == v1::PHASE_TLS) return {v1::CAUSE_KIND_PROXY_TLS_FAILED, v1::HOP_PROXY};
      if (IsSocks(a.route_kind()) && IsSocksUpstream(a.proxy_status())) {
        return {v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED, v1::HOP_RELAY};
      }
      // Connected to the proxy, which then never answered or broke off.
      return {v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY};
    case v1::OUTCOME_PROXY_ERROR: {
      const uint32_t status = a.proxy_status();
      if (IsSocks(a.route_kind())) {
        if (IsSocksUpstream(status)) return {v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED, v1::HOP_RELAY};
        if (status == 2 || status == 91) return {v1::CAUSE_KIND_PROXY_DENIED, v1::HOP_PROXY};
        return {v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY};
      }
      if (IsUpstreamStatus(status)) return {v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED, v1::HOP_RELAY};
      if (status == 0) return {v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY};
      return {v1::CAUSE_KIND_PROXY_DENIED, v1::HOP_PROXY};
    }
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
      return {v1::CAUSE_KIND_PROXY_AUTH_REQUIRED, v1::HOP_PROXY};
    case v1::OUTCOME_PROXY_AUTH_FAILED:
      return {v1::CAUSE_KIND_PROXY_AUTH_REJECTED, v1::HOP_PROXY};
    case v1::OUTCOME_TLS_FAILURE:
      if (a.has_proxy_certificate() && !a.proxy_certificate().trusted() &&
          (!a.proxy_certificate().issuer().empty() || !a.proxy_certificate().subject().empty())) {
        return {v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED, v1::HOP_PROXY};
      }
      return {v1::CAUSE_KIND_PROXY_TLS_FAILED, v1::HOP_PROXY};
    case v1::OUTCOME_PROTOCOL_INTERFERENCE:
      return {v1::CAUSE_KIND_INTERCEPTED, v1::HOP_PROXY};
    case v1::OUTCOME_HANDSHAKE_TIMEOUT:
      // The relay stalls over DIRECT too: it is the relay or its path.
      if (facts.direct_stalls.count({a.relay(), a.port()}) > 0) {
        return {v1::CAUSE_KIND_PATH_STALLED, v1::HOP_RELAY};
      }
      return {v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY};
    case v1::OUTCOME_HANDSHAKE_INVALID:
      return InvalidReplyKind(a) == Reply::kCut
                 ? Attribution{v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY}
                 : Attribution{v1::CAUSE_KIND_INVALID_REPLY, v1::HOP_RELAY};
    default:
      return {v1::CAUSE_KIND_PROXY_BROKEN, v1::HOP_PROXY};
  }
}

// Causes about the proxy as a whole (every port through it fails alike).
bool ProxyWide(v1::CauseKind kind) {
  switch (kind) {
    case v1::CAUSE_KIND_PROXY_UNREACHABLE:
    case v1::CAUSE_KIND_PROXY_AUTH_REQUIRED:
    case v1::CAUSE_KIND_PROXY_AUTH_REJECTED:
    case v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED:
    case v1::CAUSE_KIND_PROXY_TLS_FAILED:
      return true;
    default:
      return false;
  }
}

bool DnsProblem(const v1::DnsEvidence& dns) {
  return dns.status() == v1::DnsEvidence::STATUS_FAILED ||
         dns.status() == v1::DnsEvidence::STATUS_UNEXPECTED ||
         dns.status() == v1::DnsEvidence::STATUS_SINKHOLE;
}

// A route: one relay address and port over one route. The unit that works
// or fails; retries fold into it.
using RouteKey = std::tuple<std::string, std::string, uint32_t, int, std::string>;
RouteKey RouteOf(const v1::Attempt& a) {
  return {a.relay(), a.address(), a.port(), a.route_kind(), ProxyHostPort(a)};
}

// The routes of a session, each judged by its last attempt.
struct Folded {
  const v1::Attempt* last = nullptr;
  // The 407 that led to the retry, when there was one.
  const v1::Attempt* challenge = nullptr;
};

// One cause being gathered.
struct Group {
  Attribution at;
  std::vector<const v1::Attempt*> attempts;
  std::set<std::string> relays, regions, addresses;
  std::set<uint32_t> ports;
  std::set<RouteKey> routes;
  const v1::Attempt* challenge = nullptr;  // of the first attempt, if any
};

std::string AuthDetail(const v1::Attempt& a, const v1::Attempt* challenge) {
  std::vector<v1::ProxyAuthScheme> offered = Offered(a);
  std::string realm = a.proxy_auth().realm();
  if (offered.empty() && challenge != nullptr) offered = Offered(*challenge);
  if (realm.empty() && challenge != nullptr) realm = challenge->proxy_auth().realm();
  std::string out;
  if (!offered.empty()) out = absl::StrCat("it offers ", OfferedWords(offered));
  if (!realm.empty()) absl::StrAppend(&out, out.empty() ? "" : ", ", "realm \"", realm, "\"");
  return out;
}

// The relay addresses and port a cause hit: "192.0.2.1:8200", "port 8200 of
// the relay addresses (192.0.2.1, 192.0.2.2)" when it hit every relay tried.
std::string TargetsOf(const Group& g, const v1::Attempt& a, bool everywhere) {
  if (g.addresses.size() <= 1 || g.ports.size() != 1) return Target(a);
  if (everywhere) {
    return absl::StrCat("port ", a.port(), " of the relay addresses (",
                        absl::StrJoin(g.addresses, ", "), ")");
  }
  std::vector<std::string> each;
  for (const std::string& address : g.addresses) each.push_back(HostPort(address, a.port()));
  return absl::StrJoin(each, ", ");
}

// "Ask the network administrator to allow outbound TCP ..." for the
// addresses and port a firewall cause hit.
std::string AllowOutbound(const Group& g, const v1::Attempt& a, bool everywhere) {
  if (g.addresses.size() > 1 && g.ports.size() == 1) {
    return absl::StrCat("Ask the network administrator to allow outbound TCP port ", a.port(),
                        everywhere ? " to the relay addresses (" : " to ",
                        absl::StrJoin(g.addresses, ", "), everywhere ? ")." : ".");
  }
  return absl::StrCat("Ask the network administrator to allow outbound TCP to ", Target(a), ".");
}

struct Text {
  std::string explanation;
  std::string advice;
};

// The download check's own causes, naming the certificate, the name sent
// and the alert.
Text ExplainTls(v1::CauseKind kind, const v1::Attempt& a, const std::string& targets,
                const std::string& route) {
  const v1::TlsEvidence& tls = a.tls();
  const std::string host = tls.sni().empty() ? a.address() : tls.sni();
  const bool proxied = Proxied(a);
  const std::string through = proxied ? absl::StrCat(" through the ", route) : "";
  switch (kind) {
    case v1::CAUSE_KIND_TLS_INTERCEPTED: {
      const v1::CertificateEvidence& cert = tls.certificate();
      const std::string issuer = cert.issuer().empty() ? cert.subject() : cert.issuer();
      if (tls.pin_matched() && !tls.name_matched()) {
        return {absl::StrCat("The server at ", targets, through,
                             " presents a certificate without the name ", host, " (for '",
                             cert.subject(), "', issued by '", issuer, "')."),
                absl::StrCat("Check that ", targets, " is the address of ", host,
                             "; report the certificate to the service operator.")};
      }
      std::string explanation =
          absl::StrCat("TLS to ", targets, " (", host, ")", through,
                       " is intercepted: the certificate is issued by '", issuer, "'");
      if (!cert.subject().empty() && cert.subject() != issuer) {
        absl::StrAppend(&explanation, " for '", cert.subject(), "'");
      }
      absl::StrAppend(&explanation, ", not the genuine server's, ");
      if (cert.trusted()) {
        absl::StrAppend(
            &explanation, "and this machine trusts it: a corporate TLS inspection device",
            proxied ? " (the proxy itself, most likely)" : "", " re-signs the connection.");
      } else {
        absl::StrAppend(
            &explanation, "and this machine does not trust it",
            cert.verify_error().empty() ? "" : absl::StrCat(" (", cert.verify_error(), ")"),
            ": something in the path re-signs the connection.");
      }
      return {explanation,
              absl::StrCat("Ask the ", proxied ? "proxy" : "network",
                           " administrator for a TLS-inspection exemption for ", host, " (port ",
                           a.port(), "): the download must see the genuine certificate.")};
    }
    case v1::CAUSE_KIND_SNI_FILTERED: {
      const bool silent = a.os_error_name() == "ETIMEDOUT";
      return {
          absl::StrCat("TLS to ", targets, through, " is ", silent ? "dropped" : "cut",
                       " when the ClientHello names ", host, ", while one naming another server (",
                       tls.control().sni(), ") is answered: ",
                       proxied ? "the proxy or a firewall behind it" : "a firewall",
                       " filters TLS by server name (SNI)."),
          absl::StrCat("Ask the ", proxied ? "proxy" : "network", " administrator to allow TLS to ",
                       host, " (server name ", host, ") on port ", a.port(), ".")};
    }
    default: {
      const std::string alert =
          tls.alert().empty() ? "" : absl::StrCat(" (alert '", tls.alert(), "')");
      return {absl::StrCat(targets, through, " refuses the TLS handshake", alert,
                           ": it accepts none of the TLS versions or ciphers a browser offers "
                           "(TLS 1.2 and 1.3)."),
              absl::StrCat("Ask the operator of ", host, " (or of the device answering at ",
                           targets, ") to accept TLS 1.2 or 1.3.")};
    }
  }
}

Text Explain(const Group& g, bool everywhere, const SessionFacts& facts) {
  const v1::Attempt& a = *g.attempts.front();
  const std::string route = DescribeRoute(a);
  const std::string target = Target(a);
  const std::string targets = TargetsOf(g, a, everywhere);
  const std::string words = ProxyWords(a);
  const std::string said = words.empty() ? "" : absl::StrCat(" (", words, ")");
  const int64_t ms = Millis(a.total_duration());
  const std::string setting = a.has_proxy() ? SettingOf(a.proxy()) : "";
  const bool relays_work_direct =
      std::all_of(g.relays.begin(), g.relays.end(),
                  [&](const std::string& r) { return facts.direct_ok.count(r) > 0; });
  const std::string without =
      relays_work_direct ? " The relays can be reached without it (DIRECT works)." : "";
  const std::string proxy_name = absl::StrCat("The ", route);
  switch (g.at.kind) {
    case v1::CAUSE_KIND_PROXY_UNREACHABLE: {
      std::string how;
      switch (a.outcome()) {
        case v1::OUTCOME_DNS_FAILURE:
          how = absl::StrCat(": its name ", a.proxy().host(), " does not resolve on this machine");
          break;
        case v1::OUTCOME_CONNECT_TIMEOUT:
          how = absl::StrCat(" does not answer: no reply to the TCP connection within ", ms, " ms");
          break;
        case v1::OUTCOME_CONNECTION_REFUSED:
          how = absl::StrCat(" refuses the TCP connection: nothing listens on port ",
                             a.proxy().port(), ", or a firewall rejects it");
          break;
        case v1::OUTCOME_CONNECTION_RESET:
          how = " resets the TCP connection";
          break;
        default:
          how = ": there is no route to it from this machine";
          break;
      }
      return {absl::StrCat(proxy_name, how, "."),
              absl::StrCat("Check that the proxy ", ProxyHostPort(a),
                           " is in service and reachable from this machine; if it is no longer "
                           "used, remove it from ",
                           setting, ".", without)};
    }
    case v1::CAUSE_KIND_PROXY_AUTH_REQUIRED: {
      const std::vector<v1::ProxyAuthScheme> offered = Offered(a);
      const std::string detail = AuthDetail(a, g.challenge);
      std::string explanation = absl::StrCat(
          proxy_name, " requires authentication (",
          IsSocks(a.route_kind()) ? "SOCKS5 user/password" : "407",
          detail.empty() ? "" : absl::StrCat("; ", detail), ") and no credentials were given.");
      if (OnlyWindowsSchemes(offered)) {
        return {explanation,
                absl::StrCat("This proxy takes a Windows domain account (NTLM or Negotiate): give "
                             "it with ",
                             kProxyUserFlag,
                             " DOMAIN\\user (the password is asked for, never shown).")};
      }
      return {explanation, absl::StrCat("Give the proxy user name with ", kProxyUserFlag,
                                        " (the password is asked for, never shown).")};
    }
    case v1::CAUSE_KIND_PROXY_AUTH_REJECTED: {
      std::string used;
      if (a.proxy_auth().used() != v1::PROXY_AUTH_SCHEME_UNSPECIFIED) {
        used = absl::StrCat(" sent with ", DescribeAuthScheme(a.proxy_auth().used()));
      }
      const std::string detail = AuthDetail(a, g.challenge);
      const bool windows = OnlyWindowsSchemes(Offered(a)) ||
                           a.proxy_auth().used() == v1::PROXY_AUTH_SCHEME_NTLM ||
                           a.proxy_auth().used() == v1::PROXY_AUTH_SCHEME_NEGOTIATE;
      return {absl::StrCat(proxy_name, " rejected the credentials", used,
                           detail.empty() ? "" : absl::StrCat(" (", detail, ")"), "."),
              absl::StrCat("Check the user name and password given with ", kProxyUserFlag,
                           windows ? " (a Windows domain account, as DOMAIN\\user)" : "",
                           "; the account may be locked or not allowed to use this proxy.")};
    }
    case v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED: {
      const v1::CertificateEvidence& cert = a.proxy_certificate();
      const std::string issuer = cert.issuer().empty() ? cert.subject() : cert.issuer();
      std::string explanation =
          absl::StrCat(proxy_name, " presents a certificate issued by '", issuer, "'");
      if (!cert.subject().empty() && cert.subject() != issuer) {
        absl::StrAppend(&explanation, " for '", cert.subject(), "'");
      }
      absl::StrAppend(&explanation, ", which ",
                      cert.custom_ca()
                          ? absl::StrCat("the CA file given with ", kProxyCaFlag, " does not trust")
                          : "this machine does not trust");
      if (!cert.verify_error().empty())
        absl::StrAppend(&explanation, " (", cert.verify_error(), ")");
      absl::StrAppend(&explanation, ".");
      return {explanation,
              absl::StrCat("If '", issuer,
                           "' is your organisation's TLS-inspection CA, give its certificate with ",
                           kProxyCaFlag,
                           " FILE (or add it to this machine's trusted roots); otherwise do not "
                           "use this proxy: something intercepts the connection to it.")};
    }
    case v1::CAUSE_KIND_PROXY_TLS_FAILED:
      return {absl::StrCat("TLS with the ", route, " failed: ", a.detail(), "."),
              absl::StrCat("Ask the proxy administrator to check the proxy's TLS setup; if it "
                           "speaks plain HTTP, configure it as http:// rather than https:// in ",
                           setting, ".")};
    case v1::CAUSE_KIND_PROXY_DENIED: {
      const uint32_t s = a.proxy_status();
      if (!IsSocks(a.route_kind()) && (s == 301 || s == 302 || s == 303 || s == 307 || s == 308)) {
        return {absl::StrCat(proxy_name, " redirects CONNECT to port ", a.port(), said,
                             ", which usually means a policy page or captive portal."),
                absl::StrCat("Ask the proxy administrator to allow CONNECT to ", targets, ".")};
      }
      if (IsSocks(a.route_kind())) {
        return {absl::StrCat(proxy_name, " refuses the connection to ", targets, said, "."),
                absl::StrCat("Ask the proxy administrator to allow connections to ", targets,
                             " through this proxy.")};
      }
      return {absl::StrCat(proxy_name, " refuses CONNECT to ", targets, said, "."),
              absl::StrCat("Ask the proxy administrator to allow CONNECT to ", targets, ".")};
    }
    case v1::CAUSE_KIND_PROXY_UPSTREAM_FAILED:
      return {absl::StrCat(proxy_name, " cannot reach ", targets, " itself", said, "."),
              absl::StrCat("Ask the proxy administrator to let the proxy reach ", targets,
                           " (the proxy's own outbound firewall), or use another route.")};
    case v1::CAUSE_KIND_PROXY_BROKEN: {
      if (a.outcome() == v1::OUTCOME_HANDSHAKE_TIMEOUT ||
          a.outcome() == v1::OUTCOME_HANDSHAKE_INVALID) {
        const std::string opened = IsSocks(a.route_kind())
                                       ? "opened the tunnel"
                                       : absl::StrCat("accepted CONNECT to ", targets,
                                                      said.empty() ? " (HTTP 200)" : said);
        const std::string after = a.outcome() == v1::OUTCOME_HANDSHAKE_TIMEOUT
                                      ? absl::StrCat(" but relayed nothing back within ", ms,
                                                     " ms: the proxy holds or inspects the "
                                                     "traffic.")
                                      : absl::StrCat(
                                            " but closed the tunnel before the relay's "
                                            "reply came through (",
                                            a.detail(), ").");
        return {absl::StrCat(proxy_name, " ", opened, after),
                absl::StrCat("Ask the proxy administrator to let tunnels to ", targets,
                             " pass unmodified (no inspection), or remove the proxy from ", setting,
                             ".", without)};
      }
      if (a.outcome() == v1::OUTCOME_CONNECT_TIMEOUT) {
        return {absl::StrCat(proxy_name, " accepted the connection but did not answer ",
                             IsSocks(a.route_kind()) ? "the SOCKS request" : "CONNECT", " to ",
                             targets, " within ", ms,
                             " ms: the proxy hangs, or it cannot reach the relay itself."),
                absl::StrCat("Ask the proxy administrator to check the proxy (it accepts "
                             "connections and then never answers), or remove it from ",
                             setting, ".", without)};
      }
      return {absl::StrCat(proxy_name, " broke off during ",
                           IsSocks(a.route_kind()) ? "the SOCKS request" : "CONNECT", " to ",
                           targets, said, ": ", a.detail(), "."),
              absl::StrCat("Ask the proxy administrator to check the proxy, or remove it from ",
                           setting, ".", without)};
    }
    case v1::CAUSE_KIND_FIREWALL_DROP:
      return {absl::StrCat("No answer from ", targets, " within ", ms,
                           " ms: a firewall is silently dropping this traffic."),
              AllowOutbound(g, a, everywhere)};
    case v1::CAUSE_KIND_FIREWALL_REJECT:
      return {a.outcome() == v1::OUTCOME_CONNECTION_RESET
                  ? absl::StrCat("The connection to ", targets,
                                 " was reset: a firewall or intrusion-prevention device cut it.")
                  : absl::StrCat(targets,
                                 " refused the connection: a firewall rejects it, or nothing "
                                 "listens on that port."),
              AllowOutbound(g, a, everywhere)};
    case v1::CAUSE_KIND_NO_ROUTE:
      return {absl::StrCat(
                  "There is no route from this machine to ", targets,
                  a.os_error_name().empty() ? "" : absl::StrCat(" (", a.os_error_name(), ")"), "."),
              "Check the routing, VPN or default gateway of this machine."};
    case v1::CAUSE_KIND_DNS_FAILURE:
      return {absl::StrCat("The relay name ", a.address(), " does not resolve on this machine (",
                           a.detail(), ")."),
              "Check this machine's DNS settings, or ask the network administrator whether the "
              "relay's name is blocked."};
    case v1::CAUSE_KIND_INTERCEPTED:
      if (a.target() == v1::TARGET_DOWNLOAD) {
        return {
            absl::StrCat("TLS to ", targets, Proxied(a) ? absl::StrCat(" through the ", route) : "",
                         " is answered by something that does not speak TLS (",
                         InterferenceWords(a), "): ",
                         Proxied(a) ? "the proxy answers it itself."
                                    : "a transparent proxy or filtering device intercepts it."),
            absl::StrCat("Ask for TLS to ", a.tls().sni(), " on port ", a.port(),
                         " to pass unmodified (no HTTP interception)",
                         Proxied(a) ? " through this proxy." : ".")};
      }
      if (Proxied(a)) {
        return {absl::StrCat(proxy_name, " opened the tunnel to ", targets,
                             ", but something other than the relay answered through it (",
                             InterferenceWords(a),
                             "): the proxy inspects or answers this traffic itself."),
                absl::StrCat("Ask the proxy administrator to exempt ", targets,
                             " from inspection, or use another route.")};
      }
      return {absl::StrCat("Port ", a.port(), " is answered by something other than the relay (",
                           InterferenceWords(a),
                           "): a transparent proxy or filtering device intercepts it."),
              absl::StrCat("Ask for ", targets,
                           " to be exempted from HTTP interception, or use another port.")};
    case v1::CAUSE_KIND_PATH_STALLED:
      if (a.outcome() == v1::OUTCOME_HANDSHAKE_INVALID) {
        return {absl::StrCat("The connection to ", targets,
                             " closed before the relay's reply was complete (", a.detail(),
                             "): the relay or a device in the path cut it."),
                absl::StrCat("Ask for traffic to ", targets,
                             " to pass unmodified (no inspection or filtering).")};
      }
      return {absl::StrCat("Connected to ", targets,
                           Proxied(a) ? absl::StrCat(" through the ", route) : "",
                           ", but no handshake reply came back within ", ms,
                           " ms: a device in the path holds the traffic."),
              absl::StrCat("Ask for traffic to ", targets,
                           " to pass unmodified (no inspection or filtering).")};
    case v1::CAUSE_KIND_TLS_INTERCEPTED:
    case v1::CAUSE_KIND_SNI_FILTERED:
    case v1::CAUSE_KIND_TLS_REFUSED:
      return ExplainTls(g.at.kind, a, targets, route);
    case v1::CAUSE_KIND_INVALID_REPLY:
      if (a.target() == v1::TARGET_DOWNLOAD) {
        return {absl::StrCat("The TLS answer from ", targets, " is broken (", a.detail(), ")."),
                absl::StrCat("Check that ", targets, " is really ", a.tls().sni(),
                             "; report it to the service operator.")};
      }
      if (InvalidReplyKind(a) == Reply::kMacError) {
        return {absl::StrCat("The reply from ", targets,
                             " does not verify (key confirmation failed): it was altered in "
                             "transit, or it is not the real relay."),
                absl::StrCat("Ask for traffic to ", targets,
                             " to pass unmodified (no inspection), and check that the "
                             "address is the relay's.")};
      }
      return {absl::StrCat("The reply from ", targets, " is not a valid relay reply (", a.detail(),
                           "): a broken or fake relay answers there."),
              absl::StrCat("Check that ", targets,
                           " is really a relay (the catalogue's address); report it to the relay "
                           "operator.")};
    default:
      return {a.detail(), ""};
  }
}

// The DNS cause of relays whose names resolve wrongly, from their evidence.
Text ExplainDns(const v1::DnsEvidence& dns, const std::vector<std::string>& expected) {
  const std::string listed =
      expected.empty() ? ""
                       : absl::StrCat(" (the catalogue lists ", absl::StrJoin(expected, ", "), ")");
  const std::string advice =
      absl::StrCat("Ask the network administrator to stop filtering ", dns.host(),
                   " in DNS (allow it on the DNS filter): relay clients connect by name.");
  switch (dns.status()) {
    case v1::DnsEvidence::STATUS_SINKHOLE:
      return {absl::StrCat("The relay name ", dns.host(), " resolves to ",
                           absl::StrJoin(dns.answers(), ", "),
                           " on this machine, an address no relay uses", listed,
                           ": DNS filtering (a sinkhole)."),
              advice};
    case v1::DnsEvidence::STATUS_UNEXPECTED:
      return {absl::StrCat("The relay name ", dns.host(), " resolves to ",
                           absl::StrJoin(dns.answers(), ", "),
                           " on this machine, which the catalogue does not list", listed,
                           ": DNS filtering or a block page."),
              advice};
    default:
      return {absl::StrCat("The relay name ", dns.host(), " does not resolve on this machine",
                           dns.error().empty() ? "" : absl::StrCat(" (", dns.error(), ")"), listed,
                           ": DNS filtering, or a broken DNS server."),
              absl::StrCat("Check this machine's DNS server; if ", dns.host(),
                           " is filtered, ask the network administrator to allow it.")};
  }
}

v1::DeviceEvidence EvidenceOf(const v1::Attempt& a) {
  v1::DeviceEvidence e;
  e.set_proxy_status(a.proxy_status());
  if (a.has_proxy_reply()) *e.mutable_proxy_reply() = a.proxy_reply();
  if (a.has_proxy_auth()) *e.mutable_proxy_auth() = a.proxy_auth();
  if (a.has_proxy_certificate()) *e.mutable_certificate() = a.proxy_certificate();
  if (a.has_interference()) *e.mutable_interference() = a.interference();
  if (a.has_tls()) *e.mutable_tls() = a.tls();
  e.set_os_error_name(a.os_error_name());
  return e;
}

// The bypass setting of a source, for "remove `.corp.example` from ...".
std::string BypassSettingOf(v1::ProxySource source) {
  switch (source) {
    case v1::PROXY_SOURCE_ENV:
      return "no_proxy (environment)";
    case v1::PROXY_SOURCE_KDE:
      return "KDE's NoProxyFor";
    case v1::PROXY_SOURCE_GNOME:
      return "GNOME's ignore-hosts";
    case v1::PROXY_SOURCE_WINDOWS:
      return "Windows' ProxyOverride";
    case v1::PROXY_SOURCE_FIREFOX:
      return "Firefox's no_proxies_on";
    case v1::PROXY_SOURCE_MACOS:
      return "macOS's proxy exceptions";
    default:
      return absl::StrCat("the bypass list of ", SourceName(source));
  }
}

bool DirectBlock(v1::CauseKind kind) {
  return kind == v1::CAUSE_KIND_FIREWALL_DROP || kind == v1::CAUSE_KIND_FIREWALL_REJECT;
}

}  // namespace

const std::vector<std::string>& AdvisedFlags() {
  static const auto* const flags = new std::vector<std::string>{
      std::string(kProxyUserFlag + 2), std::string(kProxyCaFlag + 2), std::string(kProxyFlag + 2)};
  return *flags;
}

std::string DescribeOutcome(v1::Outcome outcome) {
  std::string name = v1::Outcome_Name(outcome);
  absl::StrReplaceAll({{"OUTCOME_", ""}, {"_", " "}}, &name);
  name = absl::AsciiStrToLower(name);
  return name == "ok" ? "OK" : name;
}

std::string DescribeAuthScheme(v1::ProxyAuthScheme scheme) {
  switch (scheme) {
    case v1::PROXY_AUTH_SCHEME_NONE:
      return "no authentication";
    case v1::PROXY_AUTH_SCHEME_BASIC:
      return "Basic";
    case v1::PROXY_AUTH_SCHEME_DIGEST:
      return "Digest";
    case v1::PROXY_AUTH_SCHEME_NTLM:
      return "NTLM";
    case v1::PROXY_AUTH_SCHEME_NEGOTIATE:
      return "Negotiate";
    case v1::PROXY_AUTH_SCHEME_SOCKS_USERPASS:
      return "SOCKS5 user/password";
    default:
      return "an unknown scheme";
  }
}

std::string DescribeHop(v1::Hop hop) {
  switch (hop) {
    case v1::HOP_LOCAL:
      return "this machine";
    case v1::HOP_NETWORK:
      return "the network";
    case v1::HOP_PROXY:
      return "the proxy";
    case v1::HOP_RELAY:
      return "the relay side";
    default:
      return "unknown";
  }
}

std::string DescribeRoute(const v1::Attempt& a) {
  if (!Proxied(a) || !a.has_proxy()) return "direct";
  std::string kind;
  switch (a.route_kind()) {
    case v1::ROUTE_KIND_HTTP_CONNECT:
      kind = "HTTP proxy";
      break;
    case v1::ROUTE_KIND_HTTPS_PROXY:
      kind = "HTTPS proxy";
      break;
    case v1::ROUTE_KIND_SOCKS4:
      kind = "SOCKS4 proxy";
      break;
    case v1::ROUTE_KIND_SOCKS4A:
      kind = "SOCKS4a proxy";
      break;
    case v1::ROUTE_KIND_SOCKS5:
      kind = "SOCKS5 proxy";
      break;
    default:
      kind = "proxy";
      break;
  }
  std::string out = absl::StrCat(kind, " ", HostPort(a.proxy().host(), a.proxy().port()));
  if (a.proxy().source() != v1::PROXY_SOURCE_UNSPECIFIED) {
    absl::StrAppend(&out, " (from ", SourceName(a.proxy().source()));
    if (!a.proxy().source_detail().empty()) absl::StrAppend(&out, " ", a.proxy().source_detail());
    absl::StrAppend(&out, ")");
  }
  return out;
}

std::string DescribeAttempt(const v1::Attempt& a) {
  return absl::StrCat(a.relay(), " ", HostPort(a.address(), a.port()), " via ", DescribeRoute(a));
}

namespace {

// The verdict over the attempts of one set of targets: the relays of
// `catalogue`, or one download service posing as a one-relay catalogue.
v1::Verdict VerdictOver(const v1::Catalogue& catalogue, const std::vector<v1::Attempt>& attempts) {
  v1::Verdict verdict;

  // 1. Fold retries: each route is judged by its last attempt; a 407 before
  // it (marked retried, or followed by another attempt on the same route)
  // is its challenge.
  std::map<RouteKey, Folded> routes;
  std::vector<RouteKey> route_order;  // first-attempt order
  for (const v1::Attempt& a : attempts) {
    auto [it, inserted] = routes.try_emplace(RouteOf(a));
    if (inserted) route_order.push_back(it->first);
    Folded& f = it->second;
    if (f.last != nullptr &&
        (f.last->retried() || f.last->outcome() == v1::OUTCOME_PROXY_AUTH_REQUIRED)) {
      f.challenge = f.last;
    }
    f.last = &a;
  }

  std::map<std::string, std::string> region_of_relay;
  std::map<std::string, std::vector<std::string>> catalogue_addresses;
  for (const v1::Region& region : catalogue.regions()) {
    for (const v1::Relay& relay : region.relays()) {
      region_of_relay[relay.id()] = region.id();
      catalogue_addresses[relay.id()] = {relay.addresses().begin(), relay.addresses().end()};
    }
  }

  SessionFacts facts;
  std::set<std::string> working_regions;
  std::vector<const Folded*> ok;
  for (const RouteKey& key : route_order) {
    const Folded& f = routes[key];
    const v1::Attempt& a = *f.last;
    if (Proxied(a)) facts.has_proxy = true;
    if (a.outcome() == v1::OUTCOME_OK) {
      working_regions.insert(a.region());
      ok.push_back(&f);
      if (!Proxied(a)) facts.direct_ok.insert(a.relay());
    } else if (!Proxied(a) && a.outcome() == v1::OUTCOME_HANDSHAKE_TIMEOUT) {
      facts.direct_stalls.insert({a.relay(), a.port()});
    }
  }
  std::stable_sort(ok.begin(), ok.end(), [](const Folded* x, const Folded* y) {
    return Millis(x->last->total_duration()) < Millis(y->last->total_duration());
  });
  for (const Folded* f : ok) {
    std::string line =
        absl::StrCat(DescribeAttempt(*f->last), " (", Millis(f->last->total_duration()), " ms)");
    if (f->challenge != nullptr) {
      const std::string offered = OfferedWords(Offered(*f->challenge));
      absl::StrAppend(&line, "; the proxy asked for ", offered.empty() ? "credentials" : offered,
                      " and accepted the credentials given");
    }
    verdict.add_working(Bounded(line, kMaxSentence / 2));
  }

  // 2 and 3. Attribute each failed route and group alike failures.
  using GroupKey = std::tuple<int, int, std::string, uint32_t, int, std::string>;
  std::map<GroupKey, Group> groups;
  std::map<std::tuple<uint32_t, int, std::string>, std::set<std::string>> relays_tried;
  for (const RouteKey& key : route_order) {
    const Folded& f = routes[key];
    const v1::Attempt& a = *f.last;
    relays_tried[{a.port(), a.route_kind(), ProxyHostPort(a)}].insert(a.relay());
    if (a.outcome() == v1::OUTCOME_OK) continue;
    const Attribution at = Attribute(a, facts);
    const bool wide = ProxyWide(at.kind);
    std::string words;
    if (at.kind == v1::CAUSE_KIND_INTERCEPTED) {
      words = a.interference().status_line();
    } else if (at.kind == v1::CAUSE_KIND_PROXY_CERTIFICATE_UNTRUSTED) {
      words = a.proxy_certificate().issuer();
    } else if (at.kind == v1::CAUSE_KIND_TLS_INTERCEPTED) {
      words = a.tls().certificate().issuer();
    } else if (!wide) {
      words = absl::StrCat(a.proxy_status(), " ", a.proxy_reply().status_line(), " ",
                           static_cast<int>(a.outcome()));
    }
    Group& g = groups[{at.kind, at.hop, ProxyHostPort(a), wide ? 0u : a.port(),
                       wide ? 0 : a.route_kind(), words}];
    g.at = at;
    g.attempts.push_back(&a);
    // Evidence from the first route (in route order) that had a challenge.
    if (f.challenge != nullptr && (g.challenge == nullptr || key < RouteOf(*g.challenge))) {
      g.challenge = f.challenge;
    }
    g.relays.insert(a.relay());
    g.regions.insert(a.region());
    g.addresses.insert(a.address());
    g.ports.insert(a.port());
    g.routes.insert(key);
  }

  struct Ranked {
    v1::Blocker blocker;
    std::string tie;  // the proxy, relays and words, for a total order
  };
  std::vector<Ranked> ranked;
  auto regions_blocked = [&](const std::set<std::string>& regions) {
    uint32_t n = 0;
    for (const std::string& r : regions) n += working_regions.count(r) == 0 ? 1 : 0;
    return n;
  };
  for (auto& [key, g] : groups) {
    // The group's first route stands for it, whatever order attempts came in.
    std::sort(g.attempts.begin(), g.attempts.end(),
              [](const v1::Attempt* x, const v1::Attempt* y) { return RouteOf(*x) < RouteOf(*y); });
    const v1::Attempt& a = *g.attempts.front();
    const std::string proxy = ProxyHostPort(a);
    bool everywhere = false;
    if (!ProxyWide(g.at.kind) && g.ports.size() == 1) {
      const auto& tried = relays_tried[{a.port(), a.route_kind(), proxy}];
      everywhere = g.relays == tried && tried.size() > 1;
    }
    Text text = Explain(g, everywhere, facts);
    Ranked r;
    v1::Blocker& b = r.blocker;
    b.set_explanation(
        Bounded(everywhere ? absl::StrCat("On every relay: ", text.explanation) : text.explanation,
                kMaxSentence));
    b.set_advice(Bounded(text.advice, kMaxSentence));
    b.set_kind(g.at.kind);
    b.set_hop(g.at.hop);
    b.set_outcome(a.outcome());
    b.set_phase(a.failed_phase());
    b.set_route_kind(a.route_kind());
    if (Proxied(a) && a.has_proxy()) *b.mutable_proxy() = a.proxy();
    if (g.ports.size() == 1) b.set_port(a.port());
    if (g.relays.size() == 1 && !everywhere) {
      b.set_relay(a.relay());
      b.set_region(a.region());
    }
    for (const std::string& relay : g.relays) b.add_relays(relay);
    for (uint32_t port : g.ports) b.add_ports(port);
    b.set_attempts(static_cast<uint32_t>(g.attempts.size()));
    b.set_routes_blocked(static_cast<uint32_t>(g.routes.size()));
    b.set_regions_blocked(regions_blocked(g.regions));
    // DIRECT closed altogether at a site with a proxy is how such sites
    // work; a port closed while other DIRECT routes work is a cause.
    b.set_context(facts.has_proxy && facts.direct_ok.empty() && !Proxied(a) &&
                  DirectBlock(g.at.kind));
    *b.mutable_evidence() = EvidenceOf(a);
    r.tie = absl::StrCat(proxy, "|", absl::StrJoin(g.relays, ","), "|", std::get<5>(key));
    ranked.push_back(std::move(r));
  }

  // DNS filtering of relay names, from the DNS evidence of any attempt (the
  // attempts go to the addresses, so they may work while names do not).
  std::map<std::string, const v1::Attempt*> dns_by_relay;
  for (const v1::Attempt& a : attempts) {
    if (a.has_dns() && DnsProblem(a.dns())) dns_by_relay.try_emplace(a.relay(), &a);
  }
  std::map<std::tuple<int, std::string, std::string>, std::vector<const v1::Attempt*>> dns_groups;
  for (const auto& [relay, a] : dns_by_relay) {
    dns_groups[{a->dns().status(), a->dns().host(), absl::StrJoin(a->dns().answers(), ",")}]
        .push_back(a);
  }
  for (const auto& [key, group] : dns_groups) {
    const v1::Attempt& a = *group.front();
    Text text = ExplainDns(a.dns(), catalogue_addresses[a.relay()]);
    Ranked r;
    v1::Blocker& b = r.blocker;
    b.set_explanation(Bounded(text.explanation, kMaxSentence));
    b.set_advice(Bounded(text.advice, kMaxSentence));
    b.set_kind(a.dns().status() == v1::DnsEvidence::STATUS_FAILED ? v1::CAUSE_KIND_DNS_FAILURE
                                                                  : v1::CAUSE_KIND_DNS_FILTERED);
    b.set_hop(v1::HOP_LOCAL);
    b.set_phase(v1::PHASE_DNS);
    std::set<std::string> regions;
    for (const v1::Attempt* g : group) {
      b.add_relays(g->relay());
      regions.insert(g->region());
    }
    if (group.size() == 1) {
      b.set_relay(a.relay());
      b.set_region(a.region());
    }
    b.set_attempts(static_cast<uint32_t>(group.size()));
    b.set_routes_blocked(static_cast<uint32_t>(group.size()));
    b.set_regions_blocked(regions_blocked(regions));
    *b.mutable_evidence()->mutable_dns() = a.dns();
    r.tie = absl::StrCat("|", absl::StrJoin(b.relays(), ","), "|", std::get<1>(key));
    ranked.push_back(std::move(r));
  }

  // 3b. A bypass list that sends a relay direct where DIRECT is blocked,
  // while the proxy the entry skips (tried as an alternative) works: the
  // entry is the cause, and the regions only the alternative reaches are
  // what it blocks for the user's own software.
  std::set<std::string> configured_working;
  for (const Folded* f : ok) {
    if (f->last->route_role() != v1::ROUTE_ROLE_ALTERNATIVE) {
      configured_working.insert(f->last->region());
    }
  }
  struct BypassGroup {
    const v1::Attempt* direct = nullptr;
    const v1::Attempt* proxied = nullptr;
    std::set<std::string> relays;
    std::set<std::string> regions;
    uint32_t routes = 0;
  };
  std::map<std::tuple<int, std::string, std::string>, BypassGroup> bypass_groups;
  for (const RouteKey& key : route_order) {
    const v1::Attempt& a = *routes[key].last;
    if (Proxied(a) || a.outcome() == v1::OUTCOME_OK ||
        a.bypass_source() == v1::PROXY_SOURCE_UNSPECIFIED ||
        a.route_role() != v1::ROUTE_ROLE_CONFIGURED || facts.direct_ok.count(a.relay()) > 0) {
      continue;
    }
    const v1::Attempt* alternative = nullptr;
    for (const Folded* f : ok) {
      const v1::Attempt& b = *f->last;
      // The first such route in route order, whatever order attempts came in.
      if (b.relay() == a.relay() && Proxied(b) && b.route_role() == v1::ROUTE_ROLE_ALTERNATIVE &&
          b.bypass_source() == a.bypass_source() && b.bypass_entry() == a.bypass_entry() &&
          (alternative == nullptr || RouteOf(b) < RouteOf(*alternative))) {
        alternative = &b;
      }
    }
    if (alternative == nullptr) continue;
    BypassGroup& g =
        bypass_groups[{a.bypass_source(), a.bypass_entry(), ProxyHostPort(*alternative)}];
    if (g.direct == nullptr || RouteOf(a) < RouteOf(*g.direct)) {
      g.direct = &a;
      g.proxied = alternative;
    }
    g.relays.insert(a.relay());
    g.regions.insert(a.region());
    ++g.routes;
  }
  for (const auto& [key, g] : bypass_groups) {
    const v1::Attempt& direct = *g.direct;
    const std::string setting = BypassSettingOf(direct.bypass_source());
    const std::string relays = absl::StrJoin(g.relays, ", ");
    Ranked r;
    v1::Blocker& b = r.blocker;
    b.set_explanation(
        Bounded(absl::StrCat(setting, " sends ", relays, " direct, which is blocked (",
                             DescribeOutcome(direct.outcome()), " at ", Target(direct),
                             "); through ", DescribeRoute(*g.proxied), " it works"),
                kMaxSentence));
    b.set_advice(Bounded(
        direct.bypass_entry().empty()
            ? absl::StrCat("list ", relays, " in ", setting,
                           " (ReversedException: only the listed hosts use the proxy), or open "
                           "DIRECT to ",
                           Target(direct))
            : absl::StrCat("remove `", direct.bypass_entry(), "` from ", setting,
                           ", or open DIRECT to ", Target(direct)),
        kMaxSentence));
    b.set_kind(v1::CAUSE_KIND_BYPASS_SENDS_DIRECT);
    b.set_hop(v1::HOP_LOCAL);
    b.set_outcome(direct.outcome());
    b.set_phase(direct.failed_phase());
    b.set_route_kind(v1::ROUTE_KIND_DIRECT);
    *b.mutable_proxy() = g.proxied->proxy();
    if (g.relays.size() == 1) {
      b.set_relay(direct.relay());
      b.set_region(direct.region());
    }
    for (const std::string& relay : g.relays) b.add_relays(relay);
    b.set_attempts(g.routes);
    b.set_routes_blocked(g.routes);
    uint32_t blocked = 0;
    for (const std::string& region : g.regions) blocked += configured_working.count(region) == 0;
    b.set_regions_blocked(blocked);
    *b.mutable_evidence() = EvidenceOf(direct);
    r.tie = absl::StrCat(ProxyHostPort(*g.proxied), "|", relays, "|", direct.bypass_entry());
    ranked.push_back(std::move(r));
  }

  // 4. Rank by impact, with a total tie-break.
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& x, const Ranked& y) {
    const v1::Blocker& a = x.blocker;
    const v1::Blocker& b = y.blocker;
    return std::make_tuple(a.context(), -static_cast<int64_t>(a.regions_blocked()),
                           -static_cast<int64_t>(a.routes_blocked()), static_cast<int>(a.hop()),
                           static_cast<int>(a.kind()), a.port(), std::cref(x.tie)) <
           std::make_tuple(b.context(), -static_cast<int64_t>(b.regions_blocked()),
                           -static_cast<int64_t>(b.routes_blocked()), static_cast<int>(b.hop()),
                           static_cast<int>(b.kind()), b.port(), std::cref(y.tie));
  });
  int causes = 0, context = 0;
  for (Ranked& r : ranked) {
    (r.blocker.context() ? context : causes) += 1;
    *verdict.add_blockers() = std::move(r.blocker);
  }

  const int regions = catalogue.regions_size();
  const int working = static_cast<int>(working_regions.size());
  const std::string context_note =
      context > 0 ? " DIRECT is closed, as usual at a site that goes out through a proxy." : "";
  if (attempts.empty()) {
    verdict.set_status(v1::VERDICT_STATUS_UNREACHABLE);
    verdict.set_summary("Nothing was tried: the catalogue or the route list is empty.");
  } else if (working == 0) {
    verdict.set_status(v1::VERDICT_STATUS_UNREACHABLE);
    std::string main_cause = "unknown";
    if (!verdict.blockers().empty()) main_cause = verdict.blockers(0).explanation();
    verdict.set_summary(absl::StrCat("No relay can be reached over any route (",
                                     Plural(attempts.size(), "attempt", "attempts"),
                                     "). Main cause: ", main_cause, context_note));
  } else {
    std::vector<std::string> missing;
    for (const v1::Region& region : catalogue.regions()) {
      if (!working_regions.count(region.id())) missing.push_back(region.display_name());
    }
    verdict.set_status(missing.empty() ? v1::VERDICT_STATUS_REACHABLE
                                       : v1::VERDICT_STATUS_DEGRADED);
    std::string summary;
    if (missing.empty()) {
      summary = regions == 1
                    ? "Relays are reachable: the one region works."
                    : absl::StrCat("Relays are reachable: all ", regions, " regions work.");
    } else {
      summary = absl::StrCat("Relays are partly reachable: ", working, " of ",
                             Plural(regions, "region", "regions"), " work; no route to ",
                             absl::StrJoin(missing, ", "), ".");
      if (causes > 0) absl::StrAppend(&summary, " Main cause: ", verdict.blockers(0).explanation());
    }
    absl::StrAppend(&summary, " Best route: ", DescribeAttempt(*ok.front()->last), ".");
    if (causes > 0) {
      absl::StrAppend(&summary, " ",
                      causes == 1 ? "1 thing is" : absl::StrCat(causes, " things are"),
                      " blocked; see below.");
    }
    absl::StrAppend(&summary, context_note);
    verdict.set_summary(summary);
  }
  verdict.set_summary(Bounded(verdict.summary(), kMaxSummary));
  return verdict;
}

// "The proxy ..." -> "the proxy ..."; an acronym ("TLS to ...") stays.
std::string LowerFirst(std::string text) {
  if (text.size() > 1 && absl::ascii_isupper(static_cast<unsigned char>(text[1]))) return text;
  if (!text.empty()) text[0] = absl::ascii_tolower(static_cast<unsigned char>(text[0]));
  return text;
}

std::string WithoutStop(std::string text) {
  while (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

// The line of one download service.
v1::DownloadCheck CheckDownload(const v1::Catalogue& catalogue, const v1::DownloadService& service,
                                const std::vector<v1::Attempt>& attempts) {
  v1::DownloadCheck check;
  check.set_service(service.id());
  const std::string name = service.display_name().empty() ? service.id() : service.display_name();
  check.set_display_name(name);
  // The service as a one-relay region, so its routes fold, attribute and
  // rank as the relays' do.
  v1::Catalogue one;
  one.set_name(catalogue.name());
  v1::Region* region = one.add_regions();
  region->set_id(service.region());
  region->set_display_name(name);
  *region->add_relays() = DownloadAsRelay(service);
  std::vector<v1::Attempt> mine;
  for (const v1::Attempt& a : attempts) {
    if (a.relay() == service.id()) mine.push_back(a);
  }
  v1::Verdict v = VerdictOver(one, mine);
  for (std::string& line : *v.mutable_working()) check.add_working(std::move(line));
  const v1::Blocker* main = nullptr;
  for (const v1::Blocker& b : v.blockers()) {
    if (!b.context() && main == nullptr) main = &b;
  }
  if (main == nullptr && !v.blockers().empty()) main = &v.blockers(0);
  check.set_reachable(!check.working().empty());
  std::string summary;
  if (mine.empty()) {
    summary = absl::StrCat(name, ": not checked (none of its ports was tried).");
  } else if (check.reachable()) {
    summary = absl::StrCat(name, ": works via ", check.working(0), ".");
    if (main != nullptr && !main->context()) {
      absl::StrAppend(&summary, " Other routes: ", main->explanation());
    }
  } else if (main != nullptr) {
    summary = absl::StrCat(name, ": blocked, ", LowerFirst(WithoutStop(main->explanation())), "; ",
                           LowerFirst(main->advice()));
  } else {
    summary = absl::StrCat(name, ": blocked on every route.");
  }
  check.set_summary(Bounded(summary, kMaxSummary));
  for (v1::Blocker& b : *v.mutable_blockers()) *check.add_blockers() = std::move(b);
  return check;
}

}  // namespace

v1::Verdict ComputeVerdict(const v1::Catalogue& catalogue,
                           const std::vector<v1::Attempt>& attempts) {
  std::vector<v1::Attempt> relays, downloads;
  for (const v1::Attempt& a : attempts) {
    (a.target() == v1::TARGET_DOWNLOAD ? downloads : relays).push_back(a);
  }
  v1::Verdict verdict = VerdictOver(catalogue, relays);
  for (const v1::DownloadService& service : catalogue.downloads()) {
    *verdict.add_downloads() = CheckDownload(catalogue, service, downloads);
  }
  return verdict;
}

}  // namespace relayscope::agent
