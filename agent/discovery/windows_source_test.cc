// The Windows Internet Settings rules that do not need Windows: the
// connection settings blob, byte by byte and from .reg exports, and the
// registry reading order over a fake registry.
#include "agent/discovery/windows_source.h"

#include <map>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Dword(uint32_t value) {
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  return out;
}
std::string Counted(const std::string& text) { return Dword(text.size()) + text; }

// A blob as Windows 10 writes it: version, counter, flags, the three
// strings, then its detection bookkeeping.
std::string Blob(uint32_t flags, const std::string& proxy, const std::string& bypass,
                 const std::string& url) {
  return Dword(0x46) + Dword(7) + Dword(flags) + Counted(proxy) + Counted(bypass) + Counted(url) +
         Dword(1) + std::string(28, '\0');
}

// "hex:.." as regedit writes a binary value (without the line wrapping).
std::string Hex(const std::string& bytes) {
  std::string out = "hex:";
  for (size_t i = 0; i < bytes.size(); ++i) {
    static const char kDigits[] = "0123456789abcdef";
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (i > 0) out.push_back(',');
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

TEST(ConnectionSettingsTest, DecodesEveryFieldOfAWindows10Blob) {
  auto blob = DecodeConnectionSettings(
      Blob(kProxyTypeDirect | kProxyTypeProxy | kProxyTypeAutoProxyUrl | kProxyTypeAutoDetect,
           "proxy.corp:3128", "*.corp;<local>", "http://wpad.corp/wpad.dat"));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->version, 0x46u);
  EXPECT_EQ(blob->counter, 7u);
  EXPECT_EQ(blob->flags, 0x0Fu);
  EXPECT_EQ(blob->proxy_server, "proxy.corp:3128");
  EXPECT_EQ(blob->proxy_bypass, "*.corp;<local>");
  EXPECT_EQ(blob->auto_config_url, "http://wpad.corp/wpad.dat");
  EXPECT_EQ(blob->trailing, Dword(1) + std::string(28, '\0'));
}

TEST(ConnectionSettingsTest, ShortBlobsEndAtAFieldAndCountedNulsAndLatin1AreRead) {
  // Ends after the flags: every string empty.
  auto flags_only = DecodeConnectionSettings(Dword(0x3C) + Dword(1) + Dword(kProxyTypeDirect));
  ASSERT_TRUE(flags_only.ok()) << flags_only.status();
  EXPECT_EQ(flags_only->version, 0x3Cu);
  EXPECT_EQ(flags_only->proxy_server, "");
  EXPECT_EQ(flags_only->auto_config_url, "");
  // A length that counts the terminating NUL; a Windows-1252 byte.
  auto nul = DecodeConnectionSettings(Dword(0x46) + Dword(1) + Dword(3) +
                                      Counted("p:1" + std::string(1, '\0')) +
                                      Counted("b\xFC"
                                              "cher.example"));
  ASSERT_TRUE(nul.ok()) << nul.status();
  EXPECT_EQ(nul->proxy_server, "p:1");
  EXPECT_EQ(nul->proxy_bypass,
            "b\xC3\xBC"
            "cher.example");
  EXPECT_EQ(nul->auto_config_url, "");
}

TEST(ConnectionSettingsTest, TruncatedOrLyingBlobsAreErrorsNamingTheField) {
  EXPECT_THAT(DecodeConnectionSettings("").status().message(),
              HasSubstr("0 bytes long, too short for its flags"));
  EXPECT_THAT(DecodeConnectionSettings(std::string(11, '\0')).status().message(),
              HasSubstr("11 bytes long"));
  const std::string head = Dword(0x46) + Dword(1) + Dword(3);
  EXPECT_THAT(DecodeConnectionSettings(head + std::string("\x05\x00", 2)).status().message(),
              HasSubstr("ends inside the length of its proxy server (offset 12)"));
  EXPECT_THAT(DecodeConnectionSettings(head + Dword(0xFFFFFFFF) + "abc").status().message(),
              HasSubstr("says its proxy server (offset 12) is 4294967295 bytes long, but only 3 "
                        "follow"));
  EXPECT_THAT(
      DecodeConnectionSettings(head + Counted("p:1") + Counted("") + Dword(40) + "http://x")
          .status()
          .message(),
      HasSubstr("says its auto-config URL (offset 23) is 40 bytes long, but only 8 follow"));
  // Every prefix of a real blob decodes or fails cleanly (never reads past
  // the end: run under ASan in the asan preset).
  const std::string whole = Blob(0x0F, "proxy.corp:3128", "<local>", "http://wpad/wpad.dat");
  int decoded = 0;
  for (size_t n = 0; n <= whole.size(); ++n) {
    if (DecodeConnectionSettings(whole.substr(0, n)).ok()) ++decoded;
  }
  // The prefixes that end at a field: after the flags and after each string,
  // then every length into the trailing bytes (32 of them, plus the end).
  EXPECT_EQ(decoded, 3 + 33);
}

std::string Export(const std::string& plain, const std::string& connections) {
  return "Windows Registry Editor Version 5.00\r\n\r\n"
         "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet "
         "Settings]\r\n" +
         plain +
         "\r\n[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet "
         "Settings\\Connections]\r\n" +
         connections;
}

TEST(WindowsRegBlobTest, TheBlobWinsOverDisagreeingPlainValuesAndSaysSo) {
  // What `reg add` leaves: new plain values, the old blob. WinINet (and
  // WinHTTP under Wine) follows the blob.
  DiscoveryResult r = ParseRegExport(
      Export("\"ProxyEnable\"=dword:00000001\r\n"       // line 4
             "\"ProxyServer\"=\"typed.corp:8080\"\r\n"  // line 5
             "\"AutoConfigURL\"=\"http://old/pac\"\r\n",
             "\"DefaultConnectionSettings\"=" +
                 Hex(Blob(kProxyTypeDirect | kProxyTypeProxy, "blob.corp:3128", "<local>",
                          "http://old/pac")) +
                 "\r\n"),  // line 9, after a blank line and the key
      "ie.reg");
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "blob.corp");
  EXPECT_EQ(r.proxies[0].url.port, 3128);
  EXPECT_EQ(r.proxies[0].detail, "ie.reg:9 (DefaultConnectionSettings)");
  EXPECT_THAT(r.proxies[0].bypass, ElementsAre("<local>"));
  // The URL is in the blob but its flag (0x04) is off: no PAC.
  EXPECT_THAT(r.pac, IsEmpty());
  EXPECT_THAT(r.warnings,
              ElementsAre("ie.reg:5: ProxyServer says \"typed.corp:8080\" but ie.reg:9 "
                          "(DefaultConnectionSettings), which WinINet and WinHTTP follow, says "
                          "\"blob.corp:3128\"",
                          "ie.reg:6: AutoConfigURL says \"http://old/pac\" but ie.reg:9 "
                          "(DefaultConnectionSettings), which WinINet and WinHTTP follow, says no "
                          "PAC URL"));
}

TEST(WindowsRegBlobTest, ALyingBlobIsAWarningAndThePlainValuesApply) {
  DiscoveryResult r = ParseRegExport(
      Export("\"ProxyEnable\"=dword:00000001\r\n\"ProxyServer\"=\"plain.corp:8080\"\r\n",
             "\"DefaultConnectionSettings\"=" + Hex(Dword(0x46) + Dword(1) + Dword(3) + Dword(99)) +
                 "\r\n"),
      "ie.reg");
  ASSERT_EQ(r.proxies.size(), 1u);
  EXPECT_EQ(r.proxies[0].url.host, "plain.corp");
  EXPECT_EQ(r.proxies[0].detail, "ie.reg:5");
  EXPECT_THAT(r.warnings, ElementsAre(HasSubstr("ie.reg:8: DefaultConnectionSettings says its "
                                                "proxy server (offset 12) is 99 bytes long")));
}

TEST(WindowsRegBlobTest, SavedLegacySettingsStandsInOnlyWithoutTheDefault) {
  const std::string legacy =
      "\"SavedLegacySettings\"=" + Hex(Blob(kProxyTypeAutoDetect | kProxyTypeDirect, "", "", "")) +
      "\r\n";
  DiscoveryResult alone = ParseRegExport(Export("", legacy), "a.reg");
  ASSERT_EQ(alone.pac.size(), 1u);
  EXPECT_EQ(alone.pac[0].url, "wpad");
  EXPECT_EQ(alone.pac[0].detail, "a.reg:6 (SavedLegacySettings) (auto-detect)");

  const std::string with_default =
      "\"DefaultConnectionSettings\"=" +
      Hex(Blob(kProxyTypeDirect | kProxyTypeProxy, "d.corp:1", "", "")) + "\r\n";
  for (const std::string& connections : {legacy + with_default, with_default + legacy}) {
    DiscoveryResult both = ParseRegExport(Export("", connections), "b.reg");
    EXPECT_THAT(both.pac, IsEmpty());
    ASSERT_EQ(both.proxies.size(), 1u);
    EXPECT_EQ(both.proxies[0].url.host, "d.corp");
  }
}

// A registry of a few values.
class FakeRegistry final : public RegistryView {
 public:
  using Key = std::tuple<Hive, std::string, std::string>;
  std::map<Key, uint32_t> dwords;
  std::map<Key, std::string> strings;
  std::map<Key, std::string> binaries;

  std::optional<uint32_t> Dword(Hive hive, const std::string& key,
                                const std::string& name) const override {
    auto it = dwords.find({hive, key, name});
    return it == dwords.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
  std::optional<std::string> String(Hive hive, const std::string& key,
                                    const std::string& name) const override {
    auto it = strings.find({hive, key, name});
    return it == strings.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::optional<std::string> Binary(Hive hive, const std::string& key,
                                    const std::string& name) const override {
    auto it = binaries.find({hive, key, name});
    return it == binaries.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

constexpr char kSettings[] = "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";
constexpr char kConnections[] =
    "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections";
constexpr auto kUser = RegistryView::Hive::kCurrentUser;
constexpr auto kMachine = RegistryView::Hive::kLocalMachine;

TEST(WindowsRegistryTest, PerUserPlainValuesNameTheirRegistryValue) {
  FakeRegistry registry;
  registry.dwords[{kUser, kSettings, "ProxyEnable"}] = 1;
  registry.strings[{kUser, kSettings, "ProxyServer"}] = "https=tls.corp:8443;socks=s.corp:1080";
  registry.strings[{kUser, kSettings, "ProxyOverride"}] = "<local>";
  registry.strings[{kUser, kSettings, "AutoConfigURL"}] = " http://pac.corp/p.pac ";
  // HKLM's own values are not used while the policy is per-user.
  registry.dwords[{kMachine, kSettings, "ProxyEnable"}] = 1;
  registry.strings[{kMachine, kSettings, "ProxyServer"}] = "machine.corp:1";
  DiscoveryResult r = ReadInternetSettings(registry);
  EXPECT_THAT(r.warnings, IsEmpty());
  ASSERT_EQ(r.proxies.size(), 2u);
  EXPECT_EQ(r.proxies[0].url.host, "tls.corp");
  EXPECT_EQ(r.proxies[0].scope, "https");
  EXPECT_EQ(r.proxies[1].url.kind, v1::ROUTE_KIND_SOCKS4);
  EXPECT_EQ(r.proxies[0].detail,
            "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\ProxyServer");
  EXPECT_THAT(r.proxies[0].bypass, ElementsAre("<local>"));
  ASSERT_EQ(r.pac.size(), 1u);
  EXPECT_EQ(r.pac[0].url, "http://pac.corp/p.pac");
  EXPECT_EQ(r.pac[0].detail,
            "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\AutoConfigURL");
}

TEST(WindowsRegistryTest, PerMachinePolicyReadsHklmAndItsBlobWins) {
  FakeRegistry registry;
  registry.dwords[{kMachine,
                   "Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings",
                   "ProxySettingsPerUser"}] = 0;
  registry.dwords[{kUser, kSettings, "ProxyEnable"}] = 1;
  registry.strings[{kUser, kSettings, "ProxyServer"}] = "user.corp:1";
  registry.binaries[{kMachine, kConnections, "DefaultConnectionSettings"}] =
      Blob(kProxyTypeDirect | kProxyTypeAutoProxyUrl, "", "", "http://machine/pac");
  DiscoveryResult r = ReadInternetSettings(registry);
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_THAT(r.proxies, IsEmpty());
  ASSERT_EQ(r.pac.size(), 1u);
  EXPECT_EQ(r.pac[0].url, "http://machine/pac");
  EXPECT_EQ(r.pac[0].detail,
            "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet "
            "Settings\\Connections\\DefaultConnectionSettings");
  EXPECT_FALSE(r.explicitly_direct);  // a PAC is set
}

TEST(WindowsRegistryTest, ABrokenBlobFallsBackToTheLegacyCopyWithAWarning) {
  FakeRegistry registry;
  registry.binaries[{kUser, kConnections, "DefaultConnectionSettings"}] =
      std::string("\x46\x00", 2);
  registry.binaries[{kUser, kConnections, "SavedLegacySettings"}] =
      Blob(kProxyTypeDirect, "", "", "");
  DiscoveryResult r = ReadInternetSettings(registry);
  EXPECT_TRUE(r.explicitly_direct);
  EXPECT_THAT(r.warnings,
              ElementsAre(HasSubstr("Connections\\DefaultConnectionSettings is 2 bytes long")));
}

TEST(WindowsRegistryTest, NoRealRegistryOffWindows) {
#ifdef _WIN32
  EXPECT_NE(SystemRegistry(), nullptr);
#else
  EXPECT_EQ(SystemRegistry(), nullptr);
#endif
}

}  // namespace
}  // namespace relayscope::agent
