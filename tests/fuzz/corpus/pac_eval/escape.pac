function FindProxyForURL(u, h) {
  try { require('fs'); } catch (e) {}
  try { new XMLHttpRequest(); } catch (e) {}
  try { Duktape.modSearch('x'); } catch (e) {}
  return 'DIRECT'; }