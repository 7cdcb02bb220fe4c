// The standard PAC helper functions (Netscape's originals and Microsoft's
// IPv6 "Ex" family), evaluated in the sandbox before the PAC file.
//
// Natives provided by the sandbox (no other host access exists):
//   __rs_resolve(host, all)  -> "a.b.c.d" / "ip1;ip2" or null (asked of the
//                               agent process over a pipe; bounded)
//   __rs_my_ips              -> array of this machine's addresses
//   __rs_now                 -> milliseconds since the epoch to evaluate at
//   __rs_alert(message)      -> records an alert() for the report

function __rs_isIpv4(s) {
  var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(String(s));
  if (!m) return false;
  for (var i = 1; i <= 4; i++) if (+m[i] > 255) return false;
  return true;
}
function __rs_ipv4ToInt(s) {
  var p = String(s).split('.');
  return ((+p[0] << 24) >>> 0) + (+p[1] << 16) + (+p[2] << 8) + (+p[3]);
}
// "2001:db8::1" -> 8 numbers, or null.
function __rs_ipv6Groups(s) {
  s = String(s);
  if (s.indexOf(':') < 0 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  var v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {  // "::ffff:1.2.3.4": the dotted tail is the last two groups
    if (!__rs_isIpv4(v4[1])) return null;
    var n = __rs_ipv4ToInt(v4[1]);
    s = s.slice(0, s.length - v4[1].length) + ((n >>> 16) & 0xffff).toString(16) + ':' +
        (n & 0xffff).toString(16);
  }
  var halves = s.split('::');
  if (halves.length > 2) return null;
  var parse = function (part) {
    if (part === '') return [];
    var out = [];
    var items = part.split(':');
    for (var i = 0; i < items.length; i++) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(items[i])) return null;
      out.push(parseInt(items[i], 16));
    }
    return out;
  };
  var head = parse(halves[0]);
  var rest = halves.length === 2 ? parse(halves[1]) : [];
  if (head === null || rest === null) return null;
  var total = head.length + rest.length;
  if (halves.length === 1 && total !== 8) return null;
  if (halves.length === 2 && total > 7) return null;
  var zeros = [];
  for (var z = 0; z < 8 - total; z++) zeros.push(0);
  return head.concat(zeros, rest);
}

function isPlainHostName(host) {
  return String(host).indexOf('.') < 0;
}
function dnsDomainIs(host, domain) {
  host = String(host).toLowerCase();
  domain = String(domain).toLowerCase();
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}
function localHostOrDomainIs(host, hostdom) {
  host = String(host).toLowerCase();
  hostdom = String(hostdom).toLowerCase();
  if (host === hostdom) return true;
  return host.indexOf('.') < 0 && hostdom.indexOf(host + '.') === 0;
}
function dnsResolve(host) {
  host = String(host);
  if (__rs_isIpv4(host)) return host;
  var answer = __rs_resolve(host, false);
  return answer === null || answer === '' ? null : answer;
}
function isResolvable(host) {
  return dnsResolve(host) !== null;
}
function isInNet(ipaddr, pattern, mask) {
  var ip = __rs_isIpv4(ipaddr) ? String(ipaddr) : dnsResolve(ipaddr);
  if (ip === null || !__rs_isIpv4(pattern) || !__rs_isIpv4(mask)) return false;
  var m = __rs_ipv4ToInt(mask);
  return ((__rs_ipv4ToInt(ip) & m) >>> 0) === ((__rs_ipv4ToInt(pattern) & m) >>> 0);
}
function myIpAddress() {
  for (var i = 0; i < __rs_my_ips.length; i++) {
    if (__rs_isIpv4(__rs_my_ips[i]) && __rs_my_ips[i].indexOf('127.') !== 0) return __rs_my_ips[i];
  }
  return '127.0.0.1';
}
function dnsDomainLevels(host) {
  return String(host).split('.').length - 1;
}
function shExpMatch(str, shexp) {
  var re = '^' + String(shexp).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
      .replace(/\?/g, '.') + '$';
  return new RegExp(re).test(String(str));
}

// ---- time: evaluated at __rs_now, in local time unless "GMT" is given ----

var __rs_days = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
var __rs_months = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV',
                   'DEC'];
function __rs_date(gmt) {
  var d = new Date(__rs_now);
  return gmt ? {y: d.getUTCFullYear(), mo: d.getUTCMonth(), d: d.getUTCDate(), wd: d.getUTCDay(),
                h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds()}
             : {y: d.getFullYear(), mo: d.getMonth(), d: d.getDate(), wd: d.getDay(),
                h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds()};
}
function __rs_splitGmt(args) {
  args = Array.prototype.slice.call(args);
  var gmt = args.length > 0 && String(args[args.length - 1]).toUpperCase() === 'GMT';
  if (gmt) args.pop();
  return {args: args, gmt: gmt};
}
// lo <= value <= hi, wrapping around when lo > hi.
function __rs_inRange(value, lo, hi) {
  return lo <= hi ? (value >= lo && value <= hi) : (value >= lo || value <= hi);
}
function weekdayRange() {
  var a = __rs_splitGmt(arguments);
  var wd1 = __rs_days.indexOf(String(a.args[0]).toUpperCase());
  var wd2 = a.args.length > 1 ? __rs_days.indexOf(String(a.args[1]).toUpperCase()) : wd1;
  if (wd1 < 0 || wd2 < 0) return false;
  return __rs_inRange(__rs_date(a.gmt).wd, wd1, wd2);
}
function dateRange() {
  var a = __rs_splitGmt(arguments);
  var now = __rs_date(a.gmt);
  var args = a.args;
  // Each argument is a day (1-31), a month name or a year (4 digits).
  var kinds = [];
  for (var i = 0; i < args.length; i++) {
    var v = args[i];
    var month = __rs_months.indexOf(String(v).toUpperCase());
    if (month >= 0) kinds.push({k: 'm', v: month});
    else if (typeof v === 'number' || /^\d+$/.test(String(v))) {
      var n = +v;
      kinds.push(n > 31 ? {k: 'y', v: n} : {k: 'd', v: n});
    } else return false;
  }
  var key = function (parts) {  // comparable value of the parts present
    var y = 0, m = 0, d = 0;
    for (var j = 0; j < parts.length; j++) {
      if (parts[j].k === 'y') y = parts[j].v;
      else if (parts[j].k === 'm') m = parts[j].v;
      else d = parts[j].v;
    }
    return y * 10000 + m * 100 + d;
  };
  var pick = function (parts) {  // the same fields from now
    var out = [];
    for (var j = 0; j < parts.length; j++) {
      out.push({k: parts[j].k, v: parts[j].k === 'y' ? now.y : parts[j].k === 'm' ? now.mo : now.d});
    }
    return out;
  };
  if (kinds.length === 1) return key(pick(kinds)) === key(kinds);
  if (kinds.length % 2 !== 0 || kinds.length > 6) return false;
  var half = kinds.length / 2;
  var lo = kinds.slice(0, half), hi = kinds.slice(half);
  for (var k = 0; k < half; k++) if (lo[k].k !== hi[k].k) return false;
  var current = key(pick(lo));
  var hasYear = lo.some(function (p) { return p.k === 'y'; });
  return hasYear ? (current >= key(lo) && current <= key(hi))
                 : __rs_inRange(current, key(lo), key(hi));
}
// timeRange(h1[, h2]) / (h1, m1, h2, m2) / (h1, m1, s1, h2, m2, s2): true
// from the first time up to (not including) the second, wrapping past
// midnight when the second is earlier; one hour alone means that hour.
function timeRange() {
  var a = __rs_splitGmt(arguments);
  var now = __rs_date(a.gmt);
  var n = a.args.map(function (x) { return +x; });
  for (var i = 0; i < n.length; i++) if (isNaN(n[i])) return false;
  var current, from, to;
  if (n.length === 1) return now.h === n[0];
  if (n.length === 2) { current = now.h; from = n[0]; to = n[1]; }
  else if (n.length === 4) { current = now.h * 60 + now.mi; from = n[0] * 60 + n[1]; to = n[2] * 60 + n[3]; }
  else if (n.length === 6) {
    current = now.h * 3600 + now.mi * 60 + now.s;
    from = n[0] * 3600 + n[1] * 60 + n[2];
    to = n[3] * 3600 + n[4] * 60 + n[5];
  } else return false;
  if (from === to) return current === from;
  return from < to ? (current >= from && current < to) : (current >= from || current < to);
}
function alert(message) {
  __rs_alert(String(message));
}

// ---- Microsoft's IPv6-aware extensions ----

function isResolvableEx(host) {
  var answer = dnsResolveEx(host);
  return answer !== null && answer !== '';
}
function dnsResolveEx(host) {
  host = String(host);
  if (__rs_isIpv4(host) || __rs_ipv6Groups(host)) return host;
  var answer = __rs_resolve(host, true);
  return answer === null ? '' : answer;
}
function myIpAddressEx() {
  return __rs_my_ips.join(';');
}
function isInNetEx(ipaddr, prefix) {
  var slash = String(prefix).indexOf('/');
  if (slash < 0) return false;
  var net = String(prefix).substring(0, slash), bits = +String(prefix).substring(slash + 1);
  if (isNaN(bits)) return false;
  if (__rs_isIpv4(net)) {
    if (!__rs_isIpv4(ipaddr) || bits < 0 || bits > 32) return false;
    var mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return ((__rs_ipv4ToInt(ipaddr) & mask) >>> 0) === ((__rs_ipv4ToInt(net) & mask) >>> 0);
  }
  var a = __rs_ipv6Groups(ipaddr), b = __rs_ipv6Groups(net);
  if (!a || !b || bits < 0 || bits > 128) return false;
  for (var i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    var m = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a[i] & m) !== (b[i] & m)) return false;
  }
  return true;
}
// IPv6 addresses first, then IPv4, each in ascending order.
function sortIpAddressList(list) {
  var items = String(list).split(';');
  var keyed = [];
  for (var i = 0; i < items.length; i++) {
    var s = items[i].replace(/^\s+|\s+$/g, '');
    if (s === '') continue;
    var g = __rs_ipv6Groups(s);
    if (g) keyed.push({s: s, k: '0' + g.map(function (x) { return ('0000' + x.toString(16)).slice(-4); }).join('')});
    else if (__rs_isIpv4(s)) keyed.push({s: s, k: '1' + ('0000000000' + __rs_ipv4ToInt(s)).slice(-10)});
    else return '';
  }
  keyed.sort(function (x, y) { return x.k < y.k ? -1 : x.k > y.k ? 1 : 0; });
  return keyed.map(function (x) { return x.s; }).join(';');
}
function getClientVersion() {
  return '1.0';
}
