// The second opinion: where the system's own answer (WinHTTP on Windows,
// a fake here) differs from ours, a note names both; where it agrees, or
// differs only as Wine's WinHTTP does, nothing is said.
#include "agent/discovery/system_proxy.h"

#include <map>

#include "absl/time/clock.h"
#include "agent/pac/pac_result.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class FakeSystem final : public SystemProxyResolver {
 public:
  SystemProxyConfig config;
  // "<pac url>|<url>" -> answer; "" for the PAC URL means auto-detect.
  std::map<std::string, absl::StatusOr<std::string>> answers;
  std::vector<std::string> asked;

  std::string name() const override { return "WinHTTP"; }
  absl::StatusOr<SystemProxyConfig> CurrentUserConfig() override { return config; }
  absl::StatusOr<std::string> ProxyForUrl(const std::string& url, const std::string& pac_url,
                                          absl::Duration) override {
    asked.push_back(pac_url + "|" + url);
    auto it = answers.find(pac_url + "|" + url);
    if (it == answers.end())
      return absl::UnavailableError("WinHttpGetProxyForUrl failed (error 12180)");
    return it->second;
  }
};

ProxyCandidate Proxy(const std::string& text) {
  ProxyCandidate candidate;
  candidate.url = *ParseProxyUrl(text);
  candidate.source = v1::PROXY_SOURCE_WINDOWS;
  return candidate;
}

// What discovery found on a machine whose Internet Settings name a proxy
// and a PAC URL, and what that PAC answered for one relay.
ProxySetup WindowsPacSetup(const std::string& pac_answer) {
  ProxySetup setup;
  SourceReport windows{"windows", {}};
  windows.result.proxies.push_back(Proxy("web.corp:8080"));
  windows.result.pac.push_back({"http://pac.corp/proxy.pac", v1::PROXY_SOURCE_WINDOWS, "reg"});
  setup.sources.push_back(std::move(windows));
  PacReport report;
  report.location = {"http://pac.corp/proxy.pac", v1::PROXY_SOURCE_WINDOWS, "reg"};
  PacRelayAnswer answer;
  answer.url = "https://relay.example:8200/";
  answer.returned = pac_answer;
  answer.routes = ParsePacResult(pac_answer);
  report.answers.push_back(answer);
  setup.pac.push_back(std::move(report));
  return setup;
}

TEST(SystemProxyTest, AgreementAndWinesFirstEntryOnlyAnswerSayNothing) {
  FakeSystem system;
  system.config.proxy = "web.corp:8080";
  system.config.auto_config_url = "http://pac.corp/proxy.pac";
  system.answers["http://pac.corp/proxy.pac|https://relay.example:8200/"] = "a.corp:1;b.corp:2";
  EXPECT_THAT(CompareWithSystem(WindowsPacSetup("PROXY a.corp:1; PROXY b.corp:2; DIRECT"), system,
                                absl::Seconds(1)),
              IsEmpty());
  // Wine: only the first PROXY entry; SOCKS is not WinHTTP's.
  system.answers["http://pac.corp/proxy.pac|https://relay.example:8200/"] = "a.corp:1";
  EXPECT_THAT(
      CompareWithSystem(WindowsPacSetup("PROXY a.corp:1; SOCKS s.corp:1080; PROXY b.corp:2"),
                        system, absl::Seconds(1)),
      IsEmpty());
  EXPECT_THAT(system.asked, ElementsAre("http://pac.corp/proxy.pac|https://relay.example:8200/",
                                        "http://pac.corp/proxy.pac|https://relay.example:8200/"));
}

TEST(SystemProxyTest, EveryDifferenceIsANoteNamingBothAnswers) {
  FakeSystem system;
  system.config.proxy = "http=other.corp:3128;ftp=ftp.corp:21";
  system.config.auto_detect = true;
  system.answers["http://pac.corp/proxy.pac|https://relay.example:8200/"] = "";  // DIRECT
  EXPECT_THAT(
      CompareWithSystem(WindowsPacSetup("PROXY a.corp:1; DIRECT"), system, absl::Seconds(1)),
      ElementsAre("WinHTTP (WinHttpGetIEProxyConfigForCurrentUser) says proxy \"other.corp:3128\", "
                  "the Internet Settings read here say \"web.corp:8080\"",
                  "WinHTTP (WinHttpGetIEProxyConfigForCurrentUser) says PAC URL none, the "
                  "Internet Settings read here say \"http://pac.corp/proxy.pac\"",
                  "WinHTTP (WinHttpGetIEProxyConfigForCurrentUser) says auto-detect on, the "
                  "Internet Settings read here say off",
                  "WinHTTP (WinHttpGetProxyForUrl with http://pac.corp/proxy.pac) answers DIRECT "
                  "for https://relay.example:8200/, ours is \"PROXY a.corp:1; DIRECT\""));
}

TEST(SystemProxyTest, NoAnswerFromTheSystemIsANoteAndAutoDetectAsksWithoutAUrl) {
  FakeSystem system;
  ProxySetup setup;
  SourceReport windows{"windows", {}};
  windows.result.pac.push_back({"wpad", v1::PROXY_SOURCE_WINDOWS, "reg (auto-detect)"});
  setup.sources.push_back(std::move(windows));
  PacReport report;
  report.location = {"http://wpad.corp/wpad.dat", v1::PROXY_SOURCE_WPAD, "dns"};
  PacRelayAnswer answer;
  answer.url = "https://relay.example:443/";
  answer.returned = "PROXY p.corp:8080";
  answer.routes = ParsePacResult(answer.returned);
  report.answers.push_back(answer);
  setup.pac.push_back(std::move(report));
  system.config.auto_detect = true;
  EXPECT_THAT(CompareWithSystem(setup, system, absl::Seconds(1)),
              ElementsAre("WinHTTP (WinHttpGetProxyForUrl with auto-detect) has no answer for "
                          "https://relay.example:443/: WinHttpGetProxyForUrl failed (error 12180); "
                          "ours is \"PROXY p.corp:8080\""));
  EXPECT_THAT(system.asked, ElementsAre("|https://relay.example:443/"));
}

// A system that takes its whole timeout for every URL.
class SlowSystem final : public SystemProxyResolver {
 public:
  int asked = 0;
  std::string name() const override { return "WinHTTP"; }
  absl::StatusOr<SystemProxyConfig> CurrentUserConfig() override {
    SystemProxyConfig config;
    config.proxy = "web.corp:8080";
    config.auto_config_url = "http://pac.corp/proxy.pac";
    return config;
  }
  absl::StatusOr<std::string> ProxyForUrl(const std::string&, const std::string&,
                                          absl::Duration timeout) override {
    ++asked;
    absl::SleepFor(timeout);
    return absl::DeadlineExceededError("no answer within 50ms");
  }
};

TEST(SystemProxyTest, ASlowSystemIsAskedAtMostThreeTimeoutsInAll) {
  ProxySetup setup = WindowsPacSetup("PROXY a.corp:1");
  for (int i = 0; i < 9; ++i) setup.pac[0].answers.push_back(setup.pac[0].answers[0]);
  SlowSystem system;
  const absl::Time start = absl::Now();
  const std::vector<std::string> notes = CompareWithSystem(setup, system, absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  EXPECT_EQ(system.asked, 3);
  ASSERT_EQ(notes.size(), 4u);
  EXPECT_EQ(notes.back(),
            "WinHTTP was not asked for 7 URLs: its answers took longer than 150ms together");
}

TEST(SystemProxyTest, WithoutAWindowsSourceNothingIsAsked) {
  FakeSystem system;
  ProxySetup setup;
  EXPECT_THAT(CompareWithSystem(setup, system, absl::Seconds(1)), IsEmpty());
  EXPECT_THAT(system.asked, IsEmpty());
#ifndef _WIN32
  EXPECT_EQ(MakeSystemProxyResolver(), nullptr);
  EXPECT_EQ(DiscoverOptions().second_opinion, nullptr);
#endif
}

}  // namespace
}  // namespace relayscope::agent
