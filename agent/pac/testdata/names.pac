// Host-name helpers, each result in the answer so a disagreement names
// the helper: isPlainHostName, dnsDomainIs, localHostOrDomainIs,
// dnsDomainLevels, shExpMatch.
function FindProxyForURL(url, host) {
  return [
    'plain=' + isPlainHostName(host),
    'corp=' + dnsDomainIs(host, '.corp.example'),
    'local=' + localHostOrDomainIs(host, 'www.corp.example'),
    'levels=' + dnsDomainLevels(host),
    'sh1=' + shExpMatch(host, '*.a.com'),
    'sh2=' + shExpMatch(host, '(*.a.com|a.com)'),
    'sh3=' + shExpMatch(url, 'https://*/'),
    'sh4=' + shExpMatch(host, '?.a.com')
  ].join(' ');
}
