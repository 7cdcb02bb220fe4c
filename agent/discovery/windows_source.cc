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

#ifdef _WIN32
#include <windows.h>
#include <winhttp.h>
// MSVC; a MinGW build links winhttp from CMake instead.
#pragma comment(lib, "winhttp.lib")
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
};

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

DiscoveryResult ParseRegExport(absl::string_view text, const std::string& path) {
  const std::vector<std::pair<int, std::string>> lines = LogicalLines(DecodeRegText(text));
  std::vector<std::string> warnings;
  InternetSettings settings;
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
      // Since Windows 7 "Automatically detect settings" lives only in this
      // blob: a DWORD version, a DWORD counter, then the flags DWORD, of
      // which 0x08 is PROXY_TYPE_AUTO_DETECT.
      if (is("DefaultConnectionSettings") && hex_value) {
        if (hex_value->size() < 12) {
          warn("DefaultConnectionSettings: too short for its flags");
        } else if (static_cast<unsigned char>((*hex_value)[8]) & 0x08) {
          if (!settings.auto_detect) settings.detect_where = where;
          settings.auto_detect = true;
        }
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
  DiscoveryResult result = FromSettings(settings);
  result.warnings.insert(result.warnings.begin(), warnings.begin(), warnings.end());
  return result;
}

#ifdef _WIN32
namespace {

std::string Utf8(const wchar_t* wide) {
  if (wide == nullptr) return "";
  const int size = WideCharToMultiByte(CP_UTF8, 0, wide, -1, nullptr, 0, nullptr, nullptr);
  if (size <= 1) return "";
  std::string out(static_cast<size_t>(size), '\0');
  WideCharToMultiByte(CP_UTF8, 0, wide, -1, out.data(), size, nullptr, nullptr);
  out.resize(static_cast<size_t>(size - 1));  // the terminating NUL
  return out;
}

DiscoveryResult ReadRegistry() {
  constexpr char kKey[] = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";
  WINHTTP_CURRENT_USER_IE_PROXY_CONFIG config = {};
  if (!WinHttpGetIEProxyConfigForCurrentUser(&config)) {
    const DWORD error = GetLastError();
    DiscoveryResult result;
    if (error != ERROR_FILE_NOT_FOUND) {  // nothing ever configured
      result.warnings.push_back(
          absl::StrCat(kKey, ": WinHttpGetIEProxyConfigForCurrentUser failed (error ", error, ")"));
    }
    return result;
  }
  InternetSettings settings;
  settings.proxy_server = Utf8(config.lpszProxy);
  settings.proxy_override = Utf8(config.lpszProxyBypass);
  settings.auto_config_url = Utf8(config.lpszAutoConfigUrl);
  settings.auto_detect = config.fAutoDetect != FALSE;
  // WinHTTP hands out the proxy only while "Use a proxy server" is on.
  settings.proxy_enable = settings.proxy_server.empty() ? 0 : 1;
  settings.enable_where = absl::StrCat(kKey, "\\ProxyEnable");
  settings.server_where = absl::StrCat(kKey, "\\ProxyServer");
  settings.pac_where = absl::StrCat(kKey, "\\AutoConfigURL");
  settings.detect_where = absl::StrCat(kKey, "\\Connections");
  for (LPWSTR owned : {config.lpszProxy, config.lpszProxyBypass, config.lpszAutoConfigUrl}) {
    if (owned != nullptr) GlobalFree(owned);
  }
  return FromSettings(settings);
}

}  // namespace
#endif  // _WIN32

DiscoveryResult WindowsSource::Discover() {
  if (reg_path_.empty()) {
#ifdef _WIN32
    return ReadRegistry();
#else
    return {};
#endif
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
