#include "agent/cli/credentials.h"

#include <deque>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Pair;

constexpr char kPassword[] = "Hunter2-secret";

// Answers prompts from a script and records what was asked; with no answer
// left it behaves like a missing terminal.
class ScriptedTerminal final : public Terminal {
 public:
  explicit ScriptedTerminal(std::deque<std::string> answers) : answers_(std::move(answers)) {}

  std::optional<std::string> Ask(const std::string& prompt, bool secret) override {
    prompts.push_back(prompt);
    secret_flags.push_back(secret);
    if (answers_.empty()) return std::nullopt;
    std::string answer = answers_.front();
    answers_.pop_front();
    return answer;
  }

  std::vector<std::string> prompts;
  std::vector<bool> secret_flags;

 private:
  std::deque<std::string> answers_;
};

v1::Proxy Proxy() {
  v1::Proxy proxy;
  proxy.set_host("proxy.corp");
  proxy.set_port(3128);
  return proxy;
}

TEST(CredentialPrompt, TheFlagUserAndTheEnvironmentPasswordNeedNoTerminal) {
  ScriptedTerminal terminal({});
  CredentialPrompt prompt("alice",
                          FixedEnvironment({{"RELAYSCOPE_PROXY_USER", "bob"},
                                            {"RELAYSCOPE_PROXY_PASSWORD", kPassword}}),
                          &terminal);
  EXPECT_THAT(prompt(Proxy()), Optional(Pair("alice", kPassword)));
  EXPECT_TRUE(terminal.prompts.empty());
}

TEST(CredentialPrompt, TheEnvironmentUserServesWhenNoFlagIsGiven) {
  CredentialPrompt prompt("",
                          FixedEnvironment({{"RELAYSCOPE_PROXY_USER", "bob"},
                                            {"RELAYSCOPE_PROXY_PASSWORD", kPassword}}),
                          nullptr);
  EXPECT_THAT(prompt(Proxy()), Optional(Pair("bob", kPassword)));
}

TEST(CredentialPrompt, AsksTheTerminalForTheUserThenThePasswordWithoutEcho) {
  ScriptedTerminal terminal({"carol", kPassword});
  CredentialPrompt prompt("", FixedEnvironment({}), &terminal);
  EXPECT_THAT(prompt(Proxy()), Optional(Pair("carol", kPassword)));
  EXPECT_THAT(terminal.prompts,
              ElementsAre("\nThe proxy proxy.corp:3128 requires authentication (407).\n"
                          "User name (empty to skip): ",
                          "Password for carol at proxy.corp:3128: "));
  EXPECT_THAT(terminal.secret_flags, ElementsAre(false, true));
}

TEST(CredentialPrompt, AnIpv6ProxyIsShownInBrackets) {
  ScriptedTerminal terminal({kPassword});
  v1::Proxy proxy = Proxy();
  proxy.set_host("2001:db8::1");
  CredentialPrompt prompt("dave", FixedEnvironment({}), &terminal);
  EXPECT_THAT(prompt(proxy), Optional(Pair("dave", kPassword)));
  EXPECT_THAT(terminal.prompts, ElementsAre("Password for dave at [2001:db8::1]:3128: "));
}

TEST(CredentialPrompt, AnEmptyUserNameSkipsTheProxy) {
  ScriptedTerminal terminal({"", kPassword});
  CredentialPrompt prompt("", FixedEnvironment({}), &terminal);
  EXPECT_EQ(prompt(Proxy()), std::nullopt);
  EXPECT_EQ(terminal.prompts.size(), 1u);  // no password asked for
}

TEST(CredentialPrompt, NoTerminalAndNoPasswordGivesUp) {
  CredentialPrompt prompt("alice", FixedEnvironment({}), nullptr);
  EXPECT_EQ(prompt(Proxy()), std::nullopt);
  ScriptedTerminal silent({});
  CredentialPrompt unanswered("alice", FixedEnvironment({}), &silent);
  EXPECT_EQ(unanswered(Proxy()), std::nullopt);
  EXPECT_EQ(silent.prompts.size(), 1u);
}

// Set and empty is a password the proxy may accept; only unset asks.
TEST(CredentialPrompt, AnEmptyPasswordInTheEnvironmentIsUsedAsIs) {
  ScriptedTerminal terminal({});
  CredentialPrompt prompt("alice", FixedEnvironment({{"RELAYSCOPE_PROXY_PASSWORD", ""}}),
                          &terminal);
  EXPECT_THAT(prompt(Proxy()), Optional(Pair("alice", "")));
  EXPECT_TRUE(terminal.prompts.empty());
}

TEST(CredentialPrompt, NoPromptEverShowsThePassword) {
  ScriptedTerminal terminal({"carol", kPassword});
  CredentialPrompt prompt("", FixedEnvironment({}), &terminal);
  ASSERT_TRUE(prompt(Proxy()).has_value());
  ASSERT_EQ(terminal.prompts.size(), 2u);
  for (const std::string& shown : terminal.prompts) {
    EXPECT_THAT(shown, Not(HasSubstr(kPassword)));
  }
}

}  // namespace
}  // namespace relayscope::agent
