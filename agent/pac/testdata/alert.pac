// alert() is part of every browser's PAC environment.
function FindProxyForURL(url, host) {
  alert('resolving ' + host);
  return 'DIRECT';
}
