// A RegExp literal with /g inside the function: since ES5 each call
// creates a fresh RegExp, so test() starts at lastIndex 0 every time (an
// ES3 engine shares one object between calls and alternates answers).
function FindProxyForURL(url, host) {
  return /corp\.example$/g.test(host) ? 'DIRECT' : 'PROXY px.corp.example:8080';
}
