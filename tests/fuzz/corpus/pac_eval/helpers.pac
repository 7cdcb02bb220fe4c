
function FindProxyForURL(url, host) {
  alert("evaluating " + url);
  if (weekdayRange("MON", "FRI") && timeRange(8, 18)) return "PROXY office:3128";
  if (dateRange("JAN", "MAR")) return "SOCKS5 q1.corp:1080";
  if (localHostOrDomainIs(host, "relay.example")) return "HTTPS tls.corp:443";
  if (dnsResolve("fail.corp") == null) return "PROXY fallback:8080; DIRECT";
  return dnsDomainLevels(host) > 2 ? "DIRECT" : "PROXY p:1";
}
