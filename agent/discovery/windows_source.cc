#include "agent/discovery/windows_source.h"

#include <cstdint>
#include <fstream>
#include <optional>
#include <vector>

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
#endif

namespace relayscope::agent {
namespace {

// The values WinINet keeps, wherever they were read from, each with the
// place it came from ("ie.reg:7", or the registry value's name).
struct InternetSettings {
  std::optional<uint32_t> proxy_enable;
  std::string proxy_server;
  std::string proxy_override;
  std::string auto_config_url;
  bool auto_detect = false;
  std::string enable_where;
  std::string server_where;
  std::string pac_where;
  std::string detect_where;
  // The Connections blob, when one decoded, and where it is; a blob that
  // did not decode is a warning and leaves the plain values in charge.
  std::optional<ConnectionSettings> connection;
  std::string connection_where;
};

// WinINet follows the blob. Where the plain values (what `reg add` and
// older tools write) say something else, the user is told which one wins:
// under Wine, WinHTTP reads only the blob.
void ApplyConnection(InternetSettings* settings, std::vector<std::string>* warnings) {
  if (!settings->connection) return;
  const ConnectionSettings& blob = *settings->connection;
  const std::string& where = settings->connection_where;
  const bool blob_proxy = (blob.flags & kProxyTypeProxy) != 0;
  const std::string blob_url = (blob.flags & kProxyTypeAutoProxyUrl) ? blob.auto_config_url : "";
  auto differs = [&](const std::string& value_where, absl::string_view name,
                     absl::string_view plain, absl::string_view used) {
    warnings->push_back(absl::StrCat(value_where, ": ", name, " says ", plain, " but ", where,
                                     ", which WinINet and WinHTTP follow, says ", used));
  };
  if (settings->proxy_enable.has_value() && (*settings->proxy_enable != 0) != blob_proxy) {
    differs(settings->enable_where, "ProxyEnable", *settings->proxy_enable != 0 ? "on" : "off",
            blob_proxy ? "on" : "off");
  }
  if (!settings->proxy_server.empty() && settings->proxy_server != blob.proxy_server) {
    differs(settings->server_where, "ProxyServer", absl::StrCat("\"", settings->proxy_server, "\""),
            absl::StrCat("\"", blob.proxy_server, "\""));
  }
  if (!settings->auto_config_url.empty() && settings->auto_config_url != blob_url) {
    differs(settings->pac_where, "AutoConfigURL",
            absl::StrCat("\"", settings->auto_config_url, "\""),
            blob_url.empty() ? "no PAC URL" : absl::StrCat("\"", blob_url, "\""));
  }
  settings->proxy_enable = blob_proxy ? 1 : 0;
  settings->proxy_server = blob.proxy_server;
  settings->proxy_override = blob.proxy_bypass;
  settings->auto_config_url = std::string(absl::StripAsciiWhitespace(blob_url));
  settings->auto_detect = (blob.flags & kProxyTypeAutoDetect) != 0;
  settings->enable_where = settings->server_where = settings->pac_where = settings->detect_where =
      where;
}

DiscoveryResult FromSettings(const InternetSettings& settings) {
  DiscoveryResult result;
  if (!settings.auto_config_url.empty()) {
    result.pac.push_back({settings.auto_config_url, v1::PROXY_SOURCE_WINDOWS, settings.pac_where});
  }
  if (settings.auto_detect) {
    result.pac.push_back(
        {"wpad", v1::PROXY_SOURCE_WINDOWS, absl::StrCat(settings.detect_where, " (auto-detect)")});
  }
  if (!settings.proxy_enable.has_value()) return result;  // WinINet's default: no proxy
  if (*settings.proxy_enable == 0) {
    result.explicitly_direct = result.pac.empty();
    return result;
  }
  if (absl::StripAsciiWhitespace(settings.proxy_server).empty()) {
    result.warnings.push_back(
        absl::StrCat(settings.enable_where, ": ProxyEnable is set but ProxyServer is empty"));
    return result;
  }
  std::vector<std::string> bypass;
  for (absl::string_view entry :
       absl::StrSplit(settings.proxy_override, ';', absl::SkipWhitespace())) {
    bypass.emplace_back(absl::StripAsciiWhitespace(entry));
  }
  // "host:port" is the one-entry case of "scheme=host:port;...": an entry
  // without "=" is for every scheme.
  for (absl::string_view entry :
       absl::StrSplit(settings.proxy_server, ';', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::string scope;
    absl::string_view value = entry;
    if (const size_t eq = entry.find('='); eq != absl::string_view::npos) {
      scope = absl::AsciiStrToLower(absl::StripAsciiWhitespace(entry.substr(0, eq)));
      value = entry.substr(eq + 1);
      if (scope == "ftp" || scope == "gopher") continue;  // never used for relays
      if (scope != "http" && scope != "https" && scope != "socks") {
        result.warnings.push_back(
            absl::StrCat(settings.server_where, ": ProxyServer: unknown scheme \"", scope, "\""));
        continue;
      }
    }
    auto url = ParseProxyUrl(value);
    if (!url.ok()) {
      result.warnings.push_back(
          absl::StrCat(settings.server_where, ": ProxyServer: ", url.status().message()));
      continue;
    }
    ProxyCandidate candidate;
    candidate.url = *std::move(url);
    if (scope == "socks") {  // WinINet speaks SOCKS4 only, and resolves names itself
      candidate.url.kind = v1::ROUTE_KIND_SOCKS4;
      candidate.url.remote_dns = false;
    }
    candidate.source = v1::PROXY_SOURCE_WINDOWS;
    candidate.detail = settings.server_where;
    candidate.scope = scope;
    candidate.bypass = bypass;
    result.proxies.push_back(std::move(candidate));
  }
  return result;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// The blob's strings are in the ANSI code page. A string that is valid
// UTF-8 is taken as is; otherwise each byte is read as Latin-1, which is
// Windows-1252 for every letter a host name or bypass entry uses.
bool LooksUtf8(absl::string_view text) {
  constexpr size_t kBad = 4;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80                 ? 0
                     : c >= 0xC2 && c <= 0xDF ? 1
                     : (c & 0xF0) == 0xE0     ? 2
                     : c >= 0xF0 && c <= 0xF4 ? 3
                                              : kBad;
    if (n == kBad || text.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string AnsiToUtf8(absl::string_view bytes) {
  if (LooksUtf8(bytes)) return std::string(bytes);
  std::string out;
  for (const char c : bytes) AppendUtf8(static_cast<unsigned char>(c), &out);
  return out;
}

// regedit writes UTF-16LE with a BOM; hand-made and REGEDIT4 files are
// UTF-8 or ASCII. A file without BOM whose second byte is NUL is UTF-16LE
// too (some tools drop the BOM). Lone surrogates become U+FFFD.
std::string DecodeRegText(absl::string_view bytes) {
  const bool bom = absl::StartsWith(bytes, "\xFF\xFE");
  const bool bare_utf16 = bytes.size() >= 2 && bytes[0] != '\0' && bytes[1] == '\0';
  if (!bom && !bare_utf16) {
    absl::ConsumePrefix(&bytes, "\xEF\xBB\xBF");
    return std::string(bytes);
  }
  if (bom) bytes.remove_prefix(2);
  auto unit_at = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
  };
  std::string out;
  out.reserve(bytes.size() / 2);
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    uint32_t unit = unit_at(i);
    if (unit >= 0xD800 && unit <= 0xDBFF && i + 3 < bytes.size()) {
      const uint32_t low = unit_at(i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        AppendUtf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), &out);
        i += 2;
        continue;
      }
    }
    if (unit >= 0xD800 && unit <= 0xDFFF) unit = 0xFFFD;
    AppendUtf8(unit, &out);
  }
  return out;
}

// "hex:46,00,00,00,..." bytes (whitespace left by joined continuations is
// allowed).
std::optional<std::string> ParseHexBytes(absl::string_view text) {
  std::string out;
  for (absl::string_view byte : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    byte = absl::StripAsciiWhitespace(byte);
    int value = 0;
    if (byte.size() != 2 || !absl::SimpleHexAtoi(byte, &value)) return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

enum class RegKey { kNoneYet, kInternetSettings, kConnections, kOther };

RegKey ClassifyKey(absl::string_view header) {
  const std::string key = absl::AsciiStrToLower(header);
  if (absl::StartsWith(key, "-")) return RegKey::kOther;  // a deletion
  if (absl::EndsWith(key, "\\internet settings")) return RegKey::kInternetSettings;
  if (absl::EndsWith(key, "\\internet settings\\connections")) return RegKey::kConnections;
  return RegKey::kOther;
}

// Logical lines with the number of the physical line each starts on: a
// trailing backslash that is not itself escaped joins the next line (regedit
// wraps long hex values and indents the rest).
std::vector<std::pair<int, std::string>> LogicalLines(absl::string_view decoded) {
  std::vector<std::pair<int, std::string>> lines;
  bool continuing = false;
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(decoded, '\n')) {
    ++number;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    size_t backslashes = 0;
    while (backslashes < line.size() && line[line.size() - 1 - backslashes] == '\\') ++backslashes;
    const bool continues = backslashes % 2 == 1;
    if (continues) line.remove_suffix(1);
    if (continuing) {
      absl::StrAppend(&lines.back().second, absl::StripLeadingAsciiWhitespace(line));
    } else {
      lines.emplace_back(number, std::string(line));
    }
    continuing = continues;
  }
  return lines;
}

}  // namespace

absl::StatusOr<ConnectionSettings> DecodeConnectionSettings(absl::string_view blob) {
  // A blob is a few hundred bytes; nothing longer than the registry's own
  // value limit (1 MB is generous) is a settings blob.
  constexpr size_t kMaxBlobBytes = 1 << 20;
  if (blob.size() > kMaxBlobBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("is ", blob.size(), " bytes long, not a settings blob"));
  }
  size_t offset = 0;
  auto dword = [&](uint32_t* out) {
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      *out |= static_cast<uint32_t>(static_cast<unsigned char>(blob[offset + i])) << (8 * i);
    }
    offset += 4;
  };
  ConnectionSettings settings;
  if (blob.size() < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("is ", blob.size(), " bytes long, too short for its flags (12 bytes)"));
  }
  dword(&settings.version);
  dword(&settings.counter);
  dword(&settings.flags);
  for (const auto& [field, out] :
       {std::pair<const char*, std::string*>{"proxy server", &settings.proxy_server},
        {"bypass list", &settings.proxy_bypass},
        {"auto-config URL", &settings.auto_config_url}}) {
    if (offset == blob.size()) return settings;  // an older writer stopped here
    if (blob.size() - offset < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("ends inside the length of its ", field, " (offset ", offset, ")"));
    }
    uint32_t length = 0;
    const size_t length_at = offset;
    dword(&length);
    if (length > blob.size() - offset) {
      return absl::InvalidArgumentError(absl::StrCat("says its ", field, " (offset ", length_at,
                                                     ") is ", length, " bytes long, but only ",
                                                     blob.size() - offset, " follow"));
    }
    absl::string_view text = blob.substr(offset, length);
    offset += length;
    // Some writers count a terminating NUL.
    while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    *out = AnsiToUtf8(text);
  }
  settings.trailing = std::string(blob.substr(offset));
  return settings;
}

DiscoveryResult ParseRegExport(absl::string_view text, const std::string& path) {
  const std::vector<std::pair<int, std::string>> lines = LogicalLines(DecodeRegText(text));
  std::vector<std::string> warnings;
  InternetSettings settings;
  bool saw_default_blob = false;
  RegKey key = RegKey::kNoneYet;
  for (const auto& [line_number, logical] : lines) {
    absl::string_view line = absl::StripAsciiWhitespace(logical);
    if (line.empty() || line.front() == ';' || line == "REGEDIT4" ||
        absl::StartsWith(line, "Windows Registry Editor Version")) {
      continue;
    }
    const std::string where = absl::StrCat(path, ":", line_number);
    auto warn = [&](absl::string_view message) {
      warnings.push_back(absl::StrCat(where, ": ", message));
    };
    if (line.front() == '[') {
      if (line.back() != ']') {
        warn("unterminated [key]");
        key = RegKey::kOther;  // its values cannot be placed
      } else {
        key = ClassifyKey(line.substr(1, line.size() - 2));
      }
      continue;
    }
    if (line.front() == '@') continue;  // the key's default value: not a proxy setting
    std::string name;
    absl::string_view rest = line;
    if (!ConsumeQuoted(&rest, &name, "\"", Escapes::kLiteral) || !absl::ConsumePrefix(&rest, "=")) {
      warn("expected \"Name\"=value");
      continue;
    }
    rest = absl::StripLeadingAsciiWhitespace(rest);
    std::optional<uint32_t> dword;
    std::optional<std::string> string_value;
    std::optional<std::string> hex_value;
    if (absl::ConsumePrefix(&rest, "dword:")) {
      uint32_t value = 0;
      if (rest.empty() || rest.size() > 8 || !absl::SimpleHexAtoi(rest, &value)) {
        warn(absl::StrCat(name, ": malformed dword"));
        continue;
      }
      dword = value;
    } else if (!rest.empty() && rest.front() == '"') {
      std::string value;
      if (!ConsumeQuoted(&rest, &value, "\"", Escapes::kLiteral)) {
        warn(absl::StrCat(name, ": unterminated string"));
        continue;
      }
      if (!absl::StripAsciiWhitespace(rest).empty()) {
        warn(absl::StrCat(name, ": unexpected text after the closing quote"));
        continue;
      }
      string_value = std::move(value);
    } else if (absl::ConsumePrefix(&rest, "hex:")) {
      hex_value = ParseHexBytes(rest);
      if (!hex_value) {
        warn(absl::StrCat(name, ": malformed hex bytes"));
        continue;
      }
    } else if (rest != "-" && !absl::StartsWith(rest, "hex(") &&
               !absl::StartsWith(rest, "qword:")) {
      warn(absl::StrCat(name, ": unknown value type"));
      continue;
    }

    // Registry value names are case-insensitive; a later value replaces an
    // earlier one, as on import.
    auto is = [&](absl::string_view wanted) { return absl::EqualsIgnoreCase(name, wanted); };
    if (key == RegKey::kConnections) {
      // DefaultConnectionSettings is what WinINet reads; SavedLegacySettings
      // (its copy for older tools) only stands in when it is missing.
      const bool is_default = is("DefaultConnectionSettings");
      if ((is_default || is("SavedLegacySettings")) && hex_value) {
        if (!is_default && saw_default_blob) continue;
        auto blob = DecodeConnectionSettings(*hex_value);
        if (!blob.ok()) {
          warn(absl::StrCat(name, " ", blob.status().message(),
                            ": the plain Internet Settings values are used"));
          continue;
        }
        saw_default_blob = saw_default_blob || is_default;
        settings.connection = *std::move(blob);
        settings.connection_where = absl::StrCat(where, " (", name, ")");
      }
      continue;
    }
    if (key != RegKey::kInternetSettings && key != RegKey::kNoneYet) continue;
    if (is("ProxyEnable") && dword) {
      settings.proxy_enable = *dword;
      settings.enable_where = where;
    } else if (is("ProxyServer") && string_value) {
      settings.proxy_server = *string_value;
      settings.server_where = where;
    } else if (is("ProxyOverride") && string_value) {
      settings.proxy_override = *string_value;
    } else if (is("AutoConfigURL") && string_value) {
      settings.auto_config_url = std::string(absl::StripAsciiWhitespace(*string_value));
      settings.pac_where = where;
    } else if (is("AutoDetect") && dword && *dword != 0) {
      if (!settings.auto_detect) settings.detect_where = where;
      settings.auto_detect = true;
    }
  }
  ApplyConnection(&settings, &warnings);
  DiscoveryResult result = FromSettings(settings);
  result.warnings.insert(result.warnings.begin(), warnings.begin(), warnings.end());
  return result;
}

DiscoveryResult ReadInternetSettings(const RegistryView& registry) {
  using Hive = RegistryView::Hive;
  constexpr char kSettings[] = "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";
  constexpr char kPolicy[] =
      "Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";
  // Group policy "Make proxy settings per-machine": WinINet then reads
  // HKLM's values for every user.
  const std::optional<uint32_t> per_user =
      registry.Dword(Hive::kLocalMachine, kPolicy, "ProxySettingsPerUser");
  const Hive hive =
      per_user.has_value() && *per_user == 0 ? Hive::kLocalMachine : Hive::kCurrentUser;
  const std::string key =
      absl::StrCat(hive == Hive::kLocalMachine ? "HKLM\\" : "HKCU\\", kSettings);
  auto where = [&](absl::string_view name) { return absl::StrCat(key, "\\", name); };

  InternetSettings settings;
  settings.proxy_enable = registry.Dword(hive, kSettings, "ProxyEnable");
  settings.enable_where = where("ProxyEnable");
  settings.proxy_server = registry.String(hive, kSettings, "ProxyServer").value_or("");
  settings.server_where = where("ProxyServer");
  settings.proxy_override = registry.String(hive, kSettings, "ProxyOverride").value_or("");
  settings.auto_config_url = std::string(
      absl::StripAsciiWhitespace(registry.String(hive, kSettings, "AutoConfigURL").value_or("")));
  settings.pac_where = where("AutoConfigURL");
  settings.auto_detect = registry.Dword(hive, kSettings, "AutoDetect").value_or(0) != 0;
  settings.detect_where = where("AutoDetect");

  std::vector<std::string> warnings;
  const std::string connections = absl::StrCat(kSettings, "\\Connections");
  for (const char* name : {"DefaultConnectionSettings", "SavedLegacySettings"}) {
    std::optional<std::string> bytes = registry.Binary(hive, connections, name);
    if (!bytes) continue;
    const std::string blob_where = where(absl::StrCat("Connections\\", name));
    auto blob = DecodeConnectionSettings(*bytes);
    if (!blob.ok()) {
      warnings.push_back(absl::StrCat(blob_where, " ", blob.status().message(),
                                      ": the plain Internet Settings values are used"));
      continue;
    }
    settings.connection = *std::move(blob);
    settings.connection_where = blob_where;
    break;
  }
  ApplyConnection(&settings, &warnings);
  DiscoveryResult result = FromSettings(settings);
  result.warnings.insert(result.warnings.begin(), warnings.begin(), warnings.end());
  return result;
}

#ifdef _WIN32
namespace {

class Win32Registry final : public RegistryView {
 public:
  std::optional<uint32_t> Dword(Hive hive, const std::string& key,
                                const std::string& name) const override {
    DWORD value = 0;
    DWORD size = sizeof(value);
    if (RegGetValueW(Root(hive), Utf16(key).c_str(), Utf16(name).c_str(), RRF_RT_REG_DWORD, nullptr,
                     &value, &size) != ERROR_SUCCESS) {
      return std::nullopt;
    }
    return static_cast<uint32_t>(value);
  }
  std::optional<std::string> String(Hive hive, const std::string& key,
                                    const std::string& name) const override {
    std::optional<std::string> bytes = Read(hive, key, name, RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ);
    if (!bytes) return std::nullopt;
    size_t units = bytes->size() / sizeof(wchar_t);
    const auto* text = reinterpret_cast<const wchar_t*>(bytes->data());
    while (units > 0 && text[units - 1] == L'\0') --units;  // RegGetValueW's terminator
    return Utf8(text, units);
  }
  std::optional<std::string> Binary(Hive hive, const std::string& key,
                                    const std::string& name) const override {
    return Read(hive, key, name, RRF_RT_REG_BINARY);
  }

 private:
  static HKEY Root(Hive hive) {
    return hive == Hive::kLocalMachine ? HKEY_LOCAL_MACHINE : HKEY_CURRENT_USER;
  }
  // The value's bytes; the size is asked first, and asked again if the
  // value grew in between (another program saving its settings).
  static std::optional<std::string> Read(Hive hive, const std::string& key, const std::string& name,
                                         DWORD types) {
    const std::wstring wide_key = Utf16(key), wide_name = Utf16(name);
    for (int attempt = 0; attempt < 3; ++attempt) {
      DWORD size = 0;
      if (RegGetValueW(Root(hive), wide_key.c_str(), wide_name.c_str(), types, nullptr, nullptr,
                       &size) != ERROR_SUCCESS) {
        return std::nullopt;
      }
      std::string bytes(size, '\0');
      const LSTATUS status = RegGetValueW(Root(hive), wide_key.c_str(), wide_name.c_str(), types,
                                          nullptr, bytes.data(), &size);
      if (status == ERROR_MORE_DATA) continue;
      if (status != ERROR_SUCCESS) return std::nullopt;
      bytes.resize(size);
      return bytes;
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<RegistryView> SystemRegistry() { return std::make_unique<Win32Registry>(); }
#else
std::unique_ptr<RegistryView> SystemRegistry() { return nullptr; }
#endif  // _WIN32

DiscoveryResult WindowsSource::Discover() {
  if (reg_path_.empty()) {
    std::unique_ptr<RegistryView> registry = SystemRegistry();
    return registry != nullptr ? ReadInternetSettings(*registry) : DiscoveryResult{};
  }
  // A settings export is a few KiB; the cap keeps a wrong path (a disk
  // image, a device) from being read whole.
  constexpr std::streamsize kMaxBytes = 1 << 20;
  std::ifstream in(reg_path_, std::ios::binary);
  std::string bytes(static_cast<size_t>(kMaxBytes), '\0');
  if (in) in.read(bytes.data(), kMaxBytes);
  if (!in && !in.eof()) {
    DiscoveryResult result;
    result.warnings.push_back(absl::StrCat(reg_path_, ": cannot be read"));
    return result;
  }
  bytes.resize(static_cast<size_t>(in.gcount()));
  return ParseRegExport(bytes, reg_path_);
}

}  // namespace relayscope::agent
