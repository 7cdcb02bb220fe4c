
// Corporate PAC: relays through the proxy, the rest direct.
function FindProxyForURL(url, host) {
  if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example")) return "DIRECT";
  if (isInNet(host, "127.0.72.0", "255.255.255.0"))
    return "PROXY 127.0.63.1:3128; DIRECT";
  return "DIRECT";
}
