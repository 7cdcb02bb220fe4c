// The standard PAC helper functions (Netscape's originals and Microsoft's
// IPv6 "Ex" family), evaluated in the sandbox before the PAC file.
//
// Semantics are Chromium's (services/proxy_resolver: a JavaScript library
// taken from Firefox plus C++ bindings for isPlainHostName, dnsResolve,
// myIpAddress and the Ex family); Firefox and WinHTTP agree with it on the
// points below. That includes its quirks, because what we want to know is
// what the user's browser would do with the same file:
//   - dnsDomainIs, localHostOrDomainIs, weekdayRange and the month names of
//     dateRange compare case-sensitively (the browser lower-cases the host
//     it passes; a PAC that writes ".Corp.Example" never matches there);
//   - shExpMatch escapes only "." and turns "*" and "?" into ".*" and ".",
//     so "(", ")", "|", "[" and "]" keep their RegExp meaning:
//     shExpMatch(host, "(*.a.com|a.com)") matches a.com and x.a.com, and a
//     pattern that is not a valid RegExp throws;
//   - timeRange(h1, h2) includes all of the end hour and never wraps;
//     the minute and second forms include the end minute/second and wrap
//     past midnight; dateRange builds its two bounds field by field, as
//     Netscape's code did (dateRange(3, "MAR") and dateRange(3, "MAR",
//     2009) are accepted, wrap-around included).
//
// Natives provided by the sandbox (no other host access exists):
//   __rs_resolve(host, all)  -> "a.b.c.d" / "ip1;ip2" or null (asked of the
//                               agent process over a pipe; cached, bounded)
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
// An IPv4 or IPv6 literal as 8 16-bit groups (IPv4 as ::ffff:a.b.c.d),
// with whether it was IPv4; null if it is neither.
function __rs_ipGroups(s) {
  if (__rs_isIpv4(s)) {
    var n = __rs_ipv4ToInt(s);
    return {v4: true, g: [0, 0, 0, 0, 0, 0xffff, (n >>> 16) & 0xffff, n & 0xffff]};
  }
  var g = __rs_ipv6Groups(s);
  return g ? {v4: false, g: g} : null;
}
function __rs_isLoopback(s) {
  return String(s).indexOf('127.') === 0 || s === '::1';
}

// ---- Netscape's helpers ----

function isPlainHostName(host) {
  if (arguments.length < 1 || typeof host !== 'string') {
    throw new TypeError('Requires 1 string parameter');
  }
  // IPv6 literals have no dot but are not plain host names either.
  return host.indexOf('.') < 0 && __rs_ipv6Groups(host) === null;
}
function dnsDomainIs(host, domain) {
  return host.length >= domain.length &&
      host.substring(host.length - domain.length) == domain;
}
function localHostOrDomainIs(host, hostdom) {
  return host == hostdom || hostdom.lastIndexOf(host + '.', 0) == 0;
}
function dnsDomainLevels(host) {
  return host.split('.').length - 1;
}
function isValidIpAddress(ipchars) {
  return __rs_isIpv4(ipchars);
}
// The dotted quad as a signed 32-bit number, as Netscape defined it.
function convert_addr(ipchars) {
  var b = ipchars.split('.');
  return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
}
function dnsResolve(host) {
  if (typeof host !== 'string') return null;
  if (__rs_isIpv4(host)) return host;
  var answer = __rs_resolve(host, false);
  return answer === null || answer === '' ? null : answer;
}
function isResolvable(host) {
  return dnsResolve(host) != null;
}
function isInNet(ipaddr, pattern, maskstr) {
  if (!__rs_isIpv4(pattern) || !__rs_isIpv4(maskstr)) return false;
  if (!__rs_isIpv4(ipaddr)) {
    ipaddr = dnsResolve(ipaddr);
    if (ipaddr == null) return false;
  }
  var mask = convert_addr(maskstr);
  return (convert_addr(ipaddr) & mask) == (convert_addr(pattern) & mask);
}
// The first address that is not loopback (IPv4 preferred), else
// 127.0.0.1, as Chromium and Firefox answer when they find none.
function myIpAddress() {
  var v6 = null;
  for (var i = 0; i < __rs_my_ips.length; i++) {
    var a = __rs_my_ips[i];
    if (__rs_isLoopback(a)) continue;
    if (__rs_isIpv4(a)) return a;
    if (v6 === null) v6 = a;
  }
  return v6 !== null ? v6 : '127.0.0.1';
}
function shExpMatch(url, pattern) {
  pattern = pattern.replace(/\./g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp('^' + pattern + '$').test(url);
}
function alert(message) {
  __rs_alert(arguments.length === 0 ? 'undefined' : String(message));
}

// ---- time: evaluated at __rs_now, in local time unless "GMT" is given ----

var __rs_wdays = {SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6};
var __rs_months = {JAN: 0, FEB: 1, MAR: 2, APR: 3, MAY: 4, JUN: 5, JUL: 6, AUG: 7, SEP: 8,
                   OCT: 9, NOV: 10, DEC: 11};
function __rs_lookup(table, name) {
  name = String(name);
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : -1;
}
// Date-times are compared as "field stamps": the local (or UTC) fields of
// a moment, counted as if they were UTC. Setting one field renormalises
// the others exactly as Date's setters do (February 31 is March 3).
function __rs_fields(t) {
  var d = new Date(t);
  return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(),
          d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
}
function __rs_stamp(f) {
  var d = new Date(0);
  d.setUTCFullYear(f[0], f[1], f[2]);  // no 1900 offset for two-digit years
  d.setUTCHours(f[3], f[4], f[5], f[6]);
  return d.getTime();
}
function __rs_set(t, field, value) {
  if (isNaN(t)) return t;
  var f = __rs_fields(t);
  f[field] = Number(value);
  return isNaN(f[field]) ? NaN : __rs_stamp(f);
}
function __rs_now_stamp(gmt) {
  var d = new Date(__rs_now);
  return gmt ? __rs_now
             : __rs_stamp([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(),
                           d.getMinutes(), d.getSeconds(), d.getMilliseconds()]);
}
function __rs_between(lo, now, hi) {
  return lo <= hi ? (lo <= now && now <= hi) : (hi >= now || now >= lo);
}

function weekdayRange() {
  var argc = arguments.length;
  if (argc < 1) return false;
  var gmt = arguments[argc - 1] == 'GMT';
  if (gmt) argc--;
  var d = new Date(__rs_now);
  var wday = gmt ? d.getUTCDay() : d.getDay();
  var wd1 = __rs_lookup(__rs_wdays, arguments[0]);
  var wd2 = argc == 2 ? __rs_lookup(__rs_wdays, arguments[1]) : wd1;
  if (wd1 < 0 || wd2 < 0) return false;
  return wd1 <= wd2 ? (wd1 <= wday && wday <= wd2) : (wd2 >= wday || wday >= wd1);
}
// Each argument is a day (< 32), a month name or a year; the first half
// of the arguments sets fields of the lower bound (January 1, 00:00:00 of
// this year), the second half of the upper bound (December 31, 23:59:59).
function dateRange() {
  var argc = arguments.length;
  if (argc < 1) return false;
  var gmt = arguments[argc - 1] == 'GMT';
  if (gmt) argc--;
  var now = __rs_fields(__rs_now_stamp(gmt));
  var local = __rs_fields(__rs_now_stamp(false));
  if (argc == 1) {
    var one = parseInt(arguments[0]);
    if (isNaN(one)) return now[1] == __rs_lookup(__rs_months, arguments[0]);
    return one < 32 ? now[2] == one : now[0] == one;
  }
  var bounds = [__rs_stamp([local[0], 0, 1, 0, 0, 0, 0]),
                __rs_stamp([local[0], 11, 31, 23, 59, 59, 0])];
  var half = argc >> 1, sameMonth = false;
  for (var i = 0; i < argc; i++) {
    var b = i < half ? 0 : 1;
    var v = parseInt(arguments[i]);
    if (isNaN(v)) {
      bounds[b] = __rs_set(bounds[b], 1, __rs_lookup(__rs_months, arguments[i]));
    } else if (v < 32) {
      if (b === 0) sameMonth = argc <= 2;  // dateRange(day1, day2): this month
      bounds[b] = __rs_set(bounds[b], 2, v);
    } else {
      bounds[b] = __rs_set(bounds[b], 0, v);
    }
  }
  if (sameMonth) {
    bounds[0] = __rs_set(bounds[0], 1, local[1]);
    bounds[1] = __rs_set(bounds[1], 1, local[1]);
  }
  return __rs_between(bounds[0], __rs_stamp(now), bounds[1]);
}
// timeRange(h) / (h1, h2): by the hour, both ends included, no wrap;
// (h1, m1, h2, m2) / (h1, m1, s1, h2, m2, s2): from the first time to the
// end of the second minute (or that second), wrapping past midnight.
function timeRange() {
  var argc = arguments.length;
  if (argc < 1) return false;
  var gmt = arguments[argc - 1] == 'GMT';
  if (gmt) argc--;
  var now = __rs_now_stamp(gmt);
  var hour = __rs_fields(now)[3];
  if (argc == 1) return hour == arguments[0];
  if (argc == 2) return arguments[0] <= hour && hour <= arguments[1];
  if (argc != 4 && argc != 6) throw 'timeRange: bad number of arguments';
  // Both bounds start as the local now (its seconds kept in the 4-argument
  // form, as Netscape's code does); only the named fields change.
  var lo = __rs_now_stamp(false), hi = lo;
  var middle = argc >> 1;
  if (argc == 6) {
    lo = __rs_set(lo, 5, arguments[2]);
    hi = __rs_set(hi, 5, arguments[5]);
  }
  lo = __rs_set(__rs_set(lo, 3, arguments[0]), 4, arguments[1]);
  hi = __rs_set(__rs_set(hi, 3, arguments[middle]), 4, arguments[middle + 1]);
  if (middle == 2) hi = __rs_set(hi, 5, 59);
  return __rs_between(lo, now, hi);
}

// ---- Microsoft's IPv6-aware extensions ----

function dnsResolveEx(host) {
  if (typeof host !== 'string') return undefined;
  if (__rs_ipGroups(host)) return host;
  var answer = __rs_resolve(host, true);
  return answer === null ? '' : answer;
}
function isResolvableEx(host) {
  return dnsResolveEx(host) != '';
}
// Every address of this machine except loopback, "" when there is none.
function myIpAddressEx() {
  var out = [];
  for (var i = 0; i < __rs_my_ips.length; i++) {
    if (!__rs_isLoopback(__rs_my_ips[i])) out.push(__rs_my_ips[i]);
  }
  return out.join(';');
}
// null when the arguments are not two strings, false when either is not an
// address / prefix; an IPv4 address and an IPv6 prefix (or the reverse) are
// compared with the IPv4 one as ::ffff:a.b.c.d.
function isInNetEx(ipaddr, prefix) {
  if (typeof ipaddr !== 'string' || typeof prefix !== 'string') return null;
  var a = __rs_ipGroups(ipaddr);
  var m = /^([^\/]+)\/(\d+)$/.exec(prefix);
  if (!a || !m) return false;
  var net = __rs_ipGroups(m[1]);
  if (!net) return false;
  var bits = +m[2];
  if (bits > (net.v4 ? 32 : 128)) return false;
  if (net.v4) bits += 96;  // within ::ffff:0:0/96
  for (var i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    var mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a.g[i] & mask) !== (net.g[i] & mask)) return false;
  }
  return true;
}
// IPv6 addresses first, then IPv4, each ascending, equal ones in their
// given order; spaces and tabs are removed and empty entries skipped.
// null when the argument is not a string, false when the list is empty or
// holds something that is not an address.
function sortIpAddressList(list) {
  if (typeof list !== 'string') return null;
  var items = list.replace(/[ \t]/g, '').split(';');
  var keyed = [];
  for (var i = 0; i < items.length; i++) {
    if (items[i] === '') continue;
    var ip = __rs_ipGroups(items[i]);
    if (!ip) return false;
    var key = (ip.v4 ? '1' : '0') + ip.g.map(function (x) {
      return ('0000' + x.toString(16)).slice(-4);
    }).join('');
    keyed.push({s: items[i], k: key, n: keyed.length});
  }
  if (keyed.length === 0) return false;
  keyed.sort(function (x, y) { return x.k < y.k ? -1 : x.k > y.k ? 1 : x.n - y.n; });
  return keyed.map(function (x) { return x.s; }).join(';');
}
function getClientVersion() {
  return '1.0';
}
