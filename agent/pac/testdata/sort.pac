// sortIpAddressList: IPv6 first, ascending, stable; false on bad input.
function FindProxyForURL(url, host) {
  return 'sorted=' + sortIpAddressList(dnsResolveEx(host) + ';10.0.0.1;2001:db8::1') +
         ' bad=' + sortIpAddressList('not-an-address');
}
