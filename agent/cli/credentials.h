// Credentials for a proxy that answers 407: the user name from
// --proxy-user or RELAYSCOPE_PROXY_USER, the password from
// RELAYSCOPE_PROXY_PASSWORD, and the terminal for whatever is missing (the
// password typed without echo). The password is a secret: it is handed to
// the attempt and never shown or kept anywhere else.
#ifndef AGENT_CLI_CREDENTIALS_H_
#define AGENT_CLI_CREDENTIALS_H_

#include <optional>
#include <string>
#include <utility>

#include "agent/cli/environment.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// Where the agent asks a person a question: the real terminal, or a test's
// scripted answers.
class Terminal {
 public:
  virtual ~Terminal() = default;
  // Shows `prompt` and reads one line, without echo when `secret`. nullopt
  // when there is no one to ask.
  virtual std::optional<std::string> Ask(const std::string& prompt, bool secret) = 0;
};

// The controlling terminal: prompts on stderr, reads stdin (echo off for a
// secret, restored after). Asks nothing unless both stdin and stderr are
// terminals, so a script or a service never hangs on a prompt.
class SystemTerminal final : public Terminal {
 public:
  std::optional<std::string> Ask(const std::string& prompt, bool secret) override;
};

// The DiagnoseOptions::ask_credentials callback. Copyable; `terminal` (may
// be null: never ask) must outlive every copy.
class CredentialPrompt {
 public:
  CredentialPrompt(std::string flag_user, Environment env, Terminal* terminal)
      : flag_user_(std::move(flag_user)), env_(std::move(env)), terminal_(terminal) {}

  // (user, password) for `proxy`, or nullopt to give up: the user declined
  // (an empty user name) or no terminal could be asked for what is missing.
  std::optional<std::pair<std::string, std::string>> operator()(const v1::Proxy& proxy) const;

 private:
  std::optional<std::string> Ask(const std::string& prompt, bool secret) const;

  std::string flag_user_;
  Environment env_;
  Terminal* terminal_;
};

}  // namespace relayscope::agent

#endif  // AGENT_CLI_CREDENTIALS_H_
