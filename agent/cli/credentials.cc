#include "agent/cli/credentials.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace relayscope::agent {

std::optional<std::string> SystemTerminal::Ask(const std::string& prompt, bool secret) {
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) return std::nullopt;
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old_mode{};
  tcgetattr(STDIN_FILENO, &old_mode);
  if (secret) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string answer;
  std::getline(std::cin, answer);
  if (secret) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    std::fprintf(stderr, "\n");  // the user's Enter was not echoed
  }
  return answer;
}

std::optional<std::string> CredentialPrompt::Ask(const std::string& prompt, bool secret) const {
  if (terminal_ == nullptr) return std::nullopt;
  return terminal_->Ask(prompt, secret);
}

std::optional<std::pair<std::string, std::string>> CredentialPrompt::operator()(
    const v1::Proxy& proxy) const {
  std::string user = flag_user_;
  if (user.empty()) user = env_("RELAYSCOPE_PROXY_USER").value_or("");
  const std::string where = HostPort(proxy.host(), proxy.port());
  if (user.empty()) {
    auto typed = Ask(absl::StrCat("\nThe proxy ", where,
                                  " requires authentication (407).\n"
                                  "User name (empty to skip): "),
                     false);
    if (!typed || typed->empty()) return std::nullopt;
    user = *typed;
  }
  // Set but empty is a password too (the proxy decides).
  std::optional<std::string> password = env_("RELAYSCOPE_PROXY_PASSWORD");
  if (!password) password = Ask(absl::StrCat("Password for ", user, " at ", where, ": "), true);
  if (!password) return std::nullopt;
  return std::make_pair(user, *password);
}

}  // namespace relayscope::agent
