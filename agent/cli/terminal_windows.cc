// The Windows console: echo turned off for the password prompt, and the
// report opened by the shell (the user's default browser), as the
// original utility did.
#include <windows.h>
// shellapi.h needs windows.h first.
#include <io.h>
#include <shellapi.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "agent/cli/agent_command.h"
#include "agent/cli/credentials.h"
#include "common/utf16.h"

namespace relayscope::agent {
namespace {

bool IsConsole(HANDLE handle) {
  DWORD mode = 0;
  return handle != INVALID_HANDLE_VALUE && handle != nullptr && GetConsoleMode(handle, &mode);
}

}  // namespace

std::optional<std::string> SystemTerminal::Ask(const std::string& prompt, bool secret) {
  const HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  if (!IsConsole(in) || !IsConsole(GetStdHandle(STD_ERROR_HANDLE))) return std::nullopt;
  std::fprintf(stderr, "%s", prompt.c_str());
  std::fflush(stderr);
  DWORD old_mode = 0;
  GetConsoleMode(in, &old_mode);
  if (secret) SetConsoleMode(in, old_mode & ~static_cast<DWORD>(ENABLE_ECHO_INPUT));
  std::string answer;
  std::getline(std::cin, answer);
  if (!answer.empty() && answer.back() == '\r') answer.pop_back();
  if (secret) {
    SetConsoleMode(in, old_mode);
    std::fprintf(stderr, "\n");  // the user's Enter was not echoed
  }
  return answer;
}

bool StdoutIsTerminal() { return IsConsole(GetStdHandle(STD_OUTPUT_HANDLE)); }

void PrepareConsole() {
  SetConsoleOutputCP(CP_UTF8);
  const HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
  DWORD mode = 0;
  if (IsConsole(out) && GetConsoleMode(out, &mode)) {
    SetConsoleMode(out, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING);
  }
}

bool OpenForUser(const std::string& path) {
  // ShellExecute returns a value greater than 32 on success.
  const auto result = reinterpret_cast<INT_PTR>(
      ShellExecuteW(nullptr, L"open", Utf16(path).c_str(), nullptr, nullptr, SW_SHOWNORMAL));
  return result > 32;
}

}  // namespace relayscope::agent
