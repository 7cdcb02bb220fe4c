#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "agent/pac/pac_fetch.h"
#include "agent/pac/pac_result.h"
#include "agent/pac/pac_sandbox.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/testdata.h"

namespace relayscope::agent {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- the result string ----

TEST(PacResultTest, OrderedRoutesTolerantOfCaseAndSpacing) {
  PacResult r = ParsePacResult("  proxy a.corp:8080;PROXY  b.corp ;  socks5 s:1081; DIRECT  ");
  ASSERT_EQ(r.routes.size(), 4u);
  EXPECT_EQ(r.routes[0].proxy.kind, v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(r.routes[0].proxy.host, "a.corp");
  EXPECT_EQ(r.routes[0].proxy.port, 8080);
  EXPECT_EQ(r.routes[1].proxy.port, 80);  // PROXY's default port
  EXPECT_EQ(r.routes[2].proxy.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_EQ(r.routes[2].proxy.port, 1081);
  EXPECT_TRUE(r.routes[3].direct);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(PacResultTest, EveryTypeWithItsDefaultPort) {
  PacResult r =
      ParsePacResult("HTTP h; HTTPS s; SOCKS a; SOCKS4 b:9; SOCKS5 c; PROXY [2001:db8::1]:3128");
  ASSERT_EQ(r.routes.size(), 6u);
  EXPECT_EQ(r.routes[0].proxy.kind, v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(r.routes[1].proxy.kind, v1::ROUTE_KIND_HTTPS_PROXY);
  EXPECT_EQ(r.routes[1].proxy.port, 443);
  EXPECT_EQ(r.routes[2].proxy.kind, v1::ROUTE_KIND_SOCKS4);
  EXPECT_EQ(r.routes[2].proxy.port, 1080);
  EXPECT_EQ(r.routes[3].proxy.port, 9);
  EXPECT_EQ(r.routes[4].proxy.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_EQ(r.routes[5].proxy.host, "2001:db8::1");
  EXPECT_EQ(r.routes[5].proxy.port, 3128);
}

TEST(PacResultTest, UnknownAndMalformedEntriesAreWarningsNotErrors) {
  PacResult r =
      ParsePacResult("FTP f:21; PROXY; PROXY a:99999; PROXY b:80 extra; PROXY ok:1; DIRECT x");
  ASSERT_EQ(r.routes.size(), 2u);
  EXPECT_EQ(r.routes[0].proxy.host, "ok");
  EXPECT_TRUE(r.routes[1].direct);
  EXPECT_EQ(r.warnings.size(), 5u);
  EXPECT_THAT(r.warnings[0], HasSubstr("unknown type \"FTP\""));
  EXPECT_TRUE(ParsePacResult("").routes[0].direct);  // empty means DIRECT
  EXPECT_TRUE(ParsePacResult(" ; ; ").routes[0].direct);
  EXPECT_TRUE(ParsePacResult("garbage").routes.empty());  // the caller still tries DIRECT
}

// ---- evaluation ----

PacOptions TestOptions() {
  PacOptions options;
  options.resolve = [](const std::string& host, bool all) -> std::vector<std::string> {
    static const std::map<std::string, std::vector<std::string>> kZone = {
        {"intranet.corp.example", {"10.20.30.40"}},
        {"relay.example", {"203.0.113.7"}},
        {"dual.example", {"198.51.100.1", "2001:db8::7"}},
    };
    auto it = kZone.find(host);
    if (it == kZone.end()) return {};
    std::vector<std::string> out;
    for (const std::string& a : it->second) {
      if (all || a.find(':') == std::string::npos) out.push_back(a);
    }
    return out;
  };
  options.my_addresses = {"10.1.2.3", "fd00::3", "127.0.0.1"};
  // Wednesday 2026-11-25 14:30:15 UTC.
  options.now = absl::FromCivil(absl::CivilSecond(2026, 11, 25, 14, 30, 15), absl::UTCTimeZone());
  return options;
}

std::string EvalOne(const std::string& script, const std::string& url, const std::string& host) {
  auto result = EvaluatePac(script, {{url, host}}, TestOptions());
  if (!result.ok()) return "status: " + std::string(result.status().message());
  if (!result->answers[0].result.ok()) {
    return "error: " + std::string(result->answers[0].result.status().message());
  }
  return *result->answers[0].result;
}

// Each helper expression evaluated through a PAC that returns it as text.
TEST(PacHelpersTest, DocumentedSemantics) {
  const std::string script = "function FindProxyForURL(url, host) { return String(eval(host)); }";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"isPlainHostName('www')", "true"},
      {"isPlainHostName('www.corp')", "false"},
      {"dnsDomainIs('www.corp.example', '.corp.example')", "true"},
      {"dnsDomainIs('www', '.corp.example')", "false"},
      {"localHostOrDomainIs('www', 'www.corp.example')", "true"},
      {"localHostOrDomainIs('www.corp.example', 'www.corp.example')", "true"},
      {"localHostOrDomainIs('www.other.example', 'www.corp.example')", "false"},
      {"dnsDomainLevels('www')", "0"},
      {"dnsDomainLevels('a.b.c')", "2"},
      {"shExpMatch('http://x.corp/a/b', '*/a/*')", "true"},
      {"shExpMatch('x.corp', '?.corp')", "true"},
      {"shExpMatch('xy.corp', '?.corp')", "false"},
      {"shExpMatch('a.b', 'a+b')", "false"},  // '+' is literal, '.' is literal
      {"dnsResolve('intranet.corp.example')", "10.20.30.40"},
      {"dnsResolve('nowhere.example')", "null"},
      {"isResolvable('relay.example')", "true"},
      {"isResolvable('nowhere.example')", "false"},
      {"isInNet('10.20.30.40', '10.20.0.0', '255.255.0.0')", "true"},
      {"isInNet('10.21.30.40', '10.20.0.0', '255.255.0.0')", "false"},
      {"isInNet('10.20.30.40', '10.20.30.40', '255.255.255.255')", "true"},
      {"isInNet('10.20.30.41', '10.20.30.40', '255.255.255.255')", "false"},
      {"isInNet('192.168.1.1', '0.0.0.0', '0.0.0.0')", "true"},
      {"isInNet('intranet.corp.example', '10.0.0.0', '255.0.0.0')", "true"},  // resolves
      {"isInNet('10.1.1.1', '10.0.0.0', '255.0.0')", "false"},                // malformed mask
      {"myIpAddress()", "10.1.2.3"},
      {"myIpAddressEx()", "10.1.2.3;fd00::3"},  // loopback excluded
      {"dnsResolveEx('dual.example')", "198.51.100.1;2001:db8::7"},
      {"isResolvableEx('nowhere.example')", "false"},
      {"isInNetEx('198.51.100.9', '198.51.100.0/24')", "true"},
      {"isInNetEx('198.51.101.9', '198.51.100.0/24')", "false"},
      {"isInNetEx('2001:db8::7', '2001:db8::/32')", "true"},
      {"isInNetEx('2001:db9::7', '2001:db8::/32')", "false"},
      {"isInNetEx('::ffff:10.0.0.1', '::ffff:10.0.0.0/120')", "true"},
      {"sortIpAddressList('10.2.0.1;2001:db8::2;10.1.0.1;2001:db8::1')",
       "2001:db8::1;2001:db8::2;10.1.0.1;10.2.0.1"},
      {"sortIpAddressList('not-an-ip')", "false"},
      {"getClientVersion()", "1.0"},
      // Now is Wednesday 2026-11-25 14:30:15 UTC.
      {"weekdayRange('WED', 'GMT')", "true"},
      {"weekdayRange('MON', 'FRI', 'GMT')", "true"},
      {"weekdayRange('SAT', 'SUN', 'GMT')", "false"},
      {"weekdayRange('FRI', 'MON', 'GMT')", "false"},  // wraps over the weekend
      {"weekdayRange('TUE', 'MON', 'GMT')", "true"},   // wraps, includes WED
      {"weekdayRange('XYZ', 'GMT')", "false"},
      {"dateRange(25, 'GMT')", "true"},
      {"dateRange('NOV', 'GMT')", "true"},
      {"dateRange(2026, 'GMT')", "true"},
      {"dateRange(1, 24, 'GMT')", "false"},
      {"dateRange('OCT', 'DEC', 'GMT')", "true"},
      {"dateRange('DEC', 'FEB', 'GMT')", "false"},  // wraps over new year
      {"dateRange(1, 'NOV', 30, 'NOV', 'GMT')", "true"},
      {"dateRange(1, 'NOV', 2026, 24, 'NOV', 2026, 'GMT')", "false"},
      {"dateRange('NOV', 2025, 'JAN', 2027, 'GMT')", "true"},
      {"timeRange(14, 'GMT')", "true"},
      {"timeRange(9, 17, 'GMT')", "true"},
      {"timeRange(15, 17, 'GMT')", "false"},
      {"timeRange(22, 15, 'GMT')", "false"},  // the hour form never wraps
      {"timeRange(14, 30, 14, 31, 'GMT')", "true"},
      {"timeRange(14, 31, 15, 0, 'GMT')", "false"},
      {"timeRange(14, 30, 0, 14, 30, 15, 'GMT')", "true"},  // end second included
      {"timeRange(14, 30, 0, 14, 30, 16, 'GMT')", "true"},
  };
  for (const auto& [expression, expected] : cases) {
    EXPECT_EQ(EvalOne(script, "https://x/", expression), expected) << expression;
  }
}

// Chromium's semantics for each helper (the behaviours its
// pac_library_unittest and proxy_resolver_v8 bindings document), with our
// own cases, and each place where we used to differ.
TEST(PacHelpersTest, ChromiumSemantics) {
  // Local time = UTC in the sandbox child; the test is single-threaded.
  setenv("TZ", "UTC", 1);  // NOLINT(concurrency-mt-unsafe)
  const std::string script = "function FindProxyForURL(url, host) { return String(eval(host)); }";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // isPlainHostName: IP literals are not plain; only strings allowed.
      {"isPlainHostName('intranet')", "true"},
      {"isPlainHostName('10.0.0.1')", "false"},
      {"isPlainHostName('::1')", "false"},
      {"isPlainHostName('::10.0.0.1')", "false"},
      {"isPlainHostName('2001:db8::1')", "false"},
      {"isPlainHostName('relay::1')", "true"},  // not an IPv6 literal
      {"isPlainHostName('intranet:8080')", "true"},
      {"isPlainHostName('[::1]')", "true"},  // brackets make it no literal
      {"isPlainHostName('a', 'b.c')", "true"},
      {"(function(){try{isPlainHostName(); return 'no throw'}catch(e){return String(e)}})()",
       "TypeError: Requires 1 string parameter"},
      {"(function(){try{isPlainHostName(42); return 'no throw'}catch(e){return String(e)}})()",
       "TypeError: Requires 1 string parameter"},
      {"(function(){try{isPlainHostName(null); return 'no throw'}catch(e){return String(e)}})()",
       "TypeError: Requires 1 string parameter"},
      // shExpMatch: only '.', '*' and '?' are rewritten.
      {"shExpMatch('a.com', '(*.a.com|a.com)')", "true"},
      {"shExpMatch('www.a.com', '(*.a.com|a.com)')", "true"},
      {"shExpMatch('xa.com', '(*.a.com|a.com)')", "false"},
      {"shExpMatch('b.corp', '[ab].corp')", "true"},
      {"shExpMatch('c.corp', '[ab].corp')", "false"},
      {"shExpMatch('photo.png', '*.png')", "true"},
      {"shExpMatch('photo.png', '.png')", "false"},
      {"shExpMatch('ab1.png', '*b?.png')", "true"},
      {"shExpMatch('photo.png', 'photo')", "false"},
      {"shExpMatch('axb', 'a.b')", "false"},  // '.' is literal
      // dnsDomainIs / localHostOrDomainIs / dnsDomainLevels.
      {"dnsDomainIs('mail.example.org', '.org')", "true"},
      {"dnsDomainIs('mail.example.org', '.example.org')", "true"},
      {"dnsDomainIs('mail.example.org', '.co.uk')", "false"},
      {"dnsDomainIs('www.corp.example', '.CORP.example')", "false"},  // case-sensitive
      {"dnsDomainIs('www.example.com', '.ex')", "false"},
      {"localHostOrDomainIs('mail', 'mail.example.org')", "true"},
      {"localHostOrDomainIs('mail.example', 'mail.example.org')", "true"},  // prefix + '.'
      {"localHostOrDomainIs('maps.example.org', 'mail.example.org')", "false"},
      {"dnsDomainLevels('10.0.0.1')", "3"},
      // convert_addr: the signed 32-bit value.
      {"convert_addr('10.0.0.1')", "167772161"},
      {"convert_addr('192.168.1.1')", "-1062731519"},
      {"isValidIpAddress('10.0.0.256')", "false"},
      // isInNet: pattern and mask must be addresses; the host is resolved.
      {"isInNet('172.16.5.9', '172.16.5.9', '255.255.255.255')", "true"},
      {"isInNet('172.16.5.10', '172.16.5.9', '255.255.255.255')", "false"},
      {"isInNet('172.16.5.a', '172.16.0.0', '255.255.0.0')", "false"},
      {"isInNet('relay.example', '203.0.113.0', '255.255.255.0')", "true"},
      {"isInNet('nowhere.example', '0.0.0.0', '0.0.0.0')", "false"},
      // dnsResolve / dnsResolveEx / isResolvableEx on odd arguments.
      {"dnsResolve(42)", "null"},
      {"dnsResolve('198.51.100.4')", "198.51.100.4"},
      {"dnsResolveEx(42)", "undefined"},
      {"dnsResolveEx('2001:db8::9')", "2001:db8::9"},
      {"dnsResolveEx('nowhere.example')", ""},
      {"isResolvableEx('dual.example')", "true"},
      // sortIpAddressList: IPv6 first, stable, false on bad input.
      {"sortIpAddressList('::3;::1;::2')", "::1;::2;::3"},
      {"sortIpAddressList('198.51.100.1;2001:db8::5;fe80::1')", "2001:db8::5;fe80::1;198.51.100.1"},
      {"sortIpAddressList('10.0.0.1;0:0::2')", "0:0::2;10.0.0.1"},  // not rewritten
      {"sortIpAddressList('0:0::7;::7;0::7')", "0:0::7;::7;0::7"},  // stable
      {"sortIpAddressList(';10.0.0.1;')", "10.0.0.1"},
      {"sortIpAddressList('10.0.0.2;\t 10.0.0.1; 10.0.0.3')", "10.0.0.1;10.0.0.2;10.0.0.3"},
      {"sortIpAddressList('')", "false"},
      {"sortIpAddressList(' ; ; ')", "false"},
      {"sortIpAddressList('300.0.0.1')", "false"},
      {"sortIpAddressList('10.0.0.1;1:2:3:4')", "false"},
      {"sortIpAddressList()", "null"},
      {"sortIpAddressList(null)", "null"},
      // isInNetEx: null without two strings, false on a bad address or prefix.
      {"isInNetEx('198.51.100.1', '198.51.7.7/16')", "true"},
      {"isInNetEx('0:0:0:0:0:0:a00:1', '0:0:0:0:0:0:a00:1/32')", "true"},
      {"isInNetEx('2001:db8:1:2::1', '2001:db8:1::/48')", "true"},
      {"isInNetEx('2001:db9:1:2::1', '2001:db8:1::/48')", "false"},
      {"isInNetEx('10.0.0.1', '0:0:0:0:0:0:a00:1/16')", "true"},  // as ::ffff:10.0.0.1
      {"isInNetEx('10.0.0.1', 'fe80::a00:1/32')", "false"},
      {"isInNetEx('::ffff:172.16.9.9', '172.16.0.0/12')", "true"},
      {"isInNetEx('::fffe:172.16.9.9', '172.16.0.0/12')", "false"},
      {"isInNetEx('172.16.9.9', '::ffff:172.16.0.0/108')", "true"},
      {"isInNetEx()", "null"},
      {"isInNetEx('10.0.0.1')", "null"},
      {"isInNetEx(null, null)", "null"},
      {"isInNetEx('300.0.0.1', '10.0.0.0/8')", "false"},
      {"isInNetEx('10.0.0.1 ', '10.0.0.0/8')", "false"},
      {"isInNetEx('10.0.0.1', '10.0.0.0/33')", "false"},
      {"isInNetEx('10.0.0.1', '10.0.0.1')", "false"},
      // Now is Wednesday 2026-11-25 14:30:15 (UTC, local and GMT alike).
      {"weekdayRange('WED')", "true"},
      {"weekdayRange('SAT', 'WED')", "true"},  // wraps over the weekend
      {"weekdayRange('THU', 'TUE')", "false"},
      {"weekdayRange('wed')", "false"},  // case-sensitive
      {"weekdayRange('MON', 'FRI', 'GMT')", "true"},
      {"dateRange(25)", "true"},
      {"dateRange(24)", "false"},
      {"dateRange(20, 26)", "true"},
      {"dateRange(26, 30)", "false"},
      {"dateRange(25, 'NOV')", "true"},
      {"dateRange(3, 'NOV', 2026)", "true"},
      {"dateRange(3, 'MAR', 2026)", "false"},
      {"dateRange('NOV', 'OCT')", "true"},  // wraps over new year
      {"dateRange('DEC', 'OCT')", "false"},
      {"dateRange('nov')", "false"},  // case-sensitive
      {"dateRange(1, 'NOV', 30, 'NOV')", "true"},
      {"dateRange(26, 'NOV', 24, 'NOV')", "false"},  // wraps: all but 25 Nov..
      {"dateRange(1, 'NOV', 2026, 24, 'NOV', 2026, 'GMT')", "false"},
      {"dateRange('NOV', 2025, 'JAN', 2027)", "true"},
      {"timeRange(14)", "true"},
      {"timeRange(9, 14)", "true"},  // the end hour counts whole
      {"timeRange(15, 17)", "false"},
      {"timeRange(14, 30, 14, 30)", "true"},  // the end minute counts whole
      {"timeRange(14, 0, 14, 29)", "false"},
      {"timeRange(22, 0, 14, 30)", "true"},  // wraps past midnight
      {"timeRange(14, 30, 15, 14, 30, 15)", "true"},
      {"timeRange(14, 30, 0, 14, 30, 14)", "false"},
      {"timeRange(23, 0, 0, 14, 30, 15)", "true"},
      {"(function(){try{return timeRange(1, 2, 3)}catch(e){return String(e)}})()",
       "timeRange: bad number of arguments"},
      {"(function(){alert(); return 'ok'})()", "ok"},
  };
  for (const auto& [expression, expected] : cases) {
    EXPECT_EQ(EvalOne(script, "https://x/", expression), expected) << expression;
  }
  // A pattern that is no valid RegExp throws, as in the browser.
  EXPECT_THAT(EvalOne(script, "https://x/", "shExpMatch('a', 'a(')"),
              HasSubstr("threw: SyntaxError"));
}

TEST(PacHelpersTest, MyIpAddressWithOnlyLoopback) {
  PacOptions options = TestOptions();
  options.my_addresses = {"127.0.0.1", "::1"};
  auto result = EvaluatePac(
      "function FindProxyForURL(u, h) { return myIpAddress() + '|' + myIpAddressEx(); }",
      {{"https://r/", "r"}}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "127.0.0.1|");
  options.my_addresses = {"fd00::8", "127.0.0.1"};
  result = EvaluatePac("function FindProxyForURL(u, h) { return myIpAddress(); }",
                       {{"https://r/", "r"}}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "fd00::8");
}

// A corporate PAC: intranet direct, split by domain and subnet, relays
// through a load-balanced pair with a SOCKS fallback.
std::string CorporatePac() { return test::ReadTestdata("agent/pac/testdata/corporate.pac"); }

TEST(PacEvaluateTest, CorporateSplitAndLoadBalancedFallbacks) {
  auto result = EvaluatePac(CorporatePac(),
                            {{"https://relay.example:443/", "relay.example"},
                             {"https://wiki.corp.example/", "wiki.corp.example"},
                             {"https://intranet.corp.example/", "intranet.corp.example"},
                             {"http://elsewhere.example/", "elsewhere.example"}},
                            TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->answers.size(), 4u);
  // myIpAddress() is 10.1.2.3: odd, px1 first.
  EXPECT_EQ(*result->answers[0].result,
            "PROXY px1.corp.example:8080; PROXY px2.corp.example:8080; SOCKS5 "
            "socks.corp.example:1080");
  EXPECT_EQ(*result->answers[1].result, "DIRECT");
  EXPECT_EQ(*result->answers[2].result, "DIRECT");
  EXPECT_EQ(*result->answers[3].result, "PROXY px1.corp.example:8080; DIRECT");
  PacResult routes = ParsePacResult(*result->answers[0].result);
  ASSERT_EQ(routes.routes.size(), 3u);
  EXPECT_EQ(routes.routes[2].proxy.kind, v1::ROUTE_KIND_SOCKS5);
}

TEST(PacEvaluateTest, PrefersFindProxyForURLExAndCollectsAlerts) {
  auto result = EvaluatePac(
      "function FindProxyForURL(u, h) { return 'PROXY old:1'; }\n"
      "function FindProxyForURLEx(u, h) { alert('evaluating ' + h); return 'PROXY new:2'; }",
      {{"https://r/", "r"}}, TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "PROXY new:2");
  EXPECT_THAT(result->alerts, ElementsAre("evaluating r"));
}

// ---- hostile and broken PAC files ----

TEST(PacHostileTest, EndlessLoopIsStoppedWithinTheTimeLimit) {
  const absl::Time start = absl::Now();
  auto result = EvaluatePac("function FindProxyForURL(u, h) { while (true) {} }",
                            {{"https://r/", "r"}}, TestOptions());
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("longer than 1s"));
  EXPECT_LT(took, absl::Milliseconds(1500));
}

TEST(PacHostileTest, EndlessLoopAtLoadTimeToo) {
  auto result = EvaluatePac("for (;;) {}", {{"https://r/", "r"}}, TestOptions());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(PacHostileTest, UnboundedAllocationIsStoppedAtTheMemoryLimit) {
  auto result = EvaluatePac(
      "var hoard = []; function FindProxyForURL(u, h) {"
      "  var s = 'x'; for (;;) { s = s + s; hoard.push(s); } }",
      {{"https://r/", "r"}}, TestOptions());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("more than 64 MB"));
}

TEST(PacHostileTest, DeepRecursionIsAnErrorForThatQuery) {
  auto result = EvaluatePac(
      "function f(n) { return f(n + 1) + 1; }\n"
      "function FindProxyForURL(u, h) { return f(0); }",
      {{"https://r/", "r"}}, TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->answers[0].result.status().message(), HasSubstr("threw: RangeError"));
}

TEST(PacHostileTest, NoFileNetworkOrModuleApisExist) {
  const std::string script = "function FindProxyForURL(url, host) { return String(eval(host)); }";
  for (const char* probe : {"typeof XMLHttpRequest", "typeof require", "typeof process",
                            "typeof fetch", "typeof Duktape.modSearch", "typeof print"}) {
    EXPECT_EQ(EvalOne(script, "https://x/", probe), "undefined") << probe;
  }
  EXPECT_THAT(EvalOne(script, "https://x/", "new XMLHttpRequest()"),
              HasSubstr("threw: ReferenceError"));
  EXPECT_THAT(EvalOne(script, "https://x/", "require('fs').readFileSync('/etc/passwd')"),
              HasSubstr("threw: ReferenceError"));
}

TEST(PacHostileTest, BrokenScriptsGiveClearErrors) {
  EXPECT_THAT(EvalOne("<html>not javascript</html>", "https://r/", "r"),
              HasSubstr("status: the PAC file does not run: SyntaxError"));
  EXPECT_THAT(EvalOne("var x = 1;", "https://r/", "r"), HasSubstr("defines no FindProxyForURL"));
  EXPECT_THAT(
      EvalOne("function FindProxyForURL(u, h) { throw new Error('boom'); }", "https://r/", "r"),
      HasSubstr("threw: Error: boom"));
  EXPECT_THAT(EvalOne("function FindProxyForURL(u, h) { return 42; }", "https://r/", "r"),
              HasSubstr("returned a non-string"));
  EXPECT_THAT(EvalOne("function FindProxyForURL(u, h) { return null; }", "https://r/", "r"),
              HasSubstr("returned nothing"));
  const std::string huge(kMaxPacBytes + 1, ' ');
  EXPECT_THAT(EvalOne(huge, "https://r/", "r"), HasSubstr("larger than 8 MB"));
}

// ---- decoding, error naming and limits ----

TEST(PacDecodeTest, Latin1PacWithoutCharsetIsEvaluated) {
  // A Microsoft ISA/CARP-style script whose comments are ISO-8859-1.
  const std::string latin1 =
      "// Proxy-Konfiguration f\xfcr M\xfcnchen \xa9 IT-Abteilung\n"
      "function FindProxyForURL(url, host) {\n"
      "  /* Caf\xe9 */ return 'PROXY isa.corp.example:8080';\n"
      "}\n";
  auto result = EvaluatePac(latin1, {{"https://r/", "r"}}, TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "PROXY isa.corp.example:8080");
  // Latin-1 in a string literal is read as the characters it stands for.
  auto text = EvaluatePac("function FindProxyForURL(u, h) { return String('\xe9'.charCodeAt(0)); }",
                          {{"https://r/", "r"}}, TestOptions());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text->answers[0].result, "233");
}

TEST(PacDecodeTest, Latin1FixtureIsAnsweredForThreeRelays) {
  const std::string script = test::ReadTestdata("agent/pac/testdata/latin1.pac");
  ASSERT_NE(script.find('\xfc'), std::string::npos);  // really Latin-1 on disk
  auto result = EvaluatePac(script,
                            {{"https://amer.relay.example:443/", "amer.relay.example"},
                             {"https://wiki.corp.example/", "wiki.corp.example"},
                             {"https://apac.relay.example:443/", "apac.relay.example"}},
                            TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "PROXY isa.corp.example:8080; DIRECT");
  EXPECT_EQ(*result->answers[1].result, "DIRECT");
  EXPECT_EQ(*result->answers[2].result, "PROXY isa.corp.example:8080; DIRECT");
}

TEST(PacDecodeTest, Utf8StaysUtf8AndItsBomIsDropped) {
  auto result = EvaluatePac(
      "\xEF\xBB\xBF// M\xC3\xBCnchen\nfunction FindProxyForURL(u, h) {"
      " return String('\xC3\xA9'.length) + String('\xC3\xA9'.charCodeAt(0)); }",
      {{"https://r/", "r"}}, TestOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "1233");
}

TEST(PacErrorTest, NewerJavaScriptIsNamedWithItsLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"var a = 1;\nvar f = (x) => x;\nfunction FindProxyForURL(u, h) { return 'DIRECT'; }",
       "(an arrow function (`=>`) at line 2)"},
      {"// header\n\nvar direct = `DIRECT`;\nfunction FindProxyForURL(u, h) { return direct; }",
       "(a template literal (`...`) at line 3)"},
      {"function FindProxyForURL(u, h) {\n  let p = 'DIRECT';\n  return p;\n}",
       "(`let` at line 2)"},
      {"var hosts = ['a', 'b'];\nvar more = [...hosts, 'c'];\n"
       "function FindProxyForURL(u, h) { return 'DIRECT'; }",
       "(spread or rest (`...`) at line 2)"},
      {"class Rules {}\nfunction FindProxyForURL(u, h) { return 'DIRECT'; }",
       "(a class at line 1)"},
  };
  for (const auto& [script, construct] : cases) {
    auto result = EvaluatePac(script, {{"https://r/", "r"}}, TestOptions());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << script;
    EXPECT_THAT(result.status().message(), HasSubstr("uses JavaScript newer than ES5 " + construct))
        << script;
    EXPECT_THAT(result.status().message(), HasSubstr("like Windows' own")) << script;
  }
  // A plain syntax error is not blamed on ES2015; "=>" in a string or a
  // comment is not code.
  auto plain = EvaluatePac("// a => b\nvar s = '`...`';\nfunction FindProxyForURL(u, h) {",
                           {{"https://r/", "r"}}, TestOptions());
  EXPECT_THAT(plain.status().message(), HasSubstr("the PAC file does not run: SyntaxError"));
}

TEST(PacErrorTest, TooManyConstantsInOneFunctionIsNamed) {
  std::string script = "var rules = {";
  for (int i = 0; i < 40000; ++i)
    script += "'host" + std::to_string(i) + ".example': 'p" + std::to_string(i) + "', ";
  script += "x: 1};\nfunction FindProxyForURL(u, h) { return 'DIRECT'; }";
  ASSERT_LT(script.size(), kMaxPacBytes);
  auto result = EvaluatePac(script, {{"https://r/", "r"}}, TestOptions());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("too many constants in one function"));
  EXPECT_THAT(result.status().message(), HasSubstr("65,535"));
}

TEST(PacErrorTest, OneGigabyteAllocationIsNamedAsMemory) {
  for (const char* script : {
           "var big = new ArrayBuffer(1 << 30); function FindProxyForURL(u, h) { return 'DIRECT'; "
           "}",
           "function FindProxyForURL(u, h) { var b = new ArrayBuffer(1 << 30); return 'DIRECT'; }",
           // Catching the failure and spinning on is still a memory problem.
           "function FindProxyForURL(u, h) {"
           "  try { var b = new ArrayBuffer(1 << 30); } catch (e) {} for (;;) {} }",
       }) {
    auto result = EvaluatePac(script, {{"https://r/", "r"}}, TestOptions());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << script;
    EXPECT_THAT(result.status().message(), HasSubstr("more than 64 MB of memory")) << script;
    EXPECT_THAT(result.status().message(), Not(HasSubstr("endless loop"))) << script;
  }
}

TEST(PacErrorTest, GigabyteArrayFilledUntilTheTimeRunsOutIsNamedAsMemory) {
  // 2^27 numbers (1 GB) stored one by one: the heap grows slowly, so the
  // time may run out before the heap cap is reached.
  PacOptions options = TestOptions();
  options.time_limit = absl::Seconds(2);
  auto result = EvaluatePac(
      "var a = new Array(1 << 27); for (var i = 0; i < a.length; i++) a[i] = i;\n"
      "function FindProxyForURL(u, h) { return 'DIRECT'; }",
      {{"https://r/", "r"}}, options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
  // Whether the cap or the clock comes first depends on the machine: both
  // must read as memory.
  EXPECT_THAT(result.status().message(),
              AnyOf(HasSubstr("still allocating memory"), HasSubstr("more than 64 MB of memory")));
  EXPECT_THAT(result.status().message(), Not(HasSubstr("endless loop")));
}

// A gfwlist-style PAC: 16,000 shExpMatch rules walked for every query.
std::string LongRuleListPac(int rules) {
  std::string script = "function FindProxyForURL(url, host) {\n";
  for (int i = 0; i < rules; ++i) {
    script += "  if (shExpMatch(host, '*.blocked" + std::to_string(i) +
              ".example')) return 'PROXY gw.corp.example:3128';\n";
  }
  script += "  return 'DIRECT';\n}\n";
  return script;
}

// ASan and UBSan slow Duktape down several times: a budget a release
// build meets with room to spare is scaled by this in the sanitized build.
int SanitizerSlowdown() {
#if defined(__SANITIZE_ADDRESS__)
  return 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 4;
#endif
#endif
  return 1;
}

TEST(PacLimitsTest, SixteenThousandRulesAreAnsweredForThreeRelays) {
  const std::string script = LongRuleListPac(16000);
  PacOptions options = TestOptions();
  options.time_limit *= SanitizerSlowdown();
  auto result = EvaluatePac(script,
                            {{"https://amer.relay.example:443/", "amer.relay.example"},
                             {"https://x.blocked15999.example:443/", "x.blocked15999.example"},
                             {"https://apac.relay.example:443/", "apac.relay.example"}},
                            options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "DIRECT");
  EXPECT_EQ(*result->answers[1].result, "PROXY gw.corp.example:3128");  // the last rule
  EXPECT_EQ(*result->answers[2].result, "DIRECT");
  for (const PacAnswer& answer : result->answers) EXPECT_TRUE(answer.warnings.empty());
  // Each query ran within its own 1 s (an over-run would be the status),
  // and the load within its 1 s + 1 s per MB of script.
  EXPECT_GT(script.size(), size_t{1} << 20);
}

TEST(PacLimitsTest, EachQueryHasItsOwnTimeBudget) {
  // Every query takes ~0.6 s: together longer than one budget, each within it.
  PacOptions options = TestOptions();
  auto result = EvaluatePac(
      "function FindProxyForURL(u, h) {"
      "  var end = Date.now() + 600; while (Date.now() < end) {} return 'DIRECT'; }",
      {{"https://a/", "a"}, {"https://b/", "b"}, {"https://c/", "c"}}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->answers.size(), 3u);
  // One query that never ends fails alone, named by its URL; the queries
  // before and after it are answered, as a browser answers each URL.
  auto looping = EvaluatePac(
      "function FindProxyForURL(u, h) { if (h == 'b') for (;;) {} return 'PROXY p:' + h.length; }",
      {{"https://a/", "a"}, {"https://b/", "b"}, {"https://cc/", "cc"}}, options);
  ASSERT_TRUE(looping.ok()) << looping.status();
  ASSERT_EQ(looping->answers.size(), 3u);
  EXPECT_EQ(looping->answers[0].result.value_or(""), "PROXY p:1");
  EXPECT_EQ(looping->answers[1].result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(looping->answers[1].result.status().message(),
              HasSubstr("longer than 1s for https://b/"));
  EXPECT_EQ(looping->answers[2].result.value_or(""), "PROXY p:2");
  // Two stuck queries in a row spoil the script: the first is named, and
  // the rest are not tried one sandbox each.
  const absl::Time start = absl::Now();
  auto stuck = EvaluatePac(
      "function FindProxyForURL(u, h) { if (h != 'a') for (;;) {} return 'DIRECT'; }",
      {{"https://a/", "a"}, {"https://b/", "b"}, {"https://c/", "c"}, {"https://d/", "d"}},
      options);
  EXPECT_EQ(stuck.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(stuck.status().message(), HasSubstr("longer than 1s for https://b/"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  // The overall bound still holds.
  options.total_time_limit = absl::Milliseconds(900);
  auto bounded = EvaluatePac(
      "function FindProxyForURL(u, h) {"
      "  var end = Date.now() + 600; while (Date.now() < end) {} return 'DIRECT'; }",
      {{"https://a/", "a"}, {"https://b/", "b"}}, options);
  EXPECT_EQ(bounded.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(bounded.status().message(), HasSubstr("for 2 queries together"));
}

TEST(PacLimitsTest, AHostAskedTwiceIsLookedUpOnce) {
  PacOptions options = TestOptions();
  auto zone = options.resolve;
  auto lookups = std::make_shared<std::map<std::string, int>>();
  options.resolve = [zone, lookups](const std::string& host, bool all) {
    ++(*lookups)[host];
    return zone(host, all);
  };
  auto result = EvaluatePac(
      "function FindProxyForURL(u, h) {"
      "  return isInNet(dnsResolve('relay.example'), '203.0.113.0', '255.255.255.0') &&"
      "         isResolvable('relay.example') ? 'PROXY p:1' : 'DIRECT'; }",
      {{"https://a/", "a"}, {"https://b/", "b"}, {"https://c/", "c"}}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const PacAnswer& answer : result->answers) EXPECT_EQ(*answer.result, "PROXY p:1");
  EXPECT_EQ((*lookups)["relay.example"], 1);
}

TEST(PacLimitsTest, LookupBudgetIsPerQueryAndItsUseIsAWarning) {
  PacOptions options = TestOptions();
  options.max_resolves = 2;
  options.resolve = [](const std::string& host, bool) -> std::vector<std::string> {
    return {host.rfind('q', 0) == 0 ? "10.9.9.9" : "203.0.113.1"};
  };
  // Each query resolves three hosts of its own: the third is past the
  // budget, so it is null and the answer says so.
  auto result = EvaluatePac(
      "function FindProxyForURL(u, h) {"
      "  return [dnsResolve(h + '1.example'), dnsResolve(h + '2.example'),"
      "          dnsResolve(h + '3.example')].join(','); }",
      {{"https://qa/", "qa"}, {"https://qb/", "qb"}}, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result->answers[0].result, "10.9.9.9,10.9.9.9,");
  EXPECT_EQ(*result->answers[1].result, "10.9.9.9,10.9.9.9,");  // its own budget
  for (const PacAnswer& answer : result->answers) {
    ASSERT_EQ(answer.warnings.size(), 1u);
    EXPECT_THAT(answer.warnings[0], HasSubstr("was not looked up"));
    EXPECT_THAT(answer.warnings[0], HasSubstr("2 DNS lookups for this query"));
  }
  EXPECT_THAT(result->answers[0].warnings[0], HasSubstr("dnsResolve(\"qa3.example\")"));
  EXPECT_THAT(result->answers[1].warnings[0], HasSubstr("dnsResolve(\"qb3.example\")"));
}

// file:// URLs as the platform's browsers read them: the forms Windows
// Internet Settings hold (drive letters with and without the slash, UNC
// shares, %20) and the POSIX ones.
TEST(PacFetchTest, FileUrlsNameTheLocalPathAsBrowsersReadThem) {
  EXPECT_EQ(LocalPathOfFileUrl("file:///etc/proxy.pac", false), "/etc/proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file://localhost/etc/proxy.pac", false), "/etc/proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:///srv/my%20pac/proxy.pac", false), "/srv/my pac/proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:///srv/100%/p.pac", false), "/srv/100%/p.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:///C:/proxy/proxy.pac", true), "C:\\proxy\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file://C:/proxy.pac", true), "C:\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:///C|/proxy.pac", true), "C:\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:///C:/Program%20Files/corp/proxy.pac", true),
            "C:\\Program Files\\corp\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file://fileserver/netlogon/proxy.pac", true),
            "\\\\fileserver\\netlogon\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file:////fileserver/netlogon/proxy.pac", true),
            "\\\\fileserver\\netlogon\\proxy.pac");
  EXPECT_EQ(LocalPathOfFileUrl("file://localhost/C:/proxy.pac", true), "C:\\proxy.pac");
}

TEST(PacFetchTest, LocalFilesWithinTheLimitAndA100MbFileRefused) {
  const std::string dir = ::testing::TempDir();
  const std::string small = dir + "/small.pac";
  {
    FILE* f = std::fopen(small.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("function FindProxyForURL(u, h) { return 'DIRECT'; }", f);
    std::fclose(f);
  }
  auto text = FetchPac("file://" + small);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("FindProxyForURL"));

  const std::string huge = dir + "/huge.pac";  // sparse: costs no disk
  const int fd = open(huge.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 100 << 20), 0);
  close(fd);
  auto refused = FetchPac("file://" + huge);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("larger than 8 MB"));
  std::filesystem::remove(huge);

  EXPECT_EQ(FetchPac("ftp://x/p.pac").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FetchPac("file:///nonexistent/p.pac").status().code(), absl::StatusCode::kNotFound);
  // Nothing listens on port 1 of loopback.
  EXPECT_EQ(FetchPac("http://127.0.0.1:1/p.pac").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace relayscope::agent
