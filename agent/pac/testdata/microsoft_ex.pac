// Microsoft's IPv6 extensions: dnsResolveEx, isResolvableEx, isInNetEx,
// myIpAddressEx (sortIpAddressList: sort.pac).
function FindProxyForURL(url, host) {
  var all = dnsResolveEx(host);
  return [
    'all=' + all,
    'resolvable=' + isResolvableEx(host),
    'in6=' + isInNetEx(host, '2001:db8::/32'),
    'in4=' + isInNetEx(host, '10.0.0.0/8'),
    'mine=' + myIpAddressEx()
  ].join(' ');
}
