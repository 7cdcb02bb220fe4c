// isInNet with a mask of three bytes, a typo seen in real PAC files.
function FindProxyForURL(url, host) {
  return isInNet(host, '10.0.0.0', '255.0.0') ? 'DIRECT' : 'PROXY px.corp.example:8080';
}
