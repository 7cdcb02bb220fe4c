// Windows Internet Settings: the proxy configuration that WinINet, WinHTTP
// clients, Edge and Chrome follow. On Windows it is read from the registry
// as WinINet reads it (the Connections\DefaultConnectionSettings blob over
// the plain values, HKLM instead of HKCU when policy says per-machine);
// everywhere else (and in tests) from a regedit export of
// HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings.
#ifndef AGENT_DISCOVERY_WINDOWS_SOURCE_H_
#define AGENT_DISCOVERY_WINDOWS_SOURCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

namespace relayscope::agent {

// The flags of a connection settings blob (wininet.h's PROXY_TYPE_*).
inline constexpr uint32_t kProxyTypeDirect = 0x1;
inline constexpr uint32_t kProxyTypeProxy = 0x2;
inline constexpr uint32_t kProxyTypeAutoProxyUrl = 0x4;
inline constexpr uint32_t kProxyTypeAutoDetect = 0x8;

// WinINet's per-connection settings (the REG_BINARY values
// Connections\DefaultConnectionSettings and SavedLegacySettings): since
// Windows 7 the only place "Automatically detect settings" lives, and what
// WinINet (and, under Wine, WinHTTP) follows when it disagrees with the
// plain ProxyEnable/ProxyServer values.
//
//   DWORD version (0x46 since IE7, 0x3C before), DWORD change counter,
//   DWORD flags (kProxyType*), then three length-prefixed strings in the
//   ANSI code page: proxy server, bypass list, auto-config URL; then
//   WinINet's auto-detection bookkeeping, kept in `trailing`.
struct ConnectionSettings {
  uint32_t version = 0;
  uint32_t counter = 0;
  uint32_t flags = 0;
  std::string proxy_server;  // UTF-8 (a string that is not UTF-8 is read as Latin-1)
  std::string proxy_bypass;
  std::string auto_config_url;
  // The bytes after the auto-config URL (the last detection's flags, time
  // and URL): kept but not interpreted, since no route depends on them.
  std::string trailing;
};

// Decodes a connection settings blob. A blob may end after any whole field
// (older writers stop after the flags or the proxy string): the fields
// after it are empty. INVALID_ARGUMENT, naming the field and offset, for a
// blob shorter than its flags, a length field cut short, or a length that
// runs past the end (a truncated or lying blob).
absl::StatusOr<ConnectionSettings> DecodeConnectionSettings(absl::string_view blob);

// Parses a regedit export (.reg): UTF-16LE with a BOM as regedit writes it,
// or UTF-8/ASCII; "Windows Registry Editor Version 5.00" or "REGEDIT4"
// header; lines continued with a trailing backslash. Only values of the
// Internet Settings key itself count (its subkeys hold look-alike names),
// plus the Connections blobs.
//
//   ProxyEnable=dword:0  explicitly direct, unless a PAC URL or auto-detect
//                        is set
//   ProxyServer          "host:port" (every scheme, scope "") or
//                        "http=a:1;https=b:2;socks=c:3" (scope per entry;
//                        socks= is SOCKS4, as WinINet speaks it); used
//                        only with ProxyEnable=dword:1
//   ProxyOverride        ";"-separated bypass list, "<local>" included
//   AutoConfigURL        a PacLocation
//   AutoDetect=dword:1   a PacLocation with url "wpad"
//   Connections\DefaultConnectionSettings (else SavedLegacySettings)
//                        replaces all of the above when it decodes, as in
//                        WinINet; where the plain values say otherwise a
//                        warning names both
//
// Every result is PROXY_SOURCE_WINDOWS with detail "<path>:<line>" (plus
// " (DefaultConnectionSettings)" when the blob decided it). Malformed lines
// and blobs become warnings "<path>:<line>: ..." and parsing goes on.
DiscoveryResult ParseRegExport(absl::string_view text, const std::string& path);

// The registry as the Windows source reads it: a seam, so the reading
// rules (per-user or per-machine, the blob over the plain values) are
// tested everywhere, and only the real registry is Windows-only.
class RegistryView {
 public:
  enum class Hive { kCurrentUser, kLocalMachine };
  virtual ~RegistryView() = default;
  // The value `name` of `key` (a path below the hive), or nullopt when it
  // does not exist or has another type. Strings come back as UTF-8.
  virtual std::optional<uint32_t> Dword(Hive hive, const std::string& key,
                                        const std::string& name) const = 0;
  virtual std::optional<std::string> String(Hive hive, const std::string& key,
                                            const std::string& name) const = 0;
  virtual std::optional<std::string> Binary(Hive hive, const std::string& key,
                                            const std::string& name) const = 0;
};

// Internet Settings as WinINet reads them from `registry`: HKCU's, or
// HKLM's when the policy value ProxySettingsPerUser of
// HKLM\Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings
// is 0; the Connections blob over ProxyEnable,
// ProxyServer, ProxyOverride and AutoConfigURL. Each result's detail names
// the value it came from ("HKCU\...\Internet Settings\ProxyServer").
DiscoveryResult ReadInternetSettings(const RegistryView& registry);

// The real registry (RegGetValueW); nullptr where there is none (not
// Windows).
std::unique_ptr<RegistryView> SystemRegistry();

// The Windows proxy source. With an empty `reg_path` it reads the real
// registry (on Windows; elsewhere it finds nothing); otherwise the .reg
// export at `reg_path`. A `reg_path` that cannot be read is a warning.
class WindowsSource final : public ProxySource {
 public:
  explicit WindowsSource(std::string reg_path) : reg_path_(std::move(reg_path)) {}

  std::string name() const override { return "windows"; }
  DiscoveryResult Discover() override;

 private:
  std::string reg_path_;
};

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_WINDOWS_SOURCE_H_
