// Proxy-Konfiguration für München (ISA Server, CARP) © IT
function FindProxyForURL(url, host) {
  /* Café: intranet direkt */
  if (dnsDomainIs(host, ".corp.example")) return "DIRECT";
  return "PROXY isa.corp.example:8080; DIRECT";
}
