#include "agent/discovery/sources.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/discovery/windows_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/testdata.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---- environment ----

TEST(EnvironmentTest, LowerCaseWinsAndNoProxyApplies) {
  DiscoveryResult r = ParseEnvironment({{"http_proxy", "http://lower:3128"},
                                        {"HTTP_PROXY", "http://upper:3128"},
                                        {"HTTPS_PROXY", "http://user:s3cret@secure:8080"},
                                        {"ALL_PROXY", "socks5h://socks:1080"},
                                        {"no_proxy", "localhost, .corp.example,10.0.0.0/8"}});
  ASSERT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].url.host, "lower");
  EXPECT_EQ(r.proxies[0].detail, "http_proxy");
  EXPECT_EQ(r.proxies[0].scope, "http");
  EXPECT_EQ(r.proxies[1].url.host, "secure");
  EXPECT_EQ(r.proxies[1].url.username, "user");
  EXPECT_EQ(r.proxies[1].scope, "https");
  EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_TRUE(r.proxies[2].url.remote_dns);
  EXPECT_THAT(r.proxies[2].bypass, ElementsAre("localhost", ".corp.example", "10.0.0.0/8"));
  for (const auto& p : r.proxies) EXPECT_EQ(p.source, v1::PROXY_SOURCE_ENV);
}

TEST(EnvironmentTest, PasswordsWithSlashesOrAtSignsNeverReachAWarning) {
  DiscoveryResult ok = ParseEnvironment({{"https_proxy", "http://alice:s3cr/et@proxy.corp:3128"}});
  ASSERT_EQ(ok.proxies.size(), 1u);
  EXPECT_EQ(ok.proxies[0].url.password, "s3cr/et");
  EXPECT_EQ(ok.proxies[0].url.host, "proxy.corp");
  DiscoveryResult bad = ParseEnvironment({{"https_proxy", "http://alice:s3cr/et@proxy.corp:99999"},
                                          {"http_proxy", "http://bob:p%zzw@h:1"}});
  ASSERT_EQ(bad.warnings.size(), 2u);
  for (const std::string& w : bad.warnings) {
    EXPECT_THAT(w, ::testing::Not(HasSubstr("s3cr")));
    EXPECT_THAT(w, ::testing::Not(HasSubstr("p%zz")));
  }
  DiscoveryResult manual = ParseManualFile("Proxy=http://bob:hunter/2@proxy:8080x\n", "p.txt");
  ASSERT_EQ(manual.warnings.size(), 1u);
  EXPECT_THAT(manual.warnings[0], ::testing::Not(HasSubstr("hunter")));
}

TEST(EnvironmentTest, MalformedValueIsAWarningThatHidesThePassword) {
  DiscoveryResult r = ParseEnvironment({{"https_proxy", "ftp://user:hunter2@p:1"}});
  EXPECT_THAT(r.proxies, IsEmpty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("https_proxy"));
  EXPECT_THAT(r.warnings[0], ::testing::Not(HasSubstr("hunter2")));
}

// ---- Firefox ----

std::string ProfilesIni() { return test::ReadTestdata("agent/discovery/testdata/profiles.ini"); }

TEST(FirefoxTest, DefaultProfileFromProfilesIni) {
  auto dir = DefaultFirefoxProfile(ProfilesIni(), "/home/u/.mozilla/firefox");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, "/home/u/.mozilla/firefox/wxyz9876.default");
  const std::string with_install =
      ProfilesIni() + "\n[Install4F96D1932A9F858E]\nDefault=abcd1234.work\nLocked=1\n";
  EXPECT_EQ(*DefaultFirefoxProfile(with_install, "/b"), "/b/abcd1234.work");
  EXPECT_EQ(DefaultFirefoxProfile("[General]\nVersion=2\n", "/b").status().code(),
            absl::StatusCode::kNotFound);
}

// Found by fuzzing (tests/fuzz/corpus/prefs_js/crash-*): an empty Path=
// with IsRelative=0 made the profile "", and the source read /prefs.js.
TEST(FirefoxTest, EmptyPathOrDefaultNamesNoProfile) {
  EXPECT_EQ(
      DefaultFirefoxProfile("[Profile0]\nPath=\nIsRelative=0\nDefault=1\n", "/b").status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(*DefaultFirefoxProfile("[Install4F96]\nDefault=\n[Profile0]\nPath=x.default\n", "/b"),
            "/b/x.default");
}

std::string ManualPrefs() { return test::ReadTestdata("agent/discovery/testdata/prefs.js"); }

TEST(FirefoxTest, ManualProxiesPerScheme) {
  DiscoveryResult r = ParsePrefsJs(ManualPrefs(), "/p/prefs.js");
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].url.port, 3128);
  EXPECT_EQ(r.proxies[0].scope, "http");
  EXPECT_EQ(r.proxies[0].detail, "prefs.js:4");
  EXPECT_EQ(r.proxies[1].url.host, "tls-proxy.corp.example");
  EXPECT_EQ(r.proxies[1].scope, "https");
  EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_TRUE(r.proxies[2].url.remote_dns);
  EXPECT_THAT(r.proxies[1].bypass, ElementsAre("localhost", "127.0.0.1", ".corp.example"));
  for (const auto& p : r.proxies) EXPECT_EQ(p.source, v1::PROXY_SOURCE_FIREFOX);
}

TEST(FirefoxTest, SharedSettingsSocks4AndTypes) {
  DiscoveryResult shared = ParsePrefsJs(
      "user_pref(\"network.proxy.type\", 1);\n"
      "user_pref(\"network.proxy.http\", \"p\");\nuser_pref(\"network.proxy.http_port\", 80);\n"
      "user_pref(\"network.proxy.share_proxy_settings\", true);\n",
      "prefs.js");
  ASSERT_EQ(shared.proxies.size(), 2u);
  EXPECT_EQ(shared.proxies[1].scope, "https");
  EXPECT_EQ(shared.proxies[1].url.host, "p");

  DiscoveryResult v4 = ParsePrefsJs(
      "user_pref(\"network.proxy.type\", 1);\nuser_pref(\"network.proxy.socks\", \"s\");\n"
      "user_pref(\"network.proxy.socks_port\", 1081);\n"
      "user_pref(\"network.proxy.socks_version\", 4);\n",
      "prefs.js");
  ASSERT_EQ(v4.proxies.size(), 1u);
  EXPECT_EQ(v4.proxies[0].url.kind, v1::ROUTE_KIND_SOCKS4);

  DiscoveryResult none = ParsePrefsJs("user_pref(\"network.proxy.type\", 0);\n", "prefs.js");
  EXPECT_TRUE(none.explicitly_direct);
  DiscoveryResult pac = ParsePrefsJs(
      "user_pref(\"network.proxy.autoconfig_url\", \"http://wpad.corp.example/proxy.pac\");\n"
      "user_pref(\"network.proxy.type\", 2);\n",
      "prefs.js");
  ASSERT_EQ(pac.pac.size(), 1u);
  EXPECT_EQ(pac.pac[0].url, "http://wpad.corp.example/proxy.pac");
  EXPECT_EQ(pac.pac[0].detail, "prefs.js:1");
  DiscoveryResult detect = ParsePrefsJs("user_pref(\"network.proxy.type\", 4);\n", "prefs.js");
  ASSERT_EQ(detect.pac.size(), 1u);
  EXPECT_EQ(detect.pac[0].url, "wpad");
  DiscoveryResult system = ParsePrefsJs("", "prefs.js");  // type 5 by default
  EXPECT_TRUE(system.proxies.empty() && system.pac.empty() && system.warnings.empty());
}

TEST(FirefoxTest, MalformedLinesAreWarningsWithFileAndLineAndParsingGoesOn) {
  DiscoveryResult r = ParsePrefsJs(
      "user_pref(\"network.proxy.http\", \"unterminated);\n"
      "user_pref(\"network.proxy.ssl_port\", eighty);\n"
      "user_pref(\"network.proxy.type\", 1);\n"
      "user_pref(\"network.proxy.ssl\", \"ok.example\");\n"
      "user_pref(\"network.proxy.ssl_port\", 99999);\n",
      "/home/u/prefs.js");
  EXPECT_THAT(r.warnings, ElementsAre(HasSubstr("/home/u/prefs.js:1: unterminated"),
                                      HasSubstr("/home/u/prefs.js:2: unreadable value"),
                                      HasSubstr("/home/u/prefs.js:5: network.proxy.ssl_port")));
  EXPECT_TRUE(r.proxies.empty());
}

// ---- Windows .reg ----

std::string RegPerScheme() { return test::ReadTestdata("agent/discovery/testdata/per-scheme.reg"); }

std::string Utf16Le(const std::string& text) {
  std::string out = "\xFF\xFE";
  for (char c : text) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

TEST(WindowsRegTest, PerSchemeServersOverrideAndPacInUtf16) {
  for (const std::string& bytes : {RegPerScheme(), Utf16Le(RegPerScheme())}) {
    DiscoveryResult r = ParseRegExport(bytes, "C:/export/ie.reg");
    EXPECT_THAT(r.warnings, IsEmpty());
    ASSERT_EQ(r.proxies.size(), 3u);
    EXPECT_EQ(r.proxies[0].url.host, "web.corp");
    EXPECT_EQ(r.proxies[0].scope, "http");
    EXPECT_EQ(r.proxies[1].url.port, 8443);
    EXPECT_EQ(r.proxies[1].scope, "https");
    EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS4);
    EXPECT_THAT(r.proxies[0].bypass, ElementsAre("*.corp.example", "10.*", "<local>"));
    EXPECT_EQ(r.proxies[0].detail, "C:/export/ie.reg:6");
    ASSERT_EQ(r.pac.size(), 1u);
    EXPECT_EQ(r.pac[0].url, "http://pac.corp.example/proxy.pac");  // continuation joined
  }
}

TEST(WindowsRegTest, SingleServerDisabledAndMalformed) {
  DiscoveryResult one = ParseRegExport(
      "REGEDIT4\n\"ProxyEnable\"=dword:00000001\n\"ProxyServer\"=\"proxy.corp:3128\"\n", "a.reg");
  ASSERT_EQ(one.proxies.size(), 1u);
  EXPECT_EQ(one.proxies[0].scope, "");
  DiscoveryResult off = ParseRegExport(
      "\"ProxyEnable\"=dword:00000000\n\"ProxyServer\"=\"proxy.corp:3128\"\n", "b.reg");
  EXPECT_TRUE(off.proxies.empty());
  EXPECT_TRUE(off.explicitly_direct);
  DiscoveryResult detect = ParseRegExport("\"AutoDetect\"=dword:00000001\n", "c.reg");
  ASSERT_EQ(detect.pac.size(), 1u);
  EXPECT_EQ(detect.pac[0].url, "wpad");
  DiscoveryResult bad = ParseRegExport(
      "\"ProxyEnable\"=dword:zz\nProxyServer=proxy\n\"ProxyServer\"=\"unterminated\n"
      "\"ProxyEnable\"=dword:00000001\n\"ProxyServer\"=\"ok:1\"\n",
      "d.reg");
  EXPECT_THAT(bad.warnings, ElementsAre(HasSubstr("d.reg:1: ProxyEnable: malformed dword"),
                                        HasSubstr("d.reg:2: expected"),
                                        HasSubstr("d.reg:3: ProxyServer: unterminated")));
  ASSERT_EQ(bad.proxies.size(), 1u);
  EXPECT_EQ(bad.proxies[0].url.host, "ok");
}

// ---- manual file ----

TEST(ManualFileTest, SeedFormatCommentsUrlsAndWarnings) {
  DiscoveryResult r = ParseManualFile(
      "# proxy for the relay client\n"
      "Proxy=proxy.corp.example:8080\n"
      "  proxy = socks5://socks.corp.example:1080  \n"
      "; old one\n"
      "Proxy=\n"
      "Server=relay.example\n"
      "just text\n",
      "/etc/relayscope/proxy.txt");
  ASSERT_EQ(r.proxies.size(), 2u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].detail, "/etc/relayscope/proxy.txt:2");
  EXPECT_EQ(r.proxies[1].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_THAT(r.warnings,
              ElementsAre(HasSubstr("proxy.txt:5"), HasSubstr("proxy.txt:6: unknown key"),
                          HasSubstr("proxy.txt:7: expected Proxy=host:port")));
}

TEST(ManualFileTest, SourceReadsTheFirstExistingFileAndWarnsOnAMissingExplicitOne) {
  const std::string dir = ::testing::TempDir() + "/manual";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/second.txt") << "Proxy=p2:2\n";
  auto source = MakeManualFileSource("", {dir + "/missing.txt", dir + "/second.txt"});
  DiscoveryResult r = source->Discover();
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "p2");
  auto explicit_missing = MakeManualFileSource(dir + "/nope.txt", {dir + "/second.txt"});
  DiscoveryResult m = explicit_missing->Discover();
  EXPECT_TRUE(m.proxies.empty());
  EXPECT_THAT(m.warnings, ElementsAre(HasSubstr("nope.txt: cannot be read")));
}

TEST(FirefoxSourceTest, ReadsTheDefaultProfileUnderHome) {
  const std::string home = ::testing::TempDir() + "/home-ff";
  const std::string base = home + "/.mozilla/firefox";
  std::filesystem::create_directories(base + "/wxyz9876.default");
  std::ofstream(base + "/profiles.ini") << ProfilesIni();
  std::ofstream(base + "/wxyz9876.default/prefs.js") << ManualPrefs();
  DiscoveryResult r = MakeFirefoxSource(home)->Discover();
  EXPECT_EQ(r.proxies.size(), 3u);
  EXPECT_TRUE(MakeFirefoxSource(home + "/nobody")->Discover().proxies.empty());
}

// What Firefox writes under %APPDATA%\Mozilla\Firefox on Windows: CRLF,
// profiles under Profiles/ written with '/', the install's default.
std::string WindowsProfilesIni() {
  return test::ReadTestdata("agent/discovery/testdata/profiles-windows.ini");
}

TEST(FirefoxTest, WindowsProfilesIniResolvesUnderAppDataWithBackslashes) {
  auto dir = DefaultFirefoxProfile(WindowsProfilesIni(),
                                   "C:\\Users\\J\xC3\xBCrgen\\AppData\\Roaming\\Mozilla\\Firefox");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir,
            "C:\\Users\\J\xC3\xBCrgen\\AppData\\Roaming\\Mozilla\\Firefox\\Profiles\\k8j7h6g5."
            "default-release");
  // An absolute Windows path is taken as written.
  EXPECT_EQ(
      *DefaultFirefoxProfile("[Profile0]\r\nIsRelative=0\r\nPath=D:\\ff\\p\r\n", "C:\\x\\Firefox"),
      "D:\\ff\\p");
}

TEST(FirefoxSourceTest, ReadsProfilesUnderTheRootsGivenAsWindowsLaysThemOut) {
  const std::string root = ::testing::TempDir() + "/appdata-ff/Mozilla/Firefox";
  std::filesystem::create_directories(root + "/Profiles/k8j7h6g5.default-release");
  std::ofstream(root + "/profiles.ini") << WindowsProfilesIni();
  std::ofstream(root + "/Profiles/k8j7h6g5.default-release/prefs.js") << ManualPrefs();
  DiscoveryResult r = MakeFirefoxSourceAt({root + "/missing", root})->Discover();
  EXPECT_EQ(r.proxies.size(), 3u);
  EXPECT_THAT(r.warnings, IsEmpty());
#ifndef _WIN32
  EXPECT_THAT(
      FirefoxProfileRoots("/home/u"),
      ElementsAre("/home/u/.mozilla/firefox", "/home/u/snap/firefox/common/.mozilla/firefox"));
#endif
}

}  // namespace
}  // namespace relayscope::agent
