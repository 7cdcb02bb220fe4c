// The proxy sources: environment, Firefox and the seed-compatible manual
// file (Windows: windows_source.h; desktops: desktop_sources.h; WPAD:
// wpad.h). Each has a pure parser over text (unit-tested over real-shaped
// fixtures) and a ProxySource that reads the real place.
#ifndef AGENT_DISCOVERY_SOURCES_H_
#define AGENT_DISCOVERY_SOURCES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/discovery/source.h"

namespace relayscope::agent {

// http_proxy / https_proxy / all_proxy / no_proxy, lower or upper case (the
// lower-case one wins, as in curl).
DiscoveryResult ParseEnvironment(const std::map<std::string, std::string>& env);

// Firefox: the default profile's directory from profiles.ini text (the
// [Install*] Default=, else the profile with Default=1, else the first);
// relative paths are joined to `base_dir`. NOT_FOUND if there is none.
absl::StatusOr<std::string> DefaultFirefoxProfile(absl::string_view profiles_ini,
                                                  const std::string& base_dir);
// The network.proxy.* user_pref lines of a prefs.js.
DiscoveryResult ParsePrefsJs(absl::string_view text, const std::string& path);

// The seed's manual file: "Proxy=host:port" lines (or a proxy URL).
DiscoveryResult ParseManualFile(absl::string_view text, const std::string& path);

// The sources themselves.
std::unique_ptr<ProxySource> MakeEnvSource();
// %APPDATA% (the roaming application data folder) as UTF-8 on Windows;
// "" elsewhere or when unset.
std::string RoamingAppData();

// Where Firefox keeps profiles.ini: on Windows %APPDATA%\Mozilla\Firefox
// (`home` unused: Windows has no HOME); elsewhere ~/.mozilla/firefox and
// the snap's, under `home`. In the order they are tried.
std::vector<std::string> FirefoxProfileRoots(const std::string& home);
// Firefox profiles under FirefoxProfileRoots(home).
std::unique_ptr<ProxySource> MakeFirefoxSource(const std::string& home);
// Firefox profiles under `roots` (each holding a profiles.ini): the first
// one with a readable profile wins.
std::unique_ptr<ProxySource> MakeFirefoxSourceAt(std::vector<std::string> roots);
// The first existing file of `paths`; `explicit_path` (--proxy-file) must
// exist, or a warning says so.
std::unique_ptr<ProxySource> MakeManualFileSource(std::string explicit_path,
                                                  std::vector<std::string> default_paths);

}  // namespace relayscope::agent

#endif  // AGENT_DISCOVERY_SOURCES_H_
