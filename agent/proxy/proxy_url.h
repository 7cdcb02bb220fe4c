// Proxy URLs as users write them: in flags, environment variables and the
// manual proxy file. "http://user:pass@proxy:3128", "socks5h://[::1]:1080",
// "proxy:8080" (scheme-less means HTTP).
//
// The password is a secret: ProxyUrl keeps it only to hand to the transport
// and never prints it (see Redacted()).
#ifndef AGENT_PROXY_PROXY_URL_H_
#define AGENT_PROXY_PROXY_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// A proxy with its credentials: what the transport goes through. Kind
// ROUTE_KIND_DIRECT, the default (Direct()), stands for no proxy at all, so
// a ProxyUrl{} never names a proxy without a host.
struct ProxyUrl {
  v1::RouteKind kind = v1::ROUTE_KIND_DIRECT;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string username;
  std::string password;  // secret
  // socks5h / socks4a: the proxy resolves the relay name.
  bool remote_dns = false;

  // No proxy: the DIRECT route's.
  static ProxyUrl Direct();
  bool direct() const {
    return kind == v1::ROUTE_KIND_DIRECT || kind == v1::ROUTE_KIND_UNSPECIFIED;
  }

  // "http://user:****@proxy:3128": safe for logs and reports.
  std::string Redacted() const;
};

// SOCKS4, SOCKS4a or SOCKS5: a proxy that answers with a SOCKS reply
// code, not an HTTP status.
inline bool IsSocks(v1::RouteKind kind) {
  return kind == v1::ROUTE_KIND_SOCKS4 || kind == v1::ROUTE_KIND_SOCKS4A ||
         kind == v1::ROUTE_KIND_SOCKS5;
}

// The proxy as telemetry describes it (kind, host, port, whether it has
// credentials; never the credentials), found in `source` (`source_detail`
// says where exactly). The one conversion from ProxyUrl to v1::Proxy.
v1::Proxy ToProxyProto(const ProxyUrl& url, v1::ProxySource source, std::string source_detail);

// Parses a proxy URL. Schemes: http, https, socks4, socks4a, socks5,
// socks5h; none means http. Default ports as curl: 1080 for every scheme,
// except 443 for https. User-info is percent-decoded. INVALID_ARGUMENT
// naming the problem ("unknown scheme \"ftp\"", "port 99999 out of range").
absl::StatusOr<ProxyUrl> ParseProxyUrl(absl::string_view text);

}  // namespace relayscope::agent

#endif  // AGENT_PROXY_PROXY_URL_H_
