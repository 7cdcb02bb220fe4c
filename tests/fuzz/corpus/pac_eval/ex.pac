
function FindProxyForURLEx(url, host) {
  var all = dnsResolveEx(host);
  return isInNetEx(myIpAddressEx(), "192.168.0.0/16") ? "PROXY lan:8080" : "DIRECT; " + all;
}
