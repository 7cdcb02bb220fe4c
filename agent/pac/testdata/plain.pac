// The classic first line of a corporate PAC, on IP literals too.
function FindProxyForURL(url, host) {
  if (isPlainHostName(host)) return 'DIRECT';
  return 'PROXY px.corp.example:8080';
}
