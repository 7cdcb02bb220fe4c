
function FindProxyForURL(url, host) {
  if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example") ||
      isInNet(dnsResolve(host), "10.0.0.0", "255.0.0.0"))
    return "DIRECT";
  if (shExpMatch(url, "https://*") && dnsDomainIs(host, "relay.example"))
    return myIpAddress().split(".")[3] % 2 == 1
        ? "PROXY px1.corp.example:8080; PROXY px2.corp.example:8080; SOCKS5 socks.corp.example:1080"
        : "PROXY px2.corp.example:8080; PROXY px1.corp.example:8080; SOCKS5 socks.corp.example:1080";
  return "PROXY px1.corp.example:8080; DIRECT";
}
