// Windows (.reg), KDE, GNOME, macOS and WPAD sources over real-shaped
// fixtures: what each desktop or DHCP client actually writes.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "agent/discovery/desktop_sources.h"
#include "agent/discovery/discover.h"
#include "agent/discovery/sources.h"
#include "agent/discovery/windows_source.h"
#include "agent/discovery/wpad.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/testdata.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A fresh directory per test under the test temp dir.
std::string TestDir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/sources_b_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<std::string> PacUrls(const DiscoveryResult& result) {
  std::vector<std::string> urls;
  for (const PacLocation& pac : result.pac) urls.push_back(pac.url);
  return urls;
}

// ---- Windows .reg exports ----

// What regedit exports for HKCU\...\Internet Settings on Windows 10 (its
// subkeys included), trimmed of unrelated values. The tests check line
// numbers: ProxyServer is on line 10, AutoConfigURL on 12, the
// Connections blob (which says the same, with ü in Windows-1252, and
// decides) starts on 16.
std::string Win10Export() {
  return test::ReadTestdata("agent/discovery/testdata/win10-internet-settings.reg");
}

// UTF-8 to UTF-16LE with a BOM, as regedit writes (non-ASCII included).
std::string Utf16Le(const std::string& utf8) {
  std::string out = "\xFF\xFE";
  auto unit = [&](uint32_t u) {
    out.push_back(static_cast<char>(u & 0xFF));
    out.push_back(static_cast<char>(u >> 8));
  };
  for (size_t i = 0; i < utf8.size();) {
    const auto byte = static_cast<unsigned char>(utf8[i]);
    uint32_t code_point = byte;
    size_t length = 1;
    if (byte >= 0xF0) {
      code_point = byte & 0x07;
      length = 4;
    } else if (byte >= 0xE0) {
      code_point = byte & 0x0F;
      length = 3;
    } else if (byte >= 0xC0) {
      code_point = byte & 0x1F;
      length = 2;
    }
    for (size_t k = 1; k < length; ++k) {
      code_point = (code_point << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    }
    i += length;
    if (code_point >= 0x10000) {
      unit(0xD800 + ((code_point - 0x10000) >> 10));
      unit(0xDC00 + ((code_point - 0x10000) & 0x3FF));
    } else {
      unit(code_point);
    }
  }
  return out;
}

TEST(WindowsRegTest, Windows10ExportInUtf16AndUtf8) {
  for (const std::string& bytes :
       {Utf16Le(Win10Export()), Win10Export(), "\xEF\xBB\xBF" + Win10Export()}) {
    DiscoveryResult r = ParseRegExport(bytes, "C:\\Users\\alice\\ie.reg");
    EXPECT_THAT(r.warnings, IsEmpty());
    EXPECT_FALSE(r.explicitly_direct);
    ASSERT_EQ(r.proxies.size(), 3u);  // ftp= is not for relays; ZoneMap's value is not a setting
    EXPECT_EQ(r.proxies[0].url.host, "web.corp");
    EXPECT_EQ(r.proxies[0].url.port, 8080);
    EXPECT_EQ(r.proxies[0].url.kind, v1::ROUTE_KIND_HTTP_CONNECT);
    EXPECT_EQ(r.proxies[0].scope, "http");
    EXPECT_EQ(r.proxies[1].url.host, "tls.corp");
    EXPECT_EQ(r.proxies[1].scope, "https");
    EXPECT_EQ(r.proxies[2].url.host, "socks.corp");
    EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS4);  // WinINet's socks= is SOCKS4
    EXPECT_EQ(r.proxies[2].scope, "socks");
    for (const ProxyCandidate& p : r.proxies) {
      EXPECT_EQ(p.source, v1::PROXY_SOURCE_WINDOWS);
      EXPECT_EQ(p.detail, "C:\\Users\\alice\\ie.reg:16 (DefaultConnectionSettings)");
      EXPECT_THAT(p.bypass, ElementsAre("*.corp.example", "10.*",
                                        "b\xC3\xBC"
                                        "cher.example",
                                        "<local>"));
    }
    // The PAC URL, then auto-detect, both from the Connections blob's
    // flags (0x0f).
    ASSERT_EQ(r.pac.size(), 2u);
    EXPECT_EQ(r.pac[0].url, "http://pac.corp.example/proxy.pac");
    EXPECT_EQ(r.pac[0].detail, "C:\\Users\\alice\\ie.reg:16 (DefaultConnectionSettings)");
    EXPECT_EQ(r.pac[1].url, "wpad");
    EXPECT_EQ(r.pac[1].detail,
              "C:\\Users\\alice\\ie.reg:16 (DefaultConnectionSettings) (auto-detect)");
    for (const PacLocation& pac : r.pac) EXPECT_EQ(pac.source, v1::PROXY_SOURCE_WINDOWS);
  }
}

TEST(WindowsRegTest, AutoDetectOffInTheBlobAndOnlyInASubkeyIsOff) {
  // Flags 0x01: direct, no auto-detect (the blob ends after the proxy
  // string, as older writers leave it); ZoneMap's AutoDetect is the
  // intranet zone's, not the proxy's.
  DiscoveryResult r = ParseRegExport(
      "Windows Registry Editor Version 5.00\n"
      "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\"
      "Connections]\n"
      "\"DefaultConnectionSettings\"=hex:46,00,00,00,02,00,00,00,01,00,00,00,00,00,00,00\n"
      "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\"
      "ZoneMap]\n"
      "\"AutoDetect\"=dword:00000001\n",
      "off.reg");
  EXPECT_THAT(r.pac, IsEmpty());
  EXPECT_THAT(r.warnings, IsEmpty());
}

TEST(WindowsRegTest, SingleServerIsForEveryScheme) {
  DiscoveryResult r = ParseRegExport(
      "REGEDIT4\r\n\r\n"
      "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\r\n"
      "\"ProxyEnable\"=dword:00000001\r\n"
      "\"ProxyServer\"=\"proxy.corp.example:3128\"\r\n"
      "\"ProxyOverride\"=\"<local>\"\r\n",
      "/tmp/a.reg");
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].url.port, 3128);
  EXPECT_EQ(r.proxies[0].scope, "");
  EXPECT_EQ(r.proxies[0].detail, "/tmp/a.reg:5");
  EXPECT_THAT(r.proxies[0].bypass, ElementsAre("<local>"));
  EXPECT_TRUE(r.pac.empty());
}

TEST(WindowsRegTest, ProxyEnableZeroIsDirectUnlessPacOrAutoDetect) {
  DiscoveryResult off = ParseRegExport(
      "\"ProxyEnable\"=dword:00000000\n\"ProxyServer\"=\"proxy.corp:3128\"\n", "b.reg");
  EXPECT_TRUE(off.proxies.empty());
  EXPECT_TRUE(off.explicitly_direct);

  DiscoveryResult pac = ParseRegExport(
      "\"ProxyEnable\"=dword:00000000\n\"AutoConfigURL\"=\"http://wpad.corp/wpad.dat\"\n", "c.reg");
  EXPECT_FALSE(pac.explicitly_direct);
  EXPECT_THAT(PacUrls(pac), ElementsAre("http://wpad.corp/wpad.dat"));

  DiscoveryResult detect =
      ParseRegExport("\"ProxyEnable\"=dword:00000000\n\"AutoDetect\"=dword:00000001\n", "d.reg");
  EXPECT_FALSE(detect.explicitly_direct);
  ASSERT_EQ(detect.pac.size(), 1u);
  EXPECT_EQ(detect.pac[0].url, "wpad");
  EXPECT_EQ(detect.pac[0].detail, "d.reg:2 (auto-detect)");

  // Without ProxyEnable WinINet uses no proxy, but nothing says so explicitly.
  DiscoveryResult unset = ParseRegExport("\"ProxyServer\"=\"proxy.corp:3128\"\n", "e.reg");
  EXPECT_TRUE(unset.proxies.empty());
  EXPECT_FALSE(unset.explicitly_direct);
}

TEST(WindowsRegTest, ContinuationsAndEscapes) {
  DiscoveryResult r = ParseRegExport(
      "Windows Registry Editor Version 5.00\n"
      "\"AutoConfigURL\"=\"file://\\\\\\\\fileserver\\\\pac\\\\\\\n"  // ends in an escaped \ and a
                                                                      // continuation
      "  proxy.pac\"\n"
      "\"ProxyEnable\"=dword:1\n"
      "\"ProxyServer\"=\"http=[fd00::8]:8080\"\n",
      "f.reg");
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_THAT(PacUrls(r), ElementsAre("file://\\\\fileserver\\pac\\proxy.pac"));
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "fd00::8");
  EXPECT_EQ(r.proxies[0].detail, "f.reg:5");
}

TEST(WindowsRegTest, MalformedLinesAreWarningsWithPathAndLineAndParsingGoesOn) {
  DiscoveryResult r = ParseRegExport(
      "Windows Registry Editor Version 5.00\n"  // 1
      "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\n"
      "\"ProxyEnable\"=dword:zz\n"            // 3
      "ProxyServer=proxy\n"                   // 4
      "\"ProxyServer\"=\"unterminated\n"      // 5
      "\"ProxyOverride\"=\"a;b\" trailing\n"  // 6
      "\"Weird\"=sz:1\n"                      // 7
      "[HKEY_CURRENT_USER\\broken\n"          // 8
      "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\n"
      "\"ProxyEnable\"=dword:00000001\n"                                      // 10
      "\"ProxyServer\"=\"http=ok.corp:1;bogus=x:2;https=bad.corp:99999\"\n",  // 11
      "/home/alice/ie.reg");
  EXPECT_THAT(r.warnings,
              ElementsAre("/home/alice/ie.reg:3: ProxyEnable: malformed dword",
                          "/home/alice/ie.reg:4: expected \"Name\"=value",
                          "/home/alice/ie.reg:5: ProxyServer: unterminated string",
                          "/home/alice/ie.reg:6: ProxyOverride: unexpected text after the closing "
                          "quote",
                          "/home/alice/ie.reg:7: Weird: unknown value type",
                          "/home/alice/ie.reg:8: unterminated [key]",
                          "/home/alice/ie.reg:11: ProxyServer: unknown scheme \"bogus\"",
                          HasSubstr("/home/alice/ie.reg:11: ProxyServer: port")));
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "ok.corp");
  EXPECT_EQ(r.proxies[0].scope, "http");
}

TEST(WindowsRegTest, EnabledWithoutServerIsAWarning) {
  DiscoveryResult r = ParseRegExport("\"ProxyEnable\"=dword:00000001\n", "g.reg");
  EXPECT_TRUE(r.proxies.empty());
  EXPECT_THAT(r.warnings, ElementsAre("g.reg:1: ProxyEnable is set but ProxyServer is empty"));
}

TEST(WindowsSourceTest, ReadsTheExportGivenAndWarnsWhenItIsMissing) {
  const std::string dir = TestDir("windows");
  WriteFile(dir + "/ie.reg", Utf16Le(Win10Export()));
  DiscoveryResult r = WindowsSource(dir + "/ie.reg").Discover();
  EXPECT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.pac.size(), 2u);
  EXPECT_EQ(r.proxies[0].detail, dir + "/ie.reg:16 (DefaultConnectionSettings)");

  DiscoveryResult missing = WindowsSource(dir + "/nope.reg").Discover();
  EXPECT_THAT(missing.warnings, ElementsAre(dir + "/nope.reg: cannot be read"));
  WindowsSource none("");
  EXPECT_EQ(none.name(), "windows");
  DiscoveryResult nothing = none.Discover();
  EXPECT_TRUE(nothing.proxies.empty() && nothing.pac.empty() && nothing.warnings.empty());
}

// ---- KDE ----

std::string KioslavercManual() { return test::ReadTestdata("agent/discovery/testdata/kioslaverc"); }

TEST(KdeTest, ManualProxiesWithKdesSpaceBeforeThePort) {
  DiscoveryResult r = ParseKioslaverc(KioslavercManual(), "/home/alice/.config/kioslaverc");
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].url.port, 3128);
  EXPECT_EQ(r.proxies[0].scope, "http");
  EXPECT_EQ(r.proxies[0].detail, "/home/alice/.config/kioslaverc:14");
  EXPECT_EQ(r.proxies[1].url.port, 3129);
  EXPECT_EQ(r.proxies[1].url.kind, v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(r.proxies[1].scope, "https");
  EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_EQ(r.proxies[2].url.port, 1080);
  EXPECT_EQ(r.proxies[2].scope, "socks");
  for (const ProxyCandidate& p : r.proxies) {
    EXPECT_EQ(p.source, v1::PROXY_SOURCE_KDE);
    EXPECT_THAT(p.bypass, ElementsAre("localhost", "127.0.0.1", ".corp.example"));
  }
  EXPECT_FALSE(r.explicitly_direct);
  EXPECT_TRUE(r.pac.empty());
}

TEST(KdeTest, OtherProxyTypes) {
  const std::string group = "[Proxy Settings]\n";
  DiscoveryResult none = ParseKioslaverc(group + "ProxyType=0\nhttpProxy=http://p 1\n", "k");
  EXPECT_TRUE(none.explicitly_direct);
  EXPECT_TRUE(none.proxies.empty());

  DiscoveryResult pac = ParseKioslaverc(
      group + "Proxy Config Script=http://pac.corp.example/proxy.pac\nProxyType=2\n", "k");
  ASSERT_EQ(pac.pac.size(), 1u);
  EXPECT_EQ(pac.pac[0].url, "http://pac.corp.example/proxy.pac");
  EXPECT_EQ(pac.pac[0].detail, "k:2");
  EXPECT_EQ(pac.pac[0].source, v1::PROXY_SOURCE_KDE);

  DiscoveryResult wpad = ParseKioslaverc(group + "ProxyType=3\n", "k");
  ASSERT_EQ(wpad.pac.size(), 1u);
  EXPECT_EQ(wpad.pac[0].url, "wpad");
  EXPECT_EQ(wpad.pac[0].detail, "k:2 (auto-detect)");

  // Type 4 names environment variables, which the env source reads.
  DiscoveryResult env = ParseKioslaverc(group + "ProxyType=4\nhttpProxy=http_proxy\n", "k");
  EXPECT_TRUE(env.proxies.empty() && env.pac.empty() && env.warnings.empty());
  EXPECT_FALSE(env.explicitly_direct);

  DiscoveryResult absent = ParseKioslaverc("[General]\nProxyType=1\n", "k");
  EXPECT_TRUE(absent.proxies.empty() && absent.warnings.empty() && !absent.explicitly_direct);
}

TEST(KdeTest, MalformedLinesAreWarningsWithPathAndLine) {
  DiscoveryResult r = ParseKioslaverc(
      "[Proxy Settings]\n"                   // 1
      "this is not a key\n"                  // 2
      "ProxyType=1\n"                        // 3
      "httpProxy=http://proxy.corp 99999\n"  // 4
      "httpsProxy=http://tls.corp 443\n"     // 5
      "NoProxyFor[$e]=localhost\n",          // 6
      "/etc/xdg/kioslaverc");
  EXPECT_THAT(r.warnings, ElementsAre("/etc/xdg/kioslaverc:2: expected key=value",
                                      HasSubstr("/etc/xdg/kioslaverc:4: httpProxy: port")));
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "tls.corp");
  EXPECT_THAT(r.proxies[0].bypass, ElementsAre("localhost"));

  EXPECT_THAT(ParseKioslaverc("[Proxy Settings]\nProxyType=9\n", "k").warnings,
              ElementsAre("k:2: unknown ProxyType 9"));
  EXPECT_THAT(ParseKioslaverc("[Proxy Settings]\nProxyType=2\n", "k").warnings,
              ElementsAre(HasSubstr("k:2: ProxyType=2 (PAC) but no")));
  // ReversedException: the proxy only for the NoProxyFor hosts, no warning.
  DiscoveryResult reversed = ParseKioslaverc(
      "[Proxy Settings]\nProxyType=1\nReversedException=true\n"
      "httpProxy=p.corp 80\nNoProxyFor=only.this\n",
      "k");
  EXPECT_THAT(reversed.warnings, IsEmpty());
  ASSERT_EQ(reversed.proxies.size(), 1u);
  EXPECT_TRUE(reversed.proxies[0].bypass_reversed);
  EXPECT_THAT(reversed.proxies[0].bypass, ElementsAre("only.this"));
}

TEST(KdeSourceTest, ReadsKioslavercInTheConfigDirAndIgnoresAMissingOne) {
  const std::string dir = TestDir("kde");
  WriteFile(dir + "/kioslaverc", KioslavercManual());
  KdeSource source(dir);
  EXPECT_EQ(source.name(), "kde");
  DiscoveryResult r = source.Discover();
  EXPECT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].detail, dir + "/kioslaverc:14");
  DiscoveryResult missing = KdeSource(dir + "/elsewhere").Discover();
  EXPECT_TRUE(missing.proxies.empty() && missing.warnings.empty());

  // The test's own thread is the only one running here.
  // NOLINTBEGIN(concurrency-mt-unsafe)
  const char* saved = std::getenv("XDG_CONFIG_HOME");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
  EXPECT_EQ(KdeSource::DefaultConfigDir("/home/alice"), "/xdg/config");
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(KdeSource::DefaultConfigDir("/home/alice"), "/home/alice/.config");
  if (saved != nullptr) setenv("XDG_CONFIG_HOME", saved_value.c_str(), 1);
  // NOLINTEND(concurrency-mt-unsafe)
}

// ---- GNOME ----

// `gsettings list-recursively org.gnome.system.proxy` on Debian 12, after
// choosing "Manual" in GNOME Settings.
std::string GsettingsManual() {
  return test::ReadTestdata("agent/discovery/testdata/gsettings-manual.txt");
}

TEST(GnomeTest, ManualProxiesWithCredentialsAndIgnoreHosts) {
  DiscoveryResult r = ParseGsettingsProxy(GsettingsManual());
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].url.port, 8080);
  EXPECT_EQ(r.proxies[0].url.username, "alice");
  EXPECT_EQ(r.proxies[0].url.password, "pa ss");
  EXPECT_EQ(r.proxies[0].scope, "http");
  EXPECT_EQ(r.proxies[0].detail, "gsettings org.gnome.system.proxy.http host");
  EXPECT_EQ(r.proxies[1].url.port, 8443);
  EXPECT_EQ(r.proxies[1].url.kind, v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_TRUE(r.proxies[1].url.username.empty());  // GNOME's credentials are the http proxy's
  EXPECT_EQ(r.proxies[1].scope, "https");
  EXPECT_EQ(r.proxies[2].url.host, "fd00::1080");
  EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_EQ(r.proxies[2].scope, "socks");
  for (const ProxyCandidate& p : r.proxies) {
    EXPECT_EQ(p.source, v1::PROXY_SOURCE_GNOME);
    EXPECT_THAT(p.bypass, ElementsAre("localhost", "127.0.0.0/8", "::1", "*.corp.example"));
  }
  EXPECT_FALSE(r.explicitly_direct);
}

TEST(GnomeTest, NoneAutoAndAutoWithoutUrl) {
  const std::string defaults = absl::StrReplaceAll(GsettingsManual(), {{"'manual'", "'none'"}});
  DiscoveryResult none = ParseGsettingsProxy(defaults);
  EXPECT_TRUE(none.explicitly_direct);
  EXPECT_TRUE(none.proxies.empty());

  DiscoveryResult pac = ParseGsettingsProxy(
      "org.gnome.system.proxy autoconfig-url 'http://wpad.corp.example/wpad.dat'\n"
      "org.gnome.system.proxy mode 'auto'\n"
      "org.gnome.system.proxy.http host 'ignored.corp'\n"
      "org.gnome.system.proxy.http port 8080\n");
  EXPECT_TRUE(pac.proxies.empty());
  ASSERT_EQ(pac.pac.size(), 1u);
  EXPECT_EQ(pac.pac[0].url, "http://wpad.corp.example/wpad.dat");
  EXPECT_EQ(pac.pac[0].source, v1::PROXY_SOURCE_GNOME);
  EXPECT_EQ(pac.pac[0].detail, "gsettings org.gnome.system.proxy autoconfig-url");

  DiscoveryResult wpad = ParseGsettingsProxy(
      "org.gnome.system.proxy autoconfig-url ''\norg.gnome.system.proxy mode 'auto'\n");
  EXPECT_THAT(PacUrls(wpad), ElementsAre("wpad"));
  EXPECT_FALSE(wpad.explicitly_direct);
}

TEST(GnomeTest, IgnoreHostsApplyToThePacInAutoMode) {
  DiscoveryResult pac = ParseGsettingsProxy(
      "org.gnome.system.proxy autoconfig-url 'http://wpad.corp.example/wpad.dat'\n"
      "org.gnome.system.proxy ignore-hosts ['localhost', '*.corp.example']\n"
      "org.gnome.system.proxy mode 'auto'\n");
  ASSERT_EQ(pac.pac.size(), 1u);
  EXPECT_THAT(pac.pac[0].bypass, ElementsAre("localhost", "*.corp.example"));
}

TEST(GnomeTest, MalformedLinesAreWarningsWithLineAndNeverShowThePassword) {
  DiscoveryResult r = ParseGsettingsProxy(
      "org.gnome.system.proxy mode 'manual'\n"                          // 1
      "garbage\n"                                                       // 2
      "org.gnome.system.proxy.http host 'unterminated\n"                // 3
      "org.gnome.system.proxy.http authentication-password 's3cret'\n"  // 4
      "org.gnome.system.proxy.https host 'tls.corp'\n"                  // 5
      "org.gnome.system.proxy.https port many\n"                        // 6
      "org.gnome.system.proxy.socks host 'socks.corp'\n"                // 7
      "org.gnome.system.proxy.socks port 1080\n"                        // 8
      "org.gnome.system.proxy ignore-hosts ['a', oops]\n");             // 9
  EXPECT_THAT(r.warnings,
              ElementsAre("gsettings:2: expected \"<schema> <key> <value>\"",
                          "gsettings:3: org.gnome.system.proxy.http host: expected a quoted string",
                          HasSubstr("gsettings:6: org.gnome.system.proxy.https port: a port"),
                          "gsettings:9: org.gnome.system.proxy ignore-hosts: expected a list of "
                          "quoted strings"));
  for (const std::string& w : r.warnings) EXPECT_THAT(w, Not(HasSubstr("s3cret")));
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "socks.corp");

  EXPECT_THAT(ParseGsettingsProxy("org.gnome.system.proxy mode 'sometimes'\n").warnings,
              ElementsAre("gsettings:1: unknown mode 'sometimes'"));
}

// A stand-in for gsettings: prints `stdout_text`, `stderr_text` and exits.
std::string FakeGsettings(const std::string& dir, const std::string& stdout_text,
                          const std::string& stderr_text, int status) {
  std::string path = dir + "/gsettings";
  WriteFile(path,
            "#!/bin/sh\n"
            "[ \"$1 $2\" = \"list-recursively org.gnome.system.proxy\" ] || exit 3\n"
            "cat <<'OUT'\n" +
                stdout_text +
                "OUT\n"
                "cat >&2 <<'ERR'\n" +
                stderr_text +
                "\nERR\n"
                "exit " +
                std::to_string(status) + "\n");
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

TEST(GnomeSourceTest, RunsGsettingsAndStaysQuietWithoutGnome) {
  const std::string dir = TestDir("gnome");
  GnomeSource source(FakeGsettings(dir, GsettingsManual(), "", 0));
  EXPECT_EQ(source.name(), "gnome");
  DiscoveryResult r = source.Discover();
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_EQ(r.proxies.size(), 3u);

  // Not installed, no GNOME schema, or only the in-memory defaults: nothing.
  for (const std::string& program :
       {dir + "/no-such-gsettings",
        FakeGsettings(TestDir("gnome_schema"), "", "No such schema \"org.gnome.system.proxy\"", 1),
        FakeGsettings(TestDir("gnome_memory"), "org.gnome.system.proxy mode 'none'\n",
                      "GLib-GIO-Message: 10:00:00.000: Using the 'memory' GSettings backend.  "
                      "Your settings will not be saved or shared with other applications.",
                      0)}) {
    DiscoveryResult nothing = GnomeSource(program).Discover();
    EXPECT_TRUE(nothing.proxies.empty() && nothing.pac.empty() && nothing.warnings.empty());
    EXPECT_FALSE(nothing.explicitly_direct);
  }
}

TEST(GnomeSourceTest, AHangingGsettingsIsKilledAfterTwoSeconds) {
  const std::string path = TestDir("gnome_hang") + "/gsettings";
  WriteFile(path, "#!/bin/sh\nexec sleep 30\n");
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  const auto start = std::chrono::steady_clock::now();
  DiscoveryResult r = GnomeSource(path).Discover();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT(r.warnings, ElementsAre("gsettings: no answer within 2 s"));
  EXPECT_TRUE(r.proxies.empty());
}

// ---- macOS ----

// `scutil --proxy` on macOS 14 with manual HTTP(S), a PAC and exceptions.
std::string ScutilManual() {
  return test::ReadTestdata("agent/discovery/testdata/scutil-manual.txt");
}

TEST(MacosTest, ManualPacAndAutoDiscoveryFromTheTopLevelDictionary) {
  DiscoveryResult r = ParseScutilProxy(ScutilManual());
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.proxies.size(), 3u);
  EXPECT_EQ(r.proxies[0].url.host, "proxy.corp.example");
  EXPECT_EQ(r.proxies[0].url.port, 8080);
  EXPECT_EQ(r.proxies[0].scope, "http");
  EXPECT_EQ(r.proxies[0].detail, "scutil --proxy:11");
  EXPECT_EQ(r.proxies[1].url.host, "tls.corp.example");
  EXPECT_EQ(r.proxies[1].url.kind, v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(r.proxies[1].scope, "https");
  EXPECT_EQ(r.proxies[2].url.kind, v1::ROUTE_KIND_SOCKS5);
  EXPECT_EQ(r.proxies[2].scope, "socks");
  for (const ProxyCandidate& p : r.proxies) {
    EXPECT_EQ(p.source, v1::PROXY_SOURCE_MACOS);
    EXPECT_THAT(p.bypass, ElementsAre("*.local", "169.254/16", "*.corp.example", "<local>"));
  }
  ASSERT_EQ(r.pac.size(), 2u);
  EXPECT_EQ(r.pac[0].url, "http://pac.corp.example/proxy.pac");
  EXPECT_EQ(r.pac[0].detail, "scutil --proxy:16");
  EXPECT_EQ(r.pac[1].url, "wpad");
  EXPECT_EQ(r.pac[1].source, v1::PROXY_SOURCE_MACOS);
  EXPECT_FALSE(r.explicitly_direct);
}

TEST(MacosTest, NothingEnabledIsDirect) {
  DiscoveryResult r = ParseScutilProxy(
      "<dictionary> {\n"
      "  ExceptionsList : <array> {\n"
      "    0 : *.local\n"
      "    1 : 169.254/16\n"
      "  }\n"
      "  FTPPassive : 1\n"
      "  HTTPEnable : 0\n"
      "  HTTPSEnable : 0\n"
      "}\n");
  EXPECT_TRUE(r.explicitly_direct);
  EXPECT_TRUE(r.proxies.empty() && r.pac.empty() && r.warnings.empty());
  EXPECT_FALSE(ParseScutilProxy("").explicitly_direct);
}

TEST(MacosTest, MalformedLinesAreWarningsWithLine) {
  DiscoveryResult r = ParseScutilProxy(
      "<dictionary> {\n"               // 1
      "  HTTPEnable : 1\n"             // 2
      "  HTTPProxy : proxy.corp\n"     // 3
      "  what is this\n"               // 4
      "  HTTPSEnable : 1\n"            // 5
      "  HTTPSPort : 8443\n"           // 6
      "  HTTPSProxy : bad host\n"      // 7
      "  ProxyAutoConfigEnable : 1\n"  // 8
      "  SOCKSEnable : 1\n"            // 9
      "  SOCKSPort : 1080\n"           // 10
      "  SOCKSProxy : socks.corp\n"    // 11
      "}\n"                            // 12
      "}\n");                          // 13
  EXPECT_THAT(
      r.warnings,
      ElementsAre("scutil --proxy:4: expected \"Key : value\"", "scutil --proxy:13: unbalanced }",
                  "scutil --proxy:2: HTTPEnable is 1 but HTTPProxy or HTTPPort is missing "
                  "or invalid",
                  HasSubstr("scutil --proxy:7: HTTPSProxy: invalid character"),
                  "scutil --proxy:8: ProxyAutoConfigEnable is 1 but there is no "
                  "ProxyAutoConfigURLString"));
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "socks.corp");
  EXPECT_FALSE(r.explicitly_direct);
}

TEST(MacosSourceTest, FindsNothingOffMacos) {
  MacosSource source;
  EXPECT_EQ(source.name(), "macos");
#ifndef __APPLE__
  DiscoveryResult r = source.Discover();
  EXPECT_TRUE(r.proxies.empty() && r.pac.empty() && r.warnings.empty());
#endif
}

// ---- WPAD ----

// /var/lib/dhcp/dhclient.eth0.leases after three leases: a hotel network
// (undeclared option 252 printed in hex with Windows' trailing NUL as
// "0"), the office declared in dhclient.conf (`option wpad code 252 =
// text;`), and home (no WPAD); then the office again.
std::string DhclientLeases() {
  return test::ReadTestdata("agent/discovery/testdata/dhclient.eth0.leases");
}

// NetworkManager's internal client: /var/lib/NetworkManager/internal-<uuid>-wlan0.lease.
std::string NetworkManagerLease() {
  return test::ReadTestdata("agent/discovery/testdata/internal-wlan0.lease");
}

TEST(WpadTest, DhclientLeasesLatestLastOncePerUrl) {
  EXPECT_THAT(ParseDhcpWpadOption(DhclientLeases()),
              ElementsAre("http://wpad.hotel/wpad.dat", "http://wpad.corp.example/wpad.dat"));
  EXPECT_THAT(ParseDhcpWpadOption("option wpad-url \"https://pac.corp/p.pac\";\n"),
              ElementsAre("https://pac.corp/p.pac"));
  EXPECT_THAT(ParseDhcpWpadOption("option unknown-252 \"http://x/\\\"y\\\".pac\";\n"
                                  "option domain-name \"http://not-wpad/\";\n"),
              ElementsAre("http://x/\"y\".pac"));
  EXPECT_THAT(ParseDhcpWpadOption(""), IsEmpty());
}

// Found by fuzzing (tests/fuzz/corpus/lease_file/crash-*): control bytes
// and NULs inside the value came through as part of the URL.
TEST(WpadTest, ValuesWithControlCharactersAreNoUrls) {
  std::string lease = "option wpad-url \"https://pac.corp/p.pac";
  lease += '\x01';
  lease += std::string(7, '\0');
  lease += "\";\noption wpad \"http://a b/\";\nWPAD=http://c/\x7f\n";
  EXPECT_THAT(ParseDhcpWpadOption(lease), IsEmpty());
}

TEST(WpadTest, NetworkManagerLeaseInTextAndHex) {
  // The odd-length hex and the ftp:// URL are skipped.
  EXPECT_THAT(ParseDhcpWpadOption(NetworkManagerLease()),
              ElementsAre("http://proxyconf.branch.corp.example/proxy.pac"));
  EXPECT_THAT(ParseDhcpWpadOption("OPTION_252=687474703a2f2f777061642f7770616400\n"
                                  "OPTION_252=68:74:74:70:3a:2f:2f:61\n"),
              ElementsAre("http://wpad/wpad", "http://a"));
}

TEST(WpadTest, DnsWalkStopsAtTheRegistrableDomain) {
  EXPECT_THAT(
      WpadDnsCandidates("a.b.corp.example.co.uk", {}),
      ElementsAre("http://wpad.a.b.corp.example.co.uk/wpad.dat",
                  "http://wpad.b.corp.example.co.uk/wpad.dat",
                  "http://wpad.corp.example.co.uk/wpad.dat", "http://wpad.example.co.uk/wpad.dat"));
  EXPECT_THAT(
      WpadDnsCandidates("Eng.Corp.Example.COM.", {}),
      ElementsAre("http://wpad.eng.corp.example.com/wpad.dat",
                  "http://wpad.corp.example.com/wpad.dat", "http://wpad.example.com/wpad.dat"));
  // Never wpad.<public suffix>: the hijack.
  for (const char* domain : {"example.com", "example.co.uk", "example.com.au"}) {
    EXPECT_THAT(WpadDnsCandidates(domain, {}),
                ElementsAre(std::string("http://wpad.") + domain + "/wpad.dat"));
  }
  for (const char* domain : {"com", "co.uk", "com.au", "corp", "", ".", "10.0.0.1",
                             "bad..example.com", "under score!.example.com"}) {
    EXPECT_THAT(WpadDnsCandidates(domain, {}), IsEmpty()) << domain;
  }
}

TEST(WpadTest, DnsWalkAddsSearchDomainsWithoutRepeats) {
  EXPECT_THAT(
      WpadDnsCandidates("eng.corp.example", {"corp.example", "lab.example.org", "co.jp"}),
      ElementsAre("http://wpad.eng.corp.example/wpad.dat", "http://wpad.corp.example/wpad.dat",
                  "http://wpad.lab.example.org/wpad.dat", "http://wpad.example.org/wpad.dat"));
  EXPECT_THAT(WpadDnsCandidates("", {"corp.example"}),
              ElementsAre("http://wpad.corp.example/wpad.dat"));
}

TEST(WpadTest, ResolvConfLastSearchOrDomainWins) {
  EXPECT_THAT(ParseResolvConfSearch("# Generated by NetworkManager\n"
                                    "domain old.example\n"
                                    "search eng.corp.example. corp.example\n"
                                    "nameserver 10.0.0.53\n"
                                    "options edns0 trust-ad\n"),
              ElementsAre("eng.corp.example", "corp.example"));
  EXPECT_THAT(ParseResolvConfSearch("search a.example b.example\ndomain c.example d.example\n"),
              ElementsAre("c.example"));
  // systemd-resolved's stub file when there is no search domain.
  EXPECT_THAT(ParseResolvConfSearch("nameserver 127.0.0.53\noptions edns0\nsearch .\n"), IsEmpty());
  EXPECT_THAT(ParseResolvConfSearch("; search commented.example\nnameserver 1.1.1.1\n"), IsEmpty());
}

TEST(WpadSourceTest, DhcpLeasesFirstThenTheDnsWalk) {
  const std::string dir = TestDir("wpad");
  std::filesystem::create_directories(dir + "/dhcp");
  std::filesystem::create_directories(dir + "/nm");
  WriteFile(dir + "/dhcp/dhclient.eth0.leases", DhclientLeases());
  WriteFile(dir + "/dhcp/dhclient.conf", "option wpad \"http://not-a-lease/\";\n");
  WriteFile(dir + "/nm/internal-0f3c-wlan0.lease", NetworkManagerLease());
  WriteFile(dir + "/resolv.conf", "nameserver 10.0.0.53\nsearch corp.example lab.example.org\n");

  WpadPlaces places;
  places.dhclient_dirs = {dir + "/dhcp", dir + "/missing"};
  places.networkmanager_dirs = {dir + "/nm"};
  places.resolv_conf = dir + "/resolv.conf";
  places.host_domain = "eng.corp.example";
  WpadSource source(places);
  EXPECT_EQ(source.name(), "wpad");
  DiscoveryResult r = source.Discover();
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_THAT(
      PacUrls(r),
      ElementsAre("http://wpad.corp.example/wpad.dat",  // latest lease first
                  "http://wpad.hotel/wpad.dat", "http://proxyconf.branch.corp.example/proxy.pac",
                  "http://wpad.eng.corp.example/wpad.dat", "http://wpad.corp.example/wpad.dat",
                  "http://wpad.lab.example.org/wpad.dat", "http://wpad.example.org/wpad.dat"));
  for (const PacLocation& pac : r.pac) EXPECT_EQ(pac.source, v1::PROXY_SOURCE_WPAD);
  EXPECT_EQ(r.pac[0].detail, dir + "/dhcp/dhclient.eth0.leases (DHCP option 252)");
  EXPECT_EQ(r.pac[2].detail, dir + "/nm/internal-0f3c-wlan0.lease (DHCP option 252)");
  EXPECT_THAT(r.pac[3].detail, HasSubstr(dir + "/resolv.conf"));
  // How each was found, as the proxies its PAC names will say.
  EXPECT_EQ(WpadFoundBy(r.pac[0]), "DHCP option 252 http://wpad.corp.example/wpad.dat");
  EXPECT_EQ(WpadFoundBy(r.pac[2]),
            "DHCP option 252 http://proxyconf.branch.corp.example/proxy.pac");
  EXPECT_EQ(WpadFoundBy(r.pac[3]), "DNS wpad.eng.corp.example");
  EXPECT_EQ(WpadFoundBy(r.pac[6]), "DNS wpad.example.org");
  EXPECT_TRUE(r.proxies.empty());
  EXPECT_FALSE(r.explicitly_direct);
}

TEST(WpadSourceTest, NothingConfiguredIsNothing) {
  const std::string dir = TestDir("wpad_empty");
  WpadPlaces places;
  places.dhclient_dirs = {dir};
  places.networkmanager_dirs = {dir};
  places.resolv_conf = dir + "/resolv.conf";
  places.host_domain = "";
  DiscoveryResult r = WpadSource(places).Discover();
  EXPECT_TRUE(r.pac.empty() && r.warnings.empty());
}

TEST(WpadTest, UserInfoNeverReachesAUrlShownOrUploaded) {
  EXPECT_EQ(UrlWithoutUserInfo("http://u:p%40ss@wpad.corp.example:8080/wpad.dat?x=@y"),
            "http://wpad.corp.example:8080/wpad.dat?x=@y");
  EXPECT_EQ(UrlWithoutUserInfo("https://user@pac.corp/p.pac"), "https://pac.corp/p.pac");
  EXPECT_EQ(UrlWithoutUserInfo("http://wpad/wpad.dat#@frag"), "http://wpad/wpad.dat#@frag");
  EXPECT_EQ(UrlWithoutUserInfo("file:///etc/proxy.pac"), "file:///etc/proxy.pac");
  EXPECT_EQ(UrlWithoutUserInfo("wpad"), "wpad");
  const PacLocation leased{"http://alice:s3cret@wpad.corp.example/wpad.dat", v1::PROXY_SOURCE_WPAD,
                           "/var/lib/dhcp/dhclient.leases (DHCP option 252)"};
  EXPECT_EQ(WpadFoundBy(leased), "DHCP option 252 http://wpad.corp.example/wpad.dat");
}

// A source that returns what the test says.
class ScriptedSource final : public ProxySource {
 public:
  ScriptedSource(std::string name, DiscoveryResult result)
      : name_(std::move(name)), result_(std::move(result)) {}
  std::string name() const override { return name_; }
  DiscoveryResult Discover() override { return result_; }

 private:
  std::string name_;
  DiscoveryResult result_;
};

// WPAD's PAC files are found, not given: the proxies they name are
// PROXY_SOURCE_WPAD and say how the file was found; a PAC URL given
// explicitly stays PROXY_SOURCE_PAC, named by its URL.
TEST(DiscoverProxiesTest, ProxiesFromAWpadPacAreWpadAndFromAGivenPacArePac) {
  const std::string dir = TestDir("discover_wpad");
  WriteFile(dir + "/wpad.dat",
            "function FindProxyForURL(url, host) { return \"PROXY wpadproxy.corp:3128\"; }\n");
  WriteFile(dir + "/explicit.pac",
            "function FindProxyForURL(url, host) { return \"PROXY pacproxy.corp:8080\"; }\n");
  v1::Catalogue catalogue;
  v1::Relay* relay = catalogue.add_regions()->add_relays();
  relay->set_id("emea-1");
  relay->add_addresses("192.0.2.10");
  relay->add_ports(443);

  DiscoverOptions options;
  DiscoveryResult detect;  // a browser set to "detect automatically"
  detect.pac.push_back({"wpad", v1::PROXY_SOURCE_FIREFOX, "prefs.js:3 (auto-detect)"});
  options.sources.push_back(std::make_unique<ScriptedSource>("firefox", detect));
  DiscoveryResult wpad;
  wpad.pac.push_back({"file://" + dir + "/wpad.dat", v1::PROXY_SOURCE_WPAD,
                      "/var/lib/dhcp/dhclient.eth0.leases (DHCP option 252)"});
  options.wpad = std::make_unique<ScriptedSource>("wpad", wpad);
  options.pac_urls = {"file://" + dir + "/explicit.pac"};
  const ProxySetup setup = DiscoverProxies(catalogue, std::move(options));

  ASSERT_EQ(setup.routes.size(), 2u);
  EXPECT_EQ(setup.routes[0].url.host, "pacproxy.corp");
  EXPECT_EQ(setup.routes[0].source, v1::PROXY_SOURCE_PAC);
  EXPECT_EQ(setup.routes[0].detail, "file://" + dir + "/explicit.pac (PROXY pacproxy.corp:8080)");
  EXPECT_EQ(setup.routes[1].url.host, "wpadproxy.corp");
  EXPECT_EQ(setup.routes[1].source, v1::PROXY_SOURCE_WPAD);
  EXPECT_EQ(setup.routes[1].detail,
            "DHCP option 252 file://" + dir + "/wpad.dat (PROXY wpadproxy.corp:3128)");
}

// A browser asks FindProxyForURL with the host lower-cased and an IPv6
// address in brackets in the URL; each relay gets its own answer, in its
// own order, never the union of every relay's answers.
TEST(DiscoverProxiesTest, EachRelayGetsItsOwnPacAnswerAskedAsABrowserAsks) {
  const std::string dir = TestDir("discover_per_relay");
  WriteFile(dir + "/per_relay.pac",
            "function FindProxyForURL(url, host) {\n"
            "  if (url == 'https://[2001:db8::10]:443/' && host == '2001:db8::10')\n"
            "    return 'PROXY v6.corp:3128';\n"
            "  if (host == 'emea-1.relay.example') return 'PROXY emea.corp:3128; DIRECT';\n"
            "  if (host == 'EMEA-1.RELAY.EXAMPLE') return 'PROXY wrongcase.corp:1';\n"
            "  return 'DIRECT; PROXY other.corp:8080';\n"
            "}\n");
  v1::Catalogue catalogue;
  v1::Region* region = catalogue.add_regions();
  region->set_id("emea");
  v1::Relay* emea = region->add_relays();
  emea->set_id("emea-1");
  emea->set_host("EMEA-1.Relay.Example");
  emea->add_ports(8200);
  v1::Relay* v6 = region->add_relays();
  v6->set_id("v6-1");
  v6->add_addresses("2001:db8::10");
  v6->add_ports(443);
  v1::Relay* apac = region->add_relays();
  apac->set_id("apac-1");
  apac->add_addresses("203.0.113.5");
  apac->add_ports(443);

  DiscoverOptions options;
  options.pac_urls = {"file://" + dir + "/per_relay.pac"};
  const ProxySetup setup = DiscoverProxies(catalogue, std::move(options));
  ASSERT_EQ(setup.pac.size(), 1u);
  ASSERT_EQ(setup.pac[0].answers.size(), 3u) << setup.pac[0].error;
  EXPECT_EQ(setup.pac[0].answers[0].url, "https://emea-1.relay.example:8200/");
  EXPECT_EQ(setup.pac[0].answers[1].url, "https://[2001:db8::10]:443/");

  ASSERT_EQ(setup.relays.size(), 3u);
  auto names = [](const RelayRoutes& relay) {
    std::vector<std::string> out;
    for (const RelayRoute& route : relay.routes) {
      out.push_back(route.direct ? "direct" : route.proxy.url.host);
    }
    return out;
  };
  EXPECT_EQ(setup.relays[0].relay, "emea-1");
  EXPECT_THAT(names(setup.relays[0]), ElementsAre("emea.corp", "direct"));
  EXPECT_THAT(names(setup.relays[1]), ElementsAre("v6.corp", "direct"));
  EXPECT_THAT(names(setup.relays[2]), ElementsAre("direct", "other.corp"));
  EXPECT_THAT(setup.relays[2].routes[0].why,
              HasSubstr("answered \"DIRECT; PROXY other.corp:8080\""));
}

// A PAC that looks up more names than a query may: the lookups past the
// budget return null, and that relay's answer says so (it may differ from
// a browser's), as the proxies command and the console show.
TEST(DiscoverProxiesTest, ASandboxLimitThatChangedAnAnswerIsOnThatRelaysAnswer) {
  const std::string dir = TestDir("discover_limits");
  WriteFile(dir + "/lookups.pac",
            "function FindProxyForURL(url, host) {\n"
            "  if (host != 'many.example') return 'DIRECT';\n"
            "  for (var i = 0; i < 5; i++) dnsResolve('n' + i + '.example');\n"
            "  return 'PROXY p.corp:8080';\n}\n");
  v1::Catalogue catalogue;
  v1::Region* region = catalogue.add_regions();
  region->set_id("emea");
  v1::Relay* many = region->add_relays();
  many->set_id("many-1");
  many->set_host("many.example");
  many->add_ports(443);
  v1::Relay* few = region->add_relays();
  few->set_id("few-1");
  few->add_addresses("203.0.113.5");
  few->add_ports(443);
  DiscoverOptions options;
  options.pac_urls = {"file://" + dir + "/lookups.pac"};
  options.pac.max_resolves = 3;
  options.pac.resolve = [](const std::string&, bool) {
    return std::vector<std::string>{"192.0.2.1"};
  };
  const ProxySetup setup = DiscoverProxies(catalogue, std::move(options));
  ASSERT_EQ(setup.pac.size(), 1u);
  ASSERT_EQ(setup.pac[0].answers.size(), 2u) << setup.pac[0].error;
  EXPECT_THAT(setup.pac[0].answers[0].limits, ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(setup.pac[0].answers[0].limits[0], HasSubstr("n3.example"));
  EXPECT_THAT(setup.pac[0].answers[1].limits, ::testing::IsEmpty());
}

// no_proxy naming a relay sends that relay direct first, with the entry
// and source that decided; the proxy stays as a labelled alternative.
TEST(DiscoverProxiesTest, BypassListSendsTheNamedRelayDirectAndKeepsTheProxyAsAlternative) {
  v1::Catalogue catalogue;
  v1::Region* region = catalogue.add_regions();
  region->set_id("emea");
  v1::Relay* emea = region->add_relays();
  emea->set_id("emea-1");
  emea->set_host("emea-1.corp.example");
  emea->add_addresses("192.0.2.10");
  emea->add_ports(443);
  v1::Relay* amer = region->add_relays();
  amer->set_id("amer-1");
  amer->set_host("amer-1.relay.example");
  amer->add_ports(443);

  DiscoveryResult env = ParseEnvironment(
      {{"https_proxy", "http://proxy.corp:3128"}, {"no_proxy", "localhost,.corp.example"}});
  DiscoverOptions options;
  options.sources.push_back(std::make_unique<ScriptedSource>("env", env));
  const ProxySetup setup = DiscoverProxies(catalogue, std::move(options));
  ASSERT_EQ(setup.relays.size(), 2u);
  const RelayRoutes& bypassed = setup.relays[0];
  ASSERT_EQ(bypassed.routes.size(), 2u);
  EXPECT_TRUE(bypassed.routes[0].direct);
  EXPECT_TRUE(bypassed.routes[0].bypassed);
  EXPECT_FALSE(bypassed.routes[0].alternative);
  EXPECT_EQ(bypassed.routes[0].bypass_entry, ".corp.example");
  EXPECT_EQ(bypassed.routes[0].bypass_source, v1::PROXY_SOURCE_ENV);
  EXPECT_EQ(bypassed.routes[0].why, "bypassed by no_proxy entry `.corp.example` (env)");
  EXPECT_EQ(bypassed.routes[1].proxy.url.host, "proxy.corp");
  EXPECT_TRUE(bypassed.routes[1].alternative);

  const RelayRoutes& proxied = setup.relays[1];
  ASSERT_EQ(proxied.routes.size(), 2u);
  EXPECT_EQ(proxied.routes[0].proxy.url.host, "proxy.corp");
  EXPECT_FALSE(proxied.routes[0].alternative);
  EXPECT_TRUE(proxied.routes[1].direct);
  EXPECT_FALSE(proxied.routes[1].bypassed);
}

// GNOME's ignore-hosts apply before its PAC is asked.
TEST(DiscoverProxiesTest, GnomeIgnoreHostsSkipTheGnomePac) {
  const std::string dir = TestDir("discover_gnome_ignore");
  WriteFile(dir + "/gnome.pac",
            "function FindProxyForURL(url, host) { return 'PROXY gnomeproxy.corp:3128'; }\n");
  v1::Catalogue catalogue;
  v1::Relay* relay = catalogue.add_regions()->add_relays();
  relay->set_id("emea-1");
  relay->set_host("emea-1.corp.example");
  relay->add_ports(443);
  DiscoveryResult gnome =
      ParseGsettingsProxy("org.gnome.system.proxy autoconfig-url 'file://" + dir +
                          "/gnome.pac'\n"
                          "org.gnome.system.proxy ignore-hosts ['*.corp.example']\n"
                          "org.gnome.system.proxy mode 'auto'\n");
  DiscoverOptions options;
  options.sources.push_back(std::make_unique<ScriptedSource>("gnome", gnome));
  const ProxySetup setup = DiscoverProxies(catalogue, std::move(options));
  ASSERT_EQ(setup.relays.size(), 1u);
  ASSERT_EQ(setup.relays[0].routes.size(), 2u);
  EXPECT_TRUE(setup.relays[0].routes[0].direct);
  EXPECT_EQ(setup.relays[0].routes[0].bypass_entry, "*.corp.example");
  EXPECT_EQ(setup.relays[0].routes[0].bypass_source, v1::PROXY_SOURCE_GNOME);
  EXPECT_THAT(setup.relays[0].routes[0].why, HasSubstr("ignore-hosts entry `*.corp.example`"));
  EXPECT_EQ(setup.relays[0].routes[1].proxy.url.host, "gnomeproxy.corp");
  EXPECT_TRUE(setup.relays[0].routes[1].alternative);
}

}  // namespace
}  // namespace relayscope::agent
