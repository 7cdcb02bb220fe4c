// The console of common POSIX systems: termios for the password prompt.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "agent/cli/agent_command.h"
#include "agent/cli/credentials.h"

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

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) != 0; }

// The original utility opened its report only on Windows; a Linux run
// prints the paths instead.
bool OpenForUser(const std::string&) { return false; }

void PrepareConsole() {}

}  // namespace relayscope::agent
