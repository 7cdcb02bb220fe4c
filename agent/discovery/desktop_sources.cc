#include "agent/discovery/desktop_sources.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/discovery/config_text.h"
#include "common/host_port.h"
#include "common/subprocess.h"

namespace relayscope::agent {
namespace {

// Parses `text` into a candidate, or warns "<where>: <problem>". A value
// without a scheme gets `default_scheme`.
void AddProxy(DiscoveryResult* result, absl::string_view text, absl::string_view default_scheme,
              v1::ProxySource source, const std::string& detail, const std::string& warn_where,
              const std::string& scope) {
  const std::string with_scheme = absl::StrContains(text, "://")
                                      ? std::string(text)
                                      : absl::StrCat(default_scheme, "://", text);
  auto url = ParseProxyUrl(with_scheme);
  if (!url.ok()) {  // the message names the part at fault, never a password
    result->warnings.push_back(absl::StrCat(warn_where, ": ", url.status().message()));
    return;
  }
  ProxyCandidate candidate;
  candidate.url = *std::move(url);
  candidate.source = source;
  candidate.detail = detail;
  candidate.scope = scope;
  result->proxies.push_back(std::move(candidate));
}

// ---- KDE ----

// KConfig value escapes: \s \t \n \r \\ (and \; \, in lists).
std::string UnescapeKconfig(absl::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\' || i + 1 == value.size()) {
      out.push_back(value[i]);
      continue;
    }
    const char next = value[++i];
    switch (next) {
      case 's':
        out.push_back(' ');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      default:
        out.push_back(next);
        break;
    }
  }
  return out;
}

// KDE writes "http://proxy 8080"; older versions and hand edits
// "http://proxy:8080".
std::string KdeProxyValue(absl::string_view value) {
  const size_t space = value.rfind(' ');
  if (space == absl::string_view::npos) return std::string(value);
  absl::string_view port = value.substr(space + 1);
  uint32_t unused = 0;
  if (!absl::SimpleAtoi(port, &unused)) return std::string(value);
  return absl::StrCat(absl::StripTrailingAsciiWhitespace(value.substr(0, space)), ":", port);
}

// ---- GNOME ----

// One GVariant text value as gsettings prints it: 'string' (or "string"
// when it holds a '), ['a', 'b'] or @as [], a number, true/false.
std::optional<std::string> GvariantString(absl::string_view text) {
  std::string out;
  if (!ConsumeQuoted(&text, &out, "'\"", Escapes::kLiteral) ||
      !absl::StripAsciiWhitespace(text).empty()) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<std::string>> GvariantStringArray(absl::string_view text) {
  absl::ConsumePrefix(&text, "@as");
  text = absl::StripAsciiWhitespace(text);
  if (!absl::ConsumePrefix(&text, "[") || !absl::ConsumeSuffix(&text, "]")) return std::nullopt;
  std::vector<std::string> out;
  text = absl::StripAsciiWhitespace(text);
  while (!text.empty()) {
    std::string item;
    if (!ConsumeQuoted(&text, &item, "'\"", Escapes::kLiteral)) return std::nullopt;
    out.push_back(std::move(item));
    text = absl::StripLeadingAsciiWhitespace(text);
    if (!text.empty() && !absl::ConsumePrefix(&text, ",")) return std::nullopt;
    text = absl::StripLeadingAsciiWhitespace(text);
  }
  return out;
}

// ---- macOS ----

constexpr char kScutil[] = "scutil --proxy";

}  // namespace

DiscoveryResult ParseKioslaverc(absl::string_view text, const std::string& path) {
  DiscoveryResult result;
  struct Value {
    std::string text;
    std::string where;
  };
  std::map<std::string, Value> values;
  bool in_group = false;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = absl::StrCat(path, ":", number);
    if (line.front() == '[') {
      // "[Proxy Settings]", perhaps marked immutable: "[Proxy Settings][$i]".
      absl::ConsumeSuffix(&line, "[$i]");
      in_group = line == "[Proxy Settings]";
      continue;
    }
    if (!in_group) continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      result.warnings.push_back(absl::StrCat(where, ": expected key=value"));
      continue;
    }
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, eq));
    key = key.substr(0, key.find('['));  // "NoProxyFor[$e]": flags, not part of the name
    values[std::string(key)] = {UnescapeKconfig(absl::StripAsciiWhitespace(line.substr(eq + 1))),
                                where};
  }
  auto type_it = values.find("ProxyType");
  if (type_it == values.end()) return result;
  const Value& type_value = type_it->second;
  int type = -1;
  if (!absl::SimpleAtoi(type_value.text, &type)) {
    result.warnings.push_back(
        absl::StrCat(type_value.where, ": ProxyType \"", type_value.text, "\" is not a number"));
    return result;
  }
  auto get = [&](const std::string& key) -> const Value* {
    auto it = values.find(key);
    return it == values.end() || it->second.text.empty() ? nullptr : &it->second;
  };
  switch (type) {
    case 0:
      result.explicitly_direct = true;
      break;
    case 1: {
      for (const auto& [key, scope, scheme] :
           {std::tuple{"httpProxy", "http", "http"}, std::tuple{"httpsProxy", "https", "http"},
            std::tuple{"socksProxy", "socks", "socks5"}}) {
        const Value* value = get(key);
        if (value == nullptr) continue;
        AddProxy(&result, KdeProxyValue(value->text), scheme, v1::PROXY_SOURCE_KDE, value->where,
                 absl::StrCat(value->where, ": ", key), scope);
      }
      if (result.proxies.empty() && result.warnings.empty()) {
        result.warnings.push_back(absl::StrCat(
            type_value.where, ": ProxyType=1 (manual) but no httpProxy, httpsProxy or socksProxy"));
      }
      std::vector<std::string> bypass;
      if (const Value* no_proxy = get("NoProxyFor")) bypass = SplitList(no_proxy->text, ",");
      const Value* reversed = get("ReversedException");
      const bool only_listed = reversed != nullptr && reversed->text == "true";
      for (ProxyCandidate& candidate : result.proxies) {
        candidate.bypass = bypass;
        candidate.bypass_reversed = only_listed;
      }
      break;
    }
    case 2:
      if (const Value* script = get("Proxy Config Script")) {
        result.pac.push_back({script->text, v1::PROXY_SOURCE_KDE, script->where});
      } else {
        result.warnings.push_back(
            absl::StrCat(type_value.where, ": ProxyType=2 (PAC) but no \"Proxy Config Script\""));
      }
      break;
    case 3:
      result.pac.push_back(
          {"wpad", v1::PROXY_SOURCE_KDE, absl::StrCat(type_value.where, " (auto-detect)")});
      break;
    case 4:
      break;  // the proxy environment variables: the env source reads them
    default:
      result.warnings.push_back(absl::StrCat(type_value.where, ": unknown ProxyType ", type));
  }
  return result;
}

DiscoveryResult ParseGsettingsProxy(absl::string_view text) {
  DiscoveryResult result;
  struct Value {
    std::string text;
    int line = 0;
  };
  std::map<std::string, Value> values;  // "<schema> <key>"
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (fields.size() != 3 || !absl::StartsWith(fields[0], "org.gnome.system.proxy")) {
      result.warnings.push_back(
          absl::StrCat("gsettings:", number, ": expected \"<schema> <key> <value>\""));
      continue;
    }
    values[absl::StrCat(fields[0], " ", fields[1])] = {std::string(fields[2]), number};
  }
  auto warn = [&](const std::string& name, absl::string_view message) {
    result.warnings.push_back(absl::StrCat("gsettings:", values[name].line, ": ", message));
  };
  // Absent values read as GNOME's defaults.
  auto get_string = [&](const std::string& name) -> std::string {
    auto it = values.find(name);
    if (it == values.end()) return "";
    auto value = GvariantString(it->second.text);
    if (!value) warn(name, absl::StrCat(name, ": expected a quoted string"));
    return value.value_or("");
  };
  auto get_int = [&](const std::string& name) -> std::optional<int64_t> {
    auto it = values.find(name);
    if (it == values.end()) return 0;
    int64_t value = 0;
    if (!absl::SimpleAtoi(it->second.text, &value)) return std::nullopt;
    return value;
  };
  auto get_bool = [&](const std::string& name) {
    auto it = values.find(name);
    return it != values.end() && it->second.text == "true";
  };
  auto detail = [](const std::string& name) { return absl::StrCat("gsettings ", name); };

  const std::string mode_name = "org.gnome.system.proxy mode";
  const std::string mode = get_string(mode_name);
  if (mode == "none") {
    result.explicitly_direct = true;
  } else if (mode == "auto") {
    const std::string url_name = "org.gnome.system.proxy autoconfig-url";
    const std::string url = get_string(url_name);
    if (url.empty()) {  // GNOME (glib-networking, libproxy) then does WPAD
      result.pac.push_back(
          {"wpad", v1::PROXY_SOURCE_GNOME, absl::StrCat(detail(mode_name), " (auto-detect)")});
    } else {
      result.pac.push_back({url, v1::PROXY_SOURCE_GNOME, detail(url_name)});
    }
  } else if (mode == "manual") {
    for (const auto& [schema, scope, scheme] :
         {std::tuple{"org.gnome.system.proxy.http", "http", "http"},
          std::tuple{"org.gnome.system.proxy.https", "https", "http"},
          std::tuple{"org.gnome.system.proxy.socks", "socks", "socks5"}}) {
      const std::string host_name = absl::StrCat(schema, " host");
      const std::string port_name = absl::StrCat(schema, " port");
      const std::string host = get_string(host_name);
      if (host.empty()) continue;
      const std::optional<int64_t> port = get_int(port_name);
      if (!port || *port <= 0 || *port > 65535) {
        // An absent port is reported where the host is set.
        warn(values.count(port_name) ? port_name : host_name,
             absl::StrCat(port_name, ": a port from 1 to 65535 is needed with host ", host));
        continue;
      }
      const size_t before = result.proxies.size();
      AddProxy(&result, HostPort(host, *port), scheme, v1::PROXY_SOURCE_GNOME, detail(host_name),
               absl::StrCat("gsettings:", values[host_name].line, ": ", host_name), scope);
      if (result.proxies.size() > before && std::string(scope) == "http" &&
          get_bool("org.gnome.system.proxy.http use-authentication")) {
        // Set after parsing: a password is never part of a parsed string
        // that could end up in a warning.
        ProxyUrl& url = result.proxies.back().url;
        url.username = get_string("org.gnome.system.proxy.http authentication-user");
        url.password = get_string("org.gnome.system.proxy.http authentication-password");
      }
    }
    if (result.proxies.empty() && result.warnings.empty()) {
      warn(mode_name, "mode 'manual' but no http, https or socks host is set");
    }
  } else if (!mode.empty()) {
    warn(mode_name, absl::StrCat("unknown mode '", mode, "'"));
  }
  // glib-networking applies ignore-hosts before asking a PAC as well as
  // before a manual proxy.
  const std::string ignore_name = "org.gnome.system.proxy ignore-hosts";
  if (auto it = values.find(ignore_name);
      it != values.end() && (mode == "manual" || mode == "auto")) {
    auto bypass = GvariantStringArray(it->second.text);
    if (!bypass) {
      warn(ignore_name, absl::StrCat(ignore_name, ": expected a list of quoted strings"));
    } else {
      for (ProxyCandidate& candidate : result.proxies) candidate.bypass = *bypass;
      for (PacLocation& pac : result.pac) pac.bypass = *bypass;
    }
  }
  return result;
}

DiscoveryResult ParseScutilProxy(absl::string_view text) {
  DiscoveryResult result;
  struct Value {
    std::string text;
    int line = 0;
  };
  std::map<std::string, Value> values;
  std::vector<std::string> exceptions;
  bool saw_dictionary = false;
  bool in_exceptions = false;
  int depth = 0;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (line == "}") {
      if (depth == 0) {
        result.warnings.push_back(absl::StrCat(kScutil, ":", number, ": unbalanced }"));
        continue;
      }
      --depth;
      in_exceptions = false;
      continue;
    }
    const size_t colon = line.find(" : ");
    absl::string_view key =
        colon == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = colon == absl::string_view::npos
                                  ? line
                                  : absl::StripAsciiWhitespace(line.substr(colon + 3));
    if (absl::EndsWith(value, "{")) {
      if (depth == 0) saw_dictionary = true;
      in_exceptions = depth == 1 && key == "ExceptionsList";
      ++depth;
      continue;
    }
    if (colon == absl::string_view::npos) {
      result.warnings.push_back(absl::StrCat(kScutil, ":", number, ": expected \"Key : value\""));
      continue;
    }
    if (in_exceptions && depth == 2) {
      exceptions.emplace_back(value);
    } else if (depth == 1) {
      values[std::string(key)] = {std::string(value), number};
    }
    // Deeper levels are __SCOPED__'s per-interface copies.
  }
  auto where = [&](const std::string& key) { return absl::StrCat(kScutil, ":", values[key].line); };
  auto enabled = [&](const std::string& key) {
    auto it = values.find(key);
    return it != values.end() && it->second.text == "1";
  };
  auto get = [&](const std::string& key) {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second.text;
  };

  std::vector<std::string> bypass = exceptions;
  // "Exclude simple hostnames" is what "<local>" means in a bypass list.
  if (enabled("ExcludeSimpleHostnames")) bypass.push_back("<local>");
  bool any_enabled = false;
  for (const auto& [prefix, scope, scheme] :
       {std::tuple{"HTTP", "http", "http"}, std::tuple{"HTTPS", "https", "http"},
        std::tuple{"SOCKS", "socks", "socks5"}}) {
    const std::string enable_key = absl::StrCat(prefix, "Enable");
    if (!enabled(enable_key)) continue;
    any_enabled = true;
    const std::string host_key = absl::StrCat(prefix, "Proxy");
    const std::string port_key = absl::StrCat(prefix, "Port");
    const std::string host = get(host_key);
    int64_t port = 0;
    if (host.empty() || !absl::SimpleAtoi(get(port_key), &port) || port <= 0 || port > 65535) {
      result.warnings.push_back(absl::StrCat(where(enable_key), ": ", enable_key, " is 1 but ",
                                             host_key, " or ", port_key, " is missing or invalid"));
      continue;
    }
    const size_t before = result.proxies.size();
    AddProxy(&result, HostPort(host, port), scheme, v1::PROXY_SOURCE_MACOS, where(host_key),
             absl::StrCat(where(host_key), ": ", host_key), scope);
    if (result.proxies.size() > before) result.proxies.back().bypass = bypass;
  }
  if (enabled("ProxyAutoConfigEnable")) {
    any_enabled = true;
    const std::string url = get("ProxyAutoConfigURLString");
    if (url.empty()) {
      result.warnings.push_back(absl::StrCat(where("ProxyAutoConfigEnable"),
                                             ": ProxyAutoConfigEnable is 1 but there is no "
                                             "ProxyAutoConfigURLString"));
    } else {
      result.pac.push_back({url, v1::PROXY_SOURCE_MACOS, where("ProxyAutoConfigURLString")});
    }
  }
  if (enabled("ProxyAutoDiscoveryEnable")) {
    any_enabled = true;
    result.pac.push_back({"wpad", v1::PROXY_SOURCE_MACOS,
                          absl::StrCat(where("ProxyAutoDiscoveryEnable"), " (auto-detect)")});
  }
  result.explicitly_direct = saw_dictionary && !any_enabled;
  return result;
}

std::string KdeSource::DefaultConfigDir(const std::string& home) {
  // Nothing in relayscope calls setenv (see Env in discover.cc).
  const char* xdg = std::getenv("XDG_CONFIG_HOME");  // NOLINT(concurrency-mt-unsafe)
  // The XDG spec: a relative $XDG_CONFIG_HOME is invalid and ignored.
  if (xdg != nullptr && xdg[0] == '/') return xdg;
  return home + "/.config";
}

DiscoveryResult KdeSource::Discover() {
  if (config_dir_.empty()) return {};
  const std::string path = config_dir_ + "/kioslaverc";
  bool missing = false;
  auto text = ReadBoundedFile(path, 1 << 20, &missing);
  if (!text) {
    DiscoveryResult result;
    if (!missing) result.warnings.push_back(absl::StrCat(path, ": cannot be read"));
    return result;
  }
  return ParseKioslaverc(*text, path);
}

DiscoveryResult GnomeSource::Discover() {
  std::vector<std::string> argv = {gsettings_, "list-recursively", "org.gnome.system.proxy"};
  // dconf keeps a flag file in the runtime dir, falling back to
  // ~/.cache/dconf when there is none (no desktop session: ssh, a service).
  // The agent leaves no trace, so such a run gets a runtime dir of its own
  // for the read, removed after it; the settings themselves are read from
  // where dconf keeps them (~/.config/dconf) either way.
  std::string private_runtime;
#ifndef _WIN32
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (runtime == nullptr || *runtime == '\0') {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "relayscope-dconf-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) {
      private_runtime = pattern;
      argv.insert(argv.begin(), {"env", "XDG_RUNTIME_DIR=" + private_runtime});
    }
  }
#endif
  auto output = RunSubprocess(argv, absl::Seconds(2), 256 << 10);
  if (!private_runtime.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(private_runtime, ignored);
  }
  DiscoveryResult result;
  if (!output.ok()) return result;  // no gsettings: no GNOME here
  if (output->timed_out) {
    result.warnings.push_back("gsettings: no answer within 2 s");
  } else if (output->truncated) {
    result.warnings.push_back("gsettings: more than 256 KiB of output; ignored");
  } else if (output->exit_status == 0 &&
             !absl::StrContains(output->err, "'memory' GSettings backend")) {
    // Otherwise: a non-zero exit is "No such schema" (no GNOME here), and
    // the memory backend answers GNOME's defaults, not the user's settings.
    result = ParseGsettingsProxy(output->out);
  }
  return result;
}

DiscoveryResult MacosSource::Discover() {
#ifdef __APPLE__
  auto output = RunSubprocess({"/usr/sbin/scutil", "--proxy"}, absl::Seconds(2), 256 << 10);
  DiscoveryResult result;
  if (!output.ok()) return result;
  if (output->timed_out || output->exit_status != 0) {
    result.warnings.push_back(absl::StrCat(
        kScutil, output->timed_out ? ": no answer within 2 s"
                                   : absl::StrCat(": exited with status ", output->exit_status)));
    return result;
  }
  result.Append(ParseScutilProxy(output->out));
  return result;
#else
  return {};
#endif
}

}  // namespace relayscope::agent
