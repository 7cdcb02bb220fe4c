// The stop signals of common/cli.h on Windows: Ctrl+C, Ctrl+Break and the
// console window closing reach a console control handler (on a thread of
// its own), which sets an event that the waits wait on. Reported as
// SIGINT (Ctrl+C) or SIGTERM (the rest), as on POSIX.
#include <windows.h>

#include <atomic>
#include <csignal>

#include "common/cli.h"

namespace relayscope {
namespace {

HANDLE stop_event = nullptr;
std::atomic<int> stop_signal{0};

BOOL WINAPI OnConsoleControl(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
      stop_signal = SIGINT;
      break;
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
    case CTRL_LOGOFF_EVENT:
      stop_signal = SIGTERM;
      break;
    default:
      return FALSE;
  }
  SetEvent(stop_event);
  return TRUE;  // handled: the process is not ended by the default handler
}

}  // namespace

void InstallStopSignalHandlers() {
  if (stop_event != nullptr) return;
  stop_event = CreateEventW(nullptr, /*bManualReset=*/TRUE, /*bInitialState=*/FALSE, nullptr);
  if (stop_event == nullptr) return;
  SetConsoleCtrlHandler(OnConsoleControl, TRUE);
}

bool StopSignalWithin(int timeout_ms) {
  if (stop_event == nullptr) return false;
  return WaitForSingleObject(stop_event, static_cast<DWORD>(timeout_ms)) == WAIT_OBJECT_0;
}

int WaitForStopSignal() {
  InstallStopSignalHandlers();
  if (stop_event == nullptr || WaitForSingleObject(stop_event, INFINITE) != WAIT_OBJECT_0) {
    return SIGTERM;
  }
  return stop_signal.load();
}

}  // namespace relayscope
