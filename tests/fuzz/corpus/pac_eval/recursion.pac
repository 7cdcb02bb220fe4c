function f(n) { return f(n + 1) + 1; }
function FindProxyForURL(u, h) { return '' + f(0); }