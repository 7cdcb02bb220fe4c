// libcurl's name for a proxy's kind: the one mapping the attempt transport
// and the upload share, so both go through a proxy the same way.
#ifndef AGENT_PROXY_CURL_PROXY_H_
#define AGENT_PROXY_CURL_PROXY_H_

#include <curl/curl.h>

#include "agent/proxy/proxy_url.h"

namespace relayscope::agent {

// HTTP (CONNECT), HTTPS (TLS to the proxy), SOCKS4, SOCKS4a, SOCKS5 with
// local or (socks5h) remote name resolution.
inline curl_proxytype CurlProxyType(const ProxyUrl& proxy) {
  switch (proxy.kind) {
    case v1::ROUTE_KIND_HTTPS_PROXY:
      return CURLPROXY_HTTPS;
    case v1::ROUTE_KIND_SOCKS4:
      return CURLPROXY_SOCKS4;
    case v1::ROUTE_KIND_SOCKS4A:
      return CURLPROXY_SOCKS4A;
    case v1::ROUTE_KIND_SOCKS5:
      return proxy.remote_dns ? CURLPROXY_SOCKS5_HOSTNAME : CURLPROXY_SOCKS5;
    default:
      return CURLPROXY_HTTP;
  }
}

}  // namespace relayscope::agent

#endif  // AGENT_PROXY_CURL_PROXY_H_
