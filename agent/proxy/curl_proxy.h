// How libcurl is told to go through a proxy: the one mapping the attempt
// transport and the upload share, so both go through a proxy the same way
// (its kind, the tunnel, its authentication, the roots TLS trusts).
#ifndef AGENT_PROXY_CURL_PROXY_H_
#define AGENT_PROXY_CURL_PROXY_H_

#include <curl/curl.h>

#include <string>

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

// With a password libcurl may answer Basic, Digest or NTLM. Negotiate is
// left out: it authenticates with this machine's Kerberos ticket, not the
// password given, and libcurl would prefer it over the others whenever a
// proxy offers it, failing where NTLM or Basic with the password works.
inline constexpr unsigned long kPasswordSchemes = CURLAUTH_BASIC | CURLAUTH_DIGEST | CURLAUTH_NTLM;

// On Windows a proxy that asks for NTLM or Negotiate is answered, when no
// credentials were given, with the logged-on user's own through SSPI
// (libcurl's empty user name), as WinINet and the browsers do, before
// anyone is asked for a password. Elsewhere there is no such logon.
#ifdef _WIN32
inline constexpr bool kLogonCredentials = true;
#else
inline constexpr bool kLogonCredentials = false;
#endif
inline constexpr unsigned long kLogonSchemes = CURLAUTH_NTLM | CURLAUTH_NEGOTIATE;

// Sets `handle` to go through `proxy` (not DIRECT): its address and kind,
// a CONNECT tunnel for HTTP(S) proxies, and the credentials: the given
// ones, else on Windows the logon's. `address` must outlive the transfer.
inline void UseCurlProxy(CURL* handle, const ProxyUrl& proxy, const std::string& address) {
  curl_easy_setopt(handle, CURLOPT_PROXY, address.c_str());
  curl_easy_setopt(handle, CURLOPT_PROXYTYPE, static_cast<long>(CurlProxyType(proxy)));
  const bool given = !proxy.username.empty();
  if (given) {
    curl_easy_setopt(handle, CURLOPT_PROXYUSERNAME, proxy.username.c_str());
    curl_easy_setopt(handle, CURLOPT_PROXYPASSWORD, proxy.password.c_str());
  }
  if (IsSocks(proxy.kind)) return;  // SOCKS: no challenge, the user (and password) go as they are
  curl_easy_setopt(handle, CURLOPT_HTTPPROXYTUNNEL, 1L);
  if (given) {
    curl_easy_setopt(handle, CURLOPT_PROXYAUTH, static_cast<long>(kPasswordSchemes));
  } else if (kLogonCredentials) {
    curl_easy_setopt(handle, CURLOPT_PROXYUSERPWD, ":");
    curl_easy_setopt(handle, CURLOPT_PROXYAUTH, static_cast<long>(kLogonSchemes));
  }
}

// TLS (to the server, and to an HTTPS proxy) trusts `ca_file` when given,
// else the system's roots: on Windows its certificate store (libcurl's
// CURLSSLOPT_NATIVE_CA with OpenSSL), elsewhere the bundle OpenSSL finds
// (common/ca_bundle.h).
inline void TrustCurlRoots(CURL* handle, CURLoption ca_option, CURLoption ssl_options,
                           const std::string& ca_file) {
  if (!ca_file.empty()) {
    curl_easy_setopt(handle, ca_option, ca_file.c_str());
    return;
  }
#ifdef _WIN32
  curl_easy_setopt(handle, ssl_options, static_cast<long>(CURLSSLOPT_NATIVE_CA));
#else
  (void)ssl_options;
#endif
}

}  // namespace relayscope::agent

#endif  // AGENT_PROXY_CURL_PROXY_H_
