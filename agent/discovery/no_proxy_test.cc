// Each source's bypass list read with that source's own rules, case by
// case. The curl cases follow curl 7.88's lib/noproxy.c (and are checked
// against the real curl binary by tests/rig/no_proxy_curl_test.cc).
#include "agent/discovery/no_proxy.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

struct Case {
  std::string list;  // entries as the source gives them, '|'-separated
  std::string host;
  uint16_t port;
  bool bypassed;
  std::string entry;  // the entry that decided, when bypassed
};

std::vector<std::string> Entries(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const size_t bar = list.find('|', start);
    out.push_back(list.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

void Check(BypassRules rules, const std::vector<Case>& cases,
           const std::vector<std::string>& addresses = {}) {
  for (const Case& c : cases) {
    BypassTarget target{c.host, c.port, addresses};
    const BypassMatch m = MatchBypass(rules, Entries(c.list), target);
    EXPECT_EQ(m.bypassed, c.bypassed) << "[" << c.list << "] host " << c.host << ":" << c.port;
    if (c.bypassed) {
      EXPECT_EQ(m.entry, c.entry) << "[" << c.list << "] host " << c.host;
    }
  }
}

TEST(CurlNoProxyTest, Curl788Semantics) {
  Check(BypassRules::kCurl, {
                                {"example.com", "example.com", 443, true, "example.com"},
                                {"example.com", "a.b.EXAMPLE.com", 443, true, "example.com"},
                                {"example.com", "badexample.com", 443, false, ""},
                                {".corp.example", "corp.example", 443, true, ".corp.example"},
                                {".corp.example", "wiki.corp.example", 443, true, ".corp.example"},
                                // curl 7.88 has no wildcard entries: "*.example.com" never matches.
                                {"*.example.com", "a.example.com", 443, false, ""},
                                {"*.example.com", "example.com", 443, false, ""},
                                // ... nor ports: "host:port" never matches the host.
                                {"relay.example:443", "relay.example", 443, false, ""},
                                // Trailing dots are ignored on both sides.
                                {"example.com.", "www.example.com", 443, true, "example.com."},
                                {"example.com", "www.example.com.", 443, true, "example.com"},
                                // IPv4: exact or CIDR.
                                {"10.0.0.0/8", "10.200.3.4", 80, true, "10.0.0.0/8"},
                                {"10.0.0.0/8", "11.0.0.1", 80, false, ""},
                                {"192.0.2.7", "192.0.2.7", 1, true, "192.0.2.7"},
                                {"192.0.2.7", "192.0.2.8", 1, false, ""},
                                {"10.0.0.0/99", "10.0.0.1", 1, false, ""},
                                // IPv6 hosts reach curl 7.88 without brackets and are compared
                                // as names: only the same text matches.
                                {"fd00::/8", "fd12::1", 443, false, ""},
                                {"::1", "::1", 443, true, "::1"},
                                {"[::1]", "::1", 443, false, ""},
                                // "*" only as the whole value.
                                {"*", "anything", 1, true, "*"},
                                {"foo|*", "anything", 1, false, ""},
                                // No "<local>" in curl.
                                {"<local>", "intranet", 80, false, ""},
                                {"", "x", 1, false, ""},
                                // Blanks separate entries as commas do.
                                {"a.example b.example", "b.example", 1, true, "b.example"},
                            });
}

TEST(CurlNoProxyTest, RawValueAsInTheEnvironment) {
  EXPECT_EQ(CurlNoProxyMatch("*", "x"), "*");
  EXPECT_EQ(CurlNoProxyMatch(" *", "x"), std::nullopt);  // not the whole value
  EXPECT_EQ(CurlNoProxyMatch("a, .corp.example ,b", "w.corp.example"), ".corp.example");
  EXPECT_EQ(CurlNoProxyMatch(",,,", "x"), std::nullopt);
  EXPECT_EQ(CurlNoProxyMatch("example.com", ""), std::nullopt);
  EXPECT_TRUE(BypassesProxy({"example.com", "10.0.0.0/8"}, "10.1.1.1", 8200));
  EXPECT_FALSE(BypassesProxy({}, "x", 1));
}

TEST(KdeNoProxyForTest, KioRules) {
  Check(BypassRules::kKde,
        {
            {"kde.org", "bugs.kde.org", 443, true, "kde.org"},
            // A plain suffix, not on a label boundary, as KIO's revmatch.
            {"kde.org", "mykde.org", 443, true, "kde.org"},
            {".kde.org", "kde.org", 443, false, ""},
            {"relay.example:8200", "relay.example", 8200, true, "relay.example:8200"},
            {"relay.example:8200", "relay.example", 443, false, ""},
            {"http://bugs.kde.org", "bugs.kde.org", 443, true, "http://bugs.kde.org"},
            {"<local>", "intranet", 443, true, "<local>"},
            {"<local>", "intranet.corp", 443, false, ""},
            {"10.0.0.0/8", "10.1.2.3", 443, true, "10.0.0.0/8"},
            {"EXAMPLE.com", "www.example.COM", 443, true, "example.com"},
        });
  // CIDR entries match a name by the address it resolves to.
  Check(BypassRules::kKde, {{"81.144.0.0/16", "emea-1.relay.example", 443, true, "81.144.0.0/16"}},
        {"81.144.208.229"});
}

TEST(KdeNoProxyForTest, ReversedExceptionProxiesOnlyTheListedHosts) {
  const std::vector<std::string> list = {"only.this"};
  EXPECT_FALSE(MatchBypass(BypassRules::kKde, list, {"only.this", 443, {}}, true).bypassed);
  const BypassMatch other = MatchBypass(BypassRules::kKde, list, {"relay.example", 443, {}}, true);
  EXPECT_TRUE(other.bypassed);
  EXPECT_EQ(other.entry, "");
}

TEST(GnomeIgnoreHostsTest, GlibRules) {
  Check(BypassRules::kGnome, {
                                 {"example.com", "example.com", 443, true, "example.com"},
                                 {"example.com", "a.example.com", 443, true, "example.com"},
                                 {"*.example.com", "example.com", 443, true, "*.example.com"},
                                 {"*.example.com", "a.b.example.com", 443, true, "*.example.com"},
                                 {".example.com", "a.example.com", 443, true, ".example.com"},
                                 {"example.com", "badexample.com", 443, false, ""},
                                 {"example.com:80", "example.com", 443, false, ""},
                                 {"example.com:443", "example.com", 443, true, "example.com:443"},
                                 {"[::1]:443", "::1", 443, true, "[::1]:443"},
                                 {"fe80::/10", "fe80::1", 443, true, "fe80::/10"},
                                 {"10.0.0.0/8", "10.2.3.4", 443, true, "10.0.0.0/8"},
                                 {"192.168.1.1", "192.168.1.1", 443, true, "192.168.1.1"},
                                 {"192.168.1.1", "192.168.1.2", 443, false, ""},
                             });
  // Names never match by address in GNOME.
  Check(BypassRules::kGnome, {{"81.144.0.0/16", "emea-1.relay.example", 443, false, ""}},
        {"81.144.208.229"});
}

TEST(WindowsProxyOverrideTest, WininetRules) {
  Check(BypassRules::kWindows,
        {
            {"*.corp.example", "wiki.corp.example", 443, true, "*.corp.example"},
            {"*.corp.example", "corp.example", 443, false, ""},
            {"corp.example", "wiki.corp.example", 443, false, ""},
            {"10.*", "10.1.2.3", 443, true, "10.*"},
            {"<local>", "intranet", 443, true, "<local>"},
            {"<local>", "intranet.corp", 443, false, ""},
            {"<local>", "10.0.0.1", 443, false, ""},
            {"a.example;*.relay.example", "emea-1.relay.EXAMPLE", 443, true, "*.relay.example"},
            {"https://*.relay.example", "emea-1.relay.example", 443, true, "*.relay.example"},
            {"http://*.relay.example", "emea-1.relay.example", 443, false, ""},
            {"relay.example:8200", "relay.example", 443, false, ""},
            {"relay.example:8200", "relay.example", 8200, true, "relay.example:8200"},
        });
}

TEST(FirefoxNoProxiesOnTest, FirefoxRules) {
  Check(BypassRules::kFirefox,
        {
            {".corp.example", "wiki.corp.example", 443, true, ".corp.example"},
            {"corp.example", "corp.example", 443, true, "corp.example"},
            {"corp.example", "wiki.corp.example", 443, true, "corp.example"},
            {"corp.example", "abc-corp.example", 443, false, ""},
            {"*.corp.example", "wiki.corp.example", 443, true, "*.corp.example"},
            {"192.168.1.0/24", "192.168.1.9", 443, true, "192.168.1.0/24"},
            {"192.168.1.0/24", "192.168.2.9", 443, false, ""},
            {"<local>", "intranet", 443, true, "<local>"},
            {"relay.example:8200", "relay.example", 443, false, ""},
            {"a.example, b.example", "b.example", 443, true, "b.example"},
            // Firefox never proxies loopback, listed or not.
            {"", "localhost", 443, true, "localhost (implicit)"},
            {"", "127.0.0.1", 443, true, "localhost (implicit)"},
            {"", "::1", 443, true, "localhost (implicit)"},
            {"", "relay.example", 443, false, ""},
        });
}

TEST(MacosExceptionsTest, GlobsAndShortNetworks) {
  Check(BypassRules::kMacos, {
                                 {"*.local", "printer.local", 443, true, "*.local"},
                                 {"169.254/16", "169.254.3.4", 443, true, "169.254/16"},
                                 {"<local>", "intranet", 443, true, "<local>"},
                                 {"*.local", "relay.example", 443, false, ""},
                             });
}

TEST(BypassRulesTest, EachSourceItsOwnRules) {
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_ENV), BypassRules::kCurl);
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_KDE), BypassRules::kKde);
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_GNOME), BypassRules::kGnome);
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_WINDOWS), BypassRules::kWindows);
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_FIREFOX), BypassRules::kFirefox);
  EXPECT_EQ(BypassRulesFor(v1::PROXY_SOURCE_MACOS), BypassRules::kMacos);
  EXPECT_EQ(BypassSettingName(BypassRules::kCurl), "no_proxy");
  // The same list, different answers: "*.corp.example" is a wildcard to
  // GNOME and Windows, nothing to curl.
  const std::vector<std::string> list = {"*.corp.example"};
  const BypassTarget target{"wiki.corp.example", 443, {}};
  EXPECT_FALSE(MatchBypass(BypassRules::kCurl, list, target).bypassed);
  EXPECT_TRUE(MatchBypass(BypassRules::kGnome, list, target).bypassed);
  EXPECT_TRUE(MatchBypass(BypassRules::kWindows, list, target).bypassed);
}

}  // namespace
}  // namespace relayscope::agent
