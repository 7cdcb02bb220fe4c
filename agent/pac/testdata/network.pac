// DNS and address helpers: dnsResolve, isResolvable, isInNet (which
// resolves a name), myIpAddress, convert_addr.
function FindProxyForURL(url, host) {
  var ip = dnsResolve(host);
  return [
    'ip=' + ip,
    'resolvable=' + isResolvable(host),
    'net10=' + isInNet(host, '10.0.0.0', '255.0.0.0'),
    'net203=' + isInNet(host, '203.0.113.0', '255.255.255.0'),
    'me=' + myIpAddress(),
    'menet=' + isInNet(myIpAddress(), '10.1.0.0', '255.255.0.0'),
    'addr=' + (ip ? convert_addr(ip) : 'none')
  ].join(' ');
}
