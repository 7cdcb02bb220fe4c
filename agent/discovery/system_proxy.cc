#include "agent/discovery/system_proxy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/pac/pac_result.h"
#include "common/utf16.h"

#ifdef _WIN32
#include <windows.h>
#include <winhttp.h>

#include <thread>

#include "absl/synchronization/notification.h"
#endif

namespace relayscope::agent {
namespace {

std::string HostPort(const ProxyUrl& url) {
  return url.host.find(':') != std::string::npos ? absl::StrCat("[", url.host, "]:", url.port)
                                                 : absl::StrCat(url.host, ":", url.port);
}

// "host:port" of each entry of a WinINet/WinHTTP proxy list ("a:1;b:2",
// "http=a:1;https=b:2", "PROXY a:1"), lower-cased; ftp= and gopher= are
// not for relays.
std::vector<std::string> SystemList(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view entry : absl::StrSplit(text, absl::ByAnyChar("; \t"), absl::SkipEmpty())) {
    if (const size_t eq = entry.find('='); eq != absl::string_view::npos) {
      const std::string scheme = absl::AsciiStrToLower(entry.substr(0, eq));
      if (scheme == "ftp" || scheme == "gopher") continue;
      entry = entry.substr(eq + 1);
    }
    const std::string lower = absl::AsciiStrToLower(entry);
    if (lower == "proxy" || lower == "http" || lower == "https" || lower == "direct") continue;
    auto url = ParseProxyUrl(entry);
    out.push_back(url.ok() ? HostPort(*url) : lower);
  }
  return out;
}

// Our PAC answer's HTTP proxies, as WinHTTP would list them.
std::vector<std::string> OurHttpProxies(const PacResult& routes) {
  std::vector<std::string> out;
  for (const PacRoute& route : routes.routes) {
    if (route.direct) continue;
    if (route.proxy.kind != v1::ROUTE_KIND_HTTP_CONNECT &&
        route.proxy.kind != v1::ROUTE_KIND_HTTPS_PROXY) {
      continue;
    }
    out.push_back(HostPort(route.proxy));
  }
  return out;
}

std::string Listed(const std::vector<std::string>& list) {
  return list.empty() ? "DIRECT" : absl::StrCat("\"", absl::StrJoin(list, ";"), "\"");
}

bool Agree(const std::vector<std::string>& ours, const std::vector<std::string>& system) {
  if (ours == system) return true;
  // Wine's WinHttpGetProxyForUrl returns only the first PROXY entry.
  return system.size() == 1 && !ours.empty() && ours.front() == system.front();
}

}  // namespace

std::vector<std::string> CompareWithSystem(const ProxySetup& setup, SystemProxyResolver& resolver,
                                           absl::Duration timeout) {
  std::vector<std::string> notes;
  const std::string who = resolver.name();
  // What our Windows source found.
  std::vector<std::string> our_proxies;
  std::string our_pac;
  bool our_detect = false;
  bool have_windows = false;
  for (const SourceReport& source : setup.sources) {
    if (source.name != "windows") continue;
    have_windows = true;
    for (const ProxyCandidate& p : source.result.proxies) our_proxies.push_back(HostPort(p.url));
    for (const PacLocation& pac : source.result.pac) {
      if (pac.url == "wpad") {
        our_detect = true;
      } else if (our_pac.empty()) {
        our_pac = pac.url;
      }
    }
  }
  if (!have_windows) return notes;
  absl::StatusOr<SystemProxyConfig> config = resolver.CurrentUserConfig();
  if (!config.ok()) {
    notes.push_back(absl::StrCat(who, " has no answer of its own: ", config.status().message()));
  } else {
    const std::vector<std::string> system_proxies = SystemList(config->proxy);
    if (system_proxies != our_proxies) {
      notes.push_back(absl::StrCat(who, " (WinHttpGetIEProxyConfigForCurrentUser) says proxy ",
                                   Listed(system_proxies), ", the Internet Settings read here say ",
                                   Listed(our_proxies)));
    }
    const std::string system_pac(absl::StripAsciiWhitespace(config->auto_config_url));
    if (system_pac != our_pac) {
      notes.push_back(
          absl::StrCat(who, " (WinHttpGetIEProxyConfigForCurrentUser) says PAC URL ",
                       system_pac.empty() ? "none" : absl::StrCat("\"", system_pac, "\""),
                       ", the Internet Settings read here say ",
                       our_pac.empty() ? "none" : absl::StrCat("\"", our_pac, "\"")));
    }
    if (config->auto_detect != our_detect) {
      notes.push_back(
          absl::StrCat(who, " (WinHttpGetIEProxyConfigForCurrentUser) says auto-detect ",
                       config->auto_detect ? "on" : "off", ", the Internet Settings read here say ",
                       our_detect ? "on" : "off"));
    }
  }

  // The PAC answers the Windows settings lead to: their AutoConfigURL, and
  // the PAC WPAD found when they turn auto-detect on.
  // Each call has `timeout`; all of them together three times that, so a
  // system whose auto-detect hangs costs the diagnosis seconds, not a
  // timeout per relay.
  const absl::Time give_up = absl::Now() + timeout * 3;
  size_t not_asked = 0;
  bool wpad_compared = false;
  for (const PacReport& report : setup.pac) {
    const bool is_pac = report.location.source == v1::PROXY_SOURCE_WINDOWS;
    const bool is_wpad = report.location.source == v1::PROXY_SOURCE_WPAD && our_detect;
    if ((!is_pac && !is_wpad) || !report.error.empty()) continue;
    if (is_wpad && std::exchange(wpad_compared, true)) continue;
    const std::string pac_url = is_pac ? report.location.url : "";
    const std::string how = is_pac ? absl::StrCat("WinHttpGetProxyForUrl with ", pac_url)
                                   : "WinHttpGetProxyForUrl with auto-detect";
    for (const PacRelayAnswer& answer : report.answers) {
      if (!answer.error.empty()) continue;
      if (absl::Now() >= give_up) {
        ++not_asked;
        continue;
      }
      const std::vector<std::string> ours = OurHttpProxies(answer.routes);
      absl::StatusOr<std::string> system = resolver.ProxyForUrl(answer.url, pac_url, timeout);
      if (!system.ok()) {
        notes.push_back(absl::StrCat(who, " (", how, ") has no answer for ", answer.url, ": ",
                                     system.status().message(), "; ours is \"", answer.returned,
                                     "\""));
        continue;
      }
      const std::vector<std::string> theirs = SystemList(*system);
      if (!Agree(ours, theirs)) {
        notes.push_back(absl::StrCat(who, " (", how, ") answers ", Listed(theirs), " for ",
                                     answer.url, ", ours is \"", answer.returned, "\""));
      }
    }
  }
  if (not_asked > 0) {
    notes.push_back(absl::StrCat(
        who, " was not asked for ", not_asked, not_asked == 1 ? " URL" : " URLs",
        ": its answers took longer than ", absl::FormatDuration(timeout * 3), " together"));
  }
  return notes;
}

#ifdef _WIN32
namespace {

class WinHttpResolver final : public SystemProxyResolver {
 public:
  std::string name() const override { return "WinHTTP"; }

  absl::StatusOr<SystemProxyConfig> CurrentUserConfig() override {
    WINHTTP_CURRENT_USER_IE_PROXY_CONFIG config = {};
    if (!WinHttpGetIEProxyConfigForCurrentUser(&config)) {
      const DWORD error = GetLastError();
      if (error == ERROR_FILE_NOT_FOUND) return SystemProxyConfig{};  // nothing ever set
      return absl::UnavailableError(
          absl::StrCat("WinHttpGetIEProxyConfigForCurrentUser failed (error ", error, ")"));
    }
    SystemProxyConfig out;
    out.auto_detect = config.fAutoDetect != FALSE;
    out.auto_config_url = Utf8(config.lpszAutoConfigUrl);
    out.proxy = Utf8(config.lpszProxy);
    out.bypass = Utf8(config.lpszProxyBypass);
    for (LPWSTR owned : {config.lpszProxy, config.lpszProxyBypass, config.lpszAutoConfigUrl}) {
      if (owned != nullptr) GlobalFree(owned);
    }
    return out;
  }

  absl::StatusOr<std::string> ProxyForUrl(const std::string& url, const std::string& pac_url,
                                          absl::Duration timeout) override {
    // WinHttpGetProxyForUrl is synchronous, and auto-detect may wait on
    // DHCP and DNS far longer than a diagnosis should: it runs on its own
    // thread, and a late answer is dropped (closing the session cancels
    // it).
    struct Call {
      absl::Notification done;
      HINTERNET session = nullptr;
      absl::StatusOr<std::string> result = absl::UnknownError("not asked");
    };
    auto call = std::make_shared<Call>();
    call->session = WinHttpOpen(L"relayscope-agent", WINHTTP_ACCESS_TYPE_NO_PROXY,
                                WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0);
    if (call->session == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("WinHttpOpen failed (error ", GetLastError(), ")"));
    }
    const int ms = static_cast<int>(std::max<int64_t>(absl::ToInt64Milliseconds(timeout), 1));
    WinHttpSetTimeouts(call->session, ms, ms, ms, ms);
    std::thread([call, wide_url = Utf16(url), wide_pac = Utf16(pac_url)] {
      WINHTTP_AUTOPROXY_OPTIONS options = {};
      if (wide_pac.empty()) {
        options.dwFlags = WINHTTP_AUTOPROXY_AUTO_DETECT;
        options.dwAutoDetectFlags = WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A;
      } else {
        options.dwFlags = WINHTTP_AUTOPROXY_CONFIG_URL;
        options.lpszAutoConfigUrl = wide_pac.c_str();
      }
      options.fAutoLogonIfChallenged = TRUE;
      WINHTTP_PROXY_INFO info = {};
      if (!WinHttpGetProxyForUrl(call->session, wide_url.c_str(), &options, &info)) {
        call->result = absl::UnavailableError(
            absl::StrCat("WinHttpGetProxyForUrl failed (error ", GetLastError(), ")"));
      } else {
        call->result =
            info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY ? Utf8(info.lpszProxy) : "";
        if (info.lpszProxy != nullptr) GlobalFree(info.lpszProxy);
        if (info.lpszProxyBypass != nullptr) GlobalFree(info.lpszProxyBypass);
      }
      call->done.Notify();
    }).detach();
    if (!call->done.WaitForNotificationWithTimeout(timeout)) {
      WinHttpCloseHandle(call->session);  // the thread's call fails soon; its result is dropped
      return absl::DeadlineExceededError(
          absl::StrCat("no answer within ", absl::FormatDuration(timeout)));
    }
    WinHttpCloseHandle(call->session);
    return call->result;
  }
};

}  // namespace

std::unique_ptr<SystemProxyResolver> MakeSystemProxyResolver() {
  return std::make_unique<WinHttpResolver>();
}
#else
std::unique_ptr<SystemProxyResolver> MakeSystemProxyResolver() { return nullptr; }
#endif  // _WIN32

}  // namespace relayscope::agent
