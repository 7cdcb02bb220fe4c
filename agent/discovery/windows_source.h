// Windows Internet Settings: the per-user proxy configuration that WinINet,
// WinHTTP clients, Edge and Chrome follow. On Windows it is read from the
// registry; everywhere else (and in tests) from a regedit export of
// HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings.
#ifndef AGENT_DISCOVERY_WINDOWS_SOURCE_H_
#define AGENT_DISCOVERY_WINDOWS_SOURCE_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

namespace relayscope::agent {

// Parses a regedit export (.reg): UTF-16LE with a BOM as regedit writes it,
// or UTF-8/ASCII; "Windows Registry Editor Version 5.00" or "REGEDIT4"
// header; lines continued with a trailing backslash. Only values of the
// Internet Settings key itself count (its subkeys hold look-alike names),
// plus the auto-detect flag of Connections\DefaultConnectionSettings.
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
//
// Every result is PROXY_SOURCE_WINDOWS with detail "<path>:<line>".
// Malformed lines become warnings "<path>:<line>: ..." and parsing goes on.
DiscoveryResult ParseRegExport(absl::string_view text, const std::string& path);

// The Windows proxy source. On Windows, with an empty `reg_path`, it asks
// WinHttpGetIEProxyConfigForCurrentUser; elsewhere it reads the .reg export
// at `reg_path` (empty: it finds nothing). A `reg_path` that cannot be
// read is a warning.
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
