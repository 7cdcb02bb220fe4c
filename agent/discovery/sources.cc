#include "agent/discovery/sources.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/discovery/config_text.h"
#include "common/utf16.h"

#ifdef _WIN32
#include <windows.h>
#else
extern char** environ;
#endif

namespace relayscope::agent {

void DiscoveryResult::Append(DiscoveryResult other) {
  for (auto& p : other.proxies) proxies.push_back(std::move(p));
  for (auto& p : other.pac) pac.push_back(std::move(p));
  for (auto& w : other.warnings) warnings.push_back(std::move(w));
  explicitly_direct = explicitly_direct || other.explicitly_direct;
}

namespace {

constexpr size_t kMaxFileBytes = 4 << 20;

// Adds a candidate parsed from `text`, or a warning naming `where`.
void AddProxy(DiscoveryResult* result, absl::string_view text, v1::ProxySource source,
              const std::string& where, const std::string& scope,
              std::optional<v1::RouteKind> kind = std::nullopt, bool remote_dns = false) {
  auto url = ParseProxyUrl(text);
  if (!url.ok()) {
    result->warnings.push_back(absl::StrCat(where, ": ", url.status().message()));
    return;
  }
  ProxyCandidate candidate;
  candidate.url = *std::move(url);
  if (kind) candidate.url.kind = *kind;
  if (remote_dns) candidate.url.remote_dns = true;
  candidate.source = source;
  candidate.detail = where;
  candidate.scope = scope;
  result->proxies.push_back(std::move(candidate));
}

// ---- environment ----

class EnvSource final : public ProxySource {
 public:
  std::string name() const override { return "env"; }
  DiscoveryResult Discover() override {
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      absl::string_view entry(*e);
      const size_t eq = entry.find('=');
      if (eq == absl::string_view::npos) continue;
      const std::string name(entry.substr(0, eq));
      if (absl::StrContains(absl::AsciiStrToLower(name), "proxy")) {
        env[name] = std::string(entry.substr(eq + 1));
      }
    }
    return ParseEnvironment(env);
  }
};

// ---- Firefox prefs.js ----

// One `user_pref("name", value);` line.
struct Pref {
  std::string name;
  std::string string_value;
  std::optional<int64_t> int_value;
  std::optional<bool> bool_value;
  bool is_string = false;
};

// INVALID_ARGUMENT saying what is wrong with a malformed user_pref line.
absl::StatusOr<Pref> ParseUserPref(absl::string_view line) {
  absl::string_view rest = absl::StripAsciiWhitespace(line);
  if (!absl::ConsumePrefix(&rest, "user_pref(")) return absl::InvalidArgumentError("not a pref");
  Pref pref;
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!ConsumeQuoted(&rest, &pref.name, "\"'", Escapes::kC)) {
    return absl::InvalidArgumentError("the preference name is not a terminated string");
  }
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!absl::ConsumePrefix(&rest, ",")) return absl::InvalidArgumentError("expected ','");
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
    if (!ConsumeQuoted(&rest, &pref.string_value, "\"'", Escapes::kC)) {
      return absl::InvalidArgumentError("unterminated string value");
    }
    pref.is_string = true;
  } else {
    const size_t end = rest.find(')');
    if (end == absl::string_view::npos) return absl::InvalidArgumentError("expected ')'");
    absl::string_view value = absl::StripAsciiWhitespace(rest.substr(0, end));
    int64_t number = 0;
    if (value == "true" || value == "false") {
      pref.bool_value = value == "true";
    } else if (absl::SimpleAtoi(value, &number)) {
      pref.int_value = number;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unreadable value \"", value, "\""));
    }
    rest.remove_prefix(end);
  }
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (!absl::ConsumePrefix(&rest, ")")) return absl::InvalidArgumentError("expected ')'");
  return pref;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class FirefoxSource final : public ProxySource {
 public:
  explicit FirefoxSource(std::vector<std::string> roots) : roots_(std::move(roots)) {}
  std::string name() const override { return "firefox"; }
  DiscoveryResult Discover() override {
    DiscoveryResult result;
    for (const std::string& base : roots_) {
      auto ini = ReadBoundedFile(base + "/profiles.ini", kMaxFileBytes);
      if (!ini) continue;
      auto profile = DefaultFirefoxProfile(*ini, base);
      if (!profile.ok()) {
        result.warnings.push_back(
            absl::StrCat(base, "/profiles.ini: ", profile.status().message()));
        continue;
      }
      const std::string prefs = *profile + "/prefs.js";
      auto text = ReadBoundedFile(prefs, kMaxFileBytes);
      if (!text) {
        result.warnings.push_back(absl::StrCat(prefs, ": cannot be read"));
        continue;
      }
      result.Append(ParsePrefsJs(*text, prefs));
      break;
    }
    return result;
  }

 private:
  std::vector<std::string> roots_;
};

// ---- manual file ----

class ManualFileSource final : public ProxySource {
 public:
  ManualFileSource(std::string explicit_path, std::vector<std::string> default_paths)
      : explicit_path_(std::move(explicit_path)), default_paths_(std::move(default_paths)) {}
  std::string name() const override { return "manual_file"; }
  DiscoveryResult Discover() override {
    if (!explicit_path_.empty()) {
      auto text = ReadBoundedFile(explicit_path_, kMaxFileBytes);
      if (!text) {
        DiscoveryResult result;
        result.warnings.push_back(absl::StrCat(explicit_path_, ": cannot be read"));
        return result;
      }
      return ParseManualFile(*text, explicit_path_);
    }
    for (const std::string& path : default_paths_) {
      if (auto text = ReadBoundedFile(path, kMaxFileBytes)) return ParseManualFile(*text, path);
    }
    return {};
  }

 private:
  std::string explicit_path_;
  std::vector<std::string> default_paths_;
};

}  // namespace

DiscoveryResult ParseEnvironment(const std::map<std::string, std::string>& env) {
  DiscoveryResult result;
  auto lookup =
      [&](const std::string& lower) -> std::optional<std::pair<std::string, std::string>> {
    for (const std::string& name : {lower, absl::AsciiStrToUpper(lower)}) {
      auto it = env.find(name);
      if (it != env.end() && !absl::StripAsciiWhitespace(it->second).empty()) {
        return std::pair{name, std::string(absl::StripAsciiWhitespace(it->second))};
      }
    }
    return std::nullopt;
  };
  std::vector<std::string> bypass;
  if (auto no_proxy = lookup("no_proxy")) bypass = SplitList(no_proxy->second, ", \t");
  for (const auto& [variable, scope] :
       {std::pair{"http_proxy", "http"}, std::pair{"https_proxy", "https"},
        std::pair{"all_proxy", ""}}) {
    auto found = lookup(variable);
    if (!found) continue;
    auto url = ParseProxyUrl(found->second);
    if (!url.ok()) {  // never echo the value: it may hold a password
      result.warnings.push_back(absl::StrCat(found->first, ": ", url.status().message()));
      continue;
    }
    ProxyCandidate candidate;
    candidate.url = *std::move(url);
    candidate.source = v1::PROXY_SOURCE_ENV;
    candidate.detail = found->first;
    candidate.scope = scope;
    candidate.bypass = bypass;
    result.proxies.push_back(std::move(candidate));
  }
  return result;
}

absl::StatusOr<std::string> DefaultFirefoxProfile(absl::string_view profiles_ini,
                                                  const std::string& base_dir) {
  struct Section {
    std::string name;
    std::map<std::string, std::string> values;
  };
  std::vector<Section> sections;
  for (absl::string_view line : absl::StrSplit(profiles_ini, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == ';' || line.front() == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      sections.push_back({std::string(line.substr(1, line.size() - 2)), {}});
    } else if (!sections.empty() && line.find('=') != absl::string_view::npos) {
      const size_t eq = line.find('=');
      const absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
      // An empty value names nothing: "Path=" would resolve to "/" or the
      // base directory itself.
      if (value.empty()) continue;
      sections.back().values[std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))] =
          std::string(value);
    }
  }
  auto resolve = [&](const std::string& path, bool relative) {
    if (!relative) return path;
    // profiles.ini writes relative paths with '/', also on Windows; under a
    // Windows base ("C:\\Users\\...\\Firefox") they are joined as Windows
    // writes paths, so the reports name the file as the user sees it.
    if (base_dir.find('\\') != std::string::npos && base_dir.find('/') == std::string::npos) {
      std::string windows_path = path;
      std::replace(windows_path.begin(), windows_path.end(), '/', '\\');
      return base_dir + "\\" + windows_path;
    }
    return base_dir + "/" + path;
  };
  for (const Section& s : sections) {  // Firefox 67+: the install's default
    auto it = s.values.find("Default");
    if (absl::StartsWith(s.name, "Install") && it != s.values.end()) {
      for (const Section& p : sections) {
        auto path = p.values.find("Path");
        if (absl::StartsWith(p.name, "Profile") && path != p.values.end() &&
            path->second == it->second) {
          auto rel = p.values.find("IsRelative");
          return resolve(path->second, rel == p.values.end() || rel->second == "1");
        }
      }
      return resolve(it->second, true);
    }
  }
  const Section* chosen = nullptr;
  for (const Section& s : sections) {
    if (!absl::StartsWith(s.name, "Profile") || !s.values.count("Path")) continue;
    if (chosen == nullptr) chosen = &s;
    auto d = s.values.find("Default");
    if (d != s.values.end() && d->second == "1") {
      chosen = &s;
      break;
    }
  }
  if (chosen == nullptr) return absl::NotFoundError("no profile listed");
  auto rel = chosen->values.find("IsRelative");
  return resolve(chosen->values.at("Path"), rel == chosen->values.end() || rel->second == "1");
}

DiscoveryResult ParsePrefsJs(absl::string_view text, const std::string& path) {
  DiscoveryResult result;
  const std::string file = Basename(path);
  std::map<std::string, Pref> prefs;
  std::map<std::string, int> line_of;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWith(trimmed, "user_pref(")) continue;
    if (!absl::StrContains(trimmed, "network.proxy.")) continue;
    auto pref = ParseUserPref(trimmed);
    if (!pref.ok()) {
      result.warnings.push_back(
          absl::StrCat(path, ":", line_number, ": ", pref.status().message()));
      continue;
    }
    const std::string name = pref->name;  // before the value moves out
    line_of[name] = line_number;
    prefs[name] = *std::move(pref);
  }
  auto where = [&](const std::string& name) {
    return absl::StrCat(file, ":", line_of.count(name) ? line_of[name] : 0);
  };
  auto get_int = [&](const std::string& name, int64_t fallback) {
    auto it = prefs.find(name);
    return it != prefs.end() && it->second.int_value ? *it->second.int_value : fallback;
  };
  auto get_string = [&](const std::string& name) {
    auto it = prefs.find(name);
    return it != prefs.end() && it->second.is_string ? it->second.string_value : std::string();
  };
  auto get_bool = [&](const std::string& name, bool fallback) {
    auto it = prefs.find(name);
    return it != prefs.end() && it->second.bool_value ? *it->second.bool_value : fallback;
  };
  const int64_t type = get_int("network.proxy.type", 5);
  const std::vector<std::string> bypass = SplitList(get_string("network.proxy.no_proxies_on"), ",");
  switch (type) {
    case 0:
      result.explicitly_direct = true;
      break;
    case 2: {
      const std::string url = get_string("network.proxy.autoconfig_url");
      if (url.empty()) {
        result.warnings.push_back(
            absl::StrCat(path, ":", line_of["network.proxy.type"],
                         ": proxy type 2 (PAC) without network.proxy.autoconfig_url"));
      } else {
        result.pac.push_back(
            {url, v1::PROXY_SOURCE_FIREFOX, where("network.proxy.autoconfig_url")});
      }
      break;
    }
    case 4:
      result.pac.push_back({"wpad", v1::PROXY_SOURCE_FIREFOX,
                            absl::StrCat(where("network.proxy.type"), " (auto-detect)")});
      break;
    case 1: {
      const bool share = get_bool("network.proxy.share_proxy_settings", false);
      struct Manual {
        const char* host;
        const char* port;
        const char* scope;
      };
      for (const Manual& m : {Manual{"network.proxy.http", "network.proxy.http_port", "http"},
                              Manual{"network.proxy.ssl", "network.proxy.ssl_port", "https"}}) {
        std::string host = get_string(m.host);
        int64_t port = get_int(m.port, 0);
        if (share && std::string(m.scope) == "https") {
          host = get_string("network.proxy.http");
          port = get_int("network.proxy.http_port", 0);
        }
        if (host.empty()) continue;
        if (port <= 0 || port > 65535) {
          result.warnings.push_back(absl::StrCat(path, ":", line_of[m.port], ": ", m.port,
                                                 " is missing or out of range"));
          continue;
        }
        const size_t before = result.proxies.size();
        AddProxy(&result, absl::StrCat(host, ":", port), v1::PROXY_SOURCE_FIREFOX, where(m.host),
                 m.scope);
        if (result.proxies.size() > before) result.proxies.back().bypass = bypass;
      }
      const std::string socks = get_string("network.proxy.socks");
      if (!socks.empty() && !share) {
        const int64_t port = get_int("network.proxy.socks_port", 0);
        const bool v4 = get_int("network.proxy.socks_version", 5) == 4;
        const bool remote_dns = get_bool("network.proxy.socks_remote_dns", false);
        if (port <= 0 || port > 65535) {
          result.warnings.push_back(absl::StrCat(path, ":", line_of["network.proxy.socks_port"],
                                                 ": network.proxy.socks_port is missing or out "
                                                 "of range"));
        } else {
          const size_t before = result.proxies.size();
          AddProxy(&result, absl::StrCat(socks, ":", port), v1::PROXY_SOURCE_FIREFOX,
                   where("network.proxy.socks"), "socks",
                   v4 ? (remote_dns ? v1::ROUTE_KIND_SOCKS4A : v1::ROUTE_KIND_SOCKS4)
                      : v1::ROUTE_KIND_SOCKS5,
                   remote_dns);
          if (result.proxies.size() > before) result.proxies.back().bypass = bypass;
        }
      }
      break;
    }
    case 5:
      break;  // "use system settings": the desktop sources cover it
    default:
      result.warnings.push_back(absl::StrCat(path, ":", line_of["network.proxy.type"],
                                             ": unknown network.proxy.type ", type));
  }
  return result;
}

DiscoveryResult ParseManualFile(absl::string_view text, const std::string& path) {
  DiscoveryResult result;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const std::string where = absl::StrCat(path, ":", number);
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      result.warnings.push_back(absl::StrCat(where, ": expected Proxy=host:port"));
      continue;
    }
    const std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, eq)));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (key != "proxy") {
      result.warnings.push_back(absl::StrCat(where, ": unknown key \"", key, "\""));
      continue;
    }
    AddProxy(&result, value, v1::PROXY_SOURCE_MANUAL_FILE, where, "");
  }
  return result;
}

std::unique_ptr<ProxySource> MakeEnvSource() { return std::make_unique<EnvSource>(); }
std::string RoamingAppData() {
#ifdef _WIN32
  // Read as UTF-16: getenv would give it in the ANSI code page, wrong for
  // a user name outside it.
  const wchar_t* appdata = _wgetenv(L"APPDATA");  // NOLINT(concurrency-mt-unsafe)
  return Utf8(appdata);
#else
  return "";
#endif
}

std::vector<std::string> FirefoxProfileRoots([[maybe_unused]] const std::string& home) {
#ifdef _WIN32
  const std::string appdata = RoamingAppData();
  if (appdata.empty()) return {};
  return {appdata + "\\Mozilla\\Firefox"};
#else
  return {home + "/.mozilla/firefox", home + "/snap/firefox/common/.mozilla/firefox"};
#endif
}

std::unique_ptr<ProxySource> MakeFirefoxSource(const std::string& home) {
  return std::make_unique<FirefoxSource>(FirefoxProfileRoots(home));
}
std::unique_ptr<ProxySource> MakeFirefoxSourceAt(std::vector<std::string> roots) {
  return std::make_unique<FirefoxSource>(std::move(roots));
}
std::unique_ptr<ProxySource> MakeManualFileSource(std::string explicit_path,
                                                  std::vector<std::string> default_paths) {
  return std::make_unique<ManualFileSource>(std::move(explicit_path), std::move(default_paths));
}

}  // namespace relayscope::agent
