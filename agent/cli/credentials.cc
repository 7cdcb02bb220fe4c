#include "agent/cli/credentials.h"

#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace relayscope::agent {

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
