// Desktop proxy settings: KDE (kioslaverc), GNOME (gsettings) and macOS
// (scutil --proxy). Each has a pure parser over the text the desktop keeps
// or prints, and a ProxySource that reads the real file or runs the real
// command.
#ifndef AGENT_DISCOVERY_DESKTOP_SOURCES_H_
#define AGENT_DISCOVERY_DESKTOP_SOURCES_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

namespace relayscope::agent {

// KDE: the [Proxy Settings] group of kioslaverc. ProxyType 0 is explicitly
// direct; 1 manual (httpProxy, httpsProxy, socksProxy, written
// "http://proxy 8080" (KDE puts a space before the port) or
// "http://proxy:8080"); 2 the PAC at "Proxy Config Script"; 3 WPAD (a
// PacLocation "wpad"); 4 the environment variables (left to the env
// source: nothing here). NoProxyFor (comma-separated) is every proxy's
// bypass. PROXY_SOURCE_KDE, detail "<path>:<line>"; malformed lines are
// warnings "<path>:<line>: ...".
DiscoveryResult ParseKioslaverc(absl::string_view text, const std::string& path);

// GNOME: the output of `gsettings list-recursively org.gnome.system.proxy`
// ("org.gnome.system.proxy.http host 'proxy.corp'"). mode 'none' is
// explicitly direct; 'manual' uses the http, https and socks host/port
// pairs (and the http credentials when use-authentication is true); 'auto'
// the autoconfig-url, or WPAD ("wpad") when it is empty, as GNOME does.
// ignore-hosts is every proxy's bypass. PROXY_SOURCE_GNOME, detail
// "gsettings <schema> <key>"; malformed lines are warnings
// "gsettings:<line>: ...".
DiscoveryResult ParseGsettingsProxy(absl::string_view text);

// macOS: the output of `scutil --proxy`. HTTPEnable/HTTPProxy/HTTPPort,
// HTTPSEnable/..., SOCKSEnable/... (SOCKS5), ProxyAutoConfigEnable with
// ProxyAutoConfigURLString, ProxyAutoDiscoveryEnable ("wpad");
// ExceptionsList is every proxy's bypass, plus "<local>" when
// ExcludeSimpleHostnames is 1. Nothing enabled is explicitly direct. Only
// the top-level dictionary counts (__SCOPED__ repeats it per interface).
// PROXY_SOURCE_MACOS, detail "scutil --proxy:<line>".
DiscoveryResult ParseScutilProxy(absl::string_view text);

// kioslaverc in `config_dir` ($XDG_CONFIG_HOME, else ~/.config). A missing
// file is no result and no warning: KDE is simply not in use.
class KdeSource final : public ProxySource {
 public:
  explicit KdeSource(std::string config_dir) : config_dir_(std::move(config_dir)) {}
  // $XDG_CONFIG_HOME, else `home`/.config.
  static std::string DefaultConfigDir(const std::string& home);

  std::string name() const override { return "kde"; }
  DiscoveryResult Discover() override;

 private:
  std::string config_dir_;
};

// Runs `<gsettings> list-recursively org.gnome.system.proxy` (at most 2 s,
// 256 KiB of output). No gsettings, no GNOME schema, or gsettings falling
// back to its in-memory backend (no dconf: the defaults, not the user's
// settings) is no result and no warning.
class GnomeSource final : public ProxySource {
 public:
  explicit GnomeSource(std::string gsettings = "gsettings") : gsettings_(std::move(gsettings)) {}

  std::string name() const override { return "gnome"; }
  DiscoveryResult Discover() override;

 private:
  std::string gsettings_;
};

// Runs `scutil --proxy` on macOS; elsewhere finds nothing.
class MacosSource final : public ProxySource {
 public:
  std::string name() const override { return "macos"; }
  DiscoveryResult Discover() override;
};

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_DESKTOP_SOURCES_H_
