// The stop signals of common/cli.h on POSIX: SIGTERM and SIGINT write
// their number to a pipe, which the waits read.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "common/cli.h"

namespace relayscope {

namespace {

int stop_pipe[2] = {-1, -1};

extern "C" void OnStopSignal(int signal_number) {
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  const int saved = errno;
  (void)!write(stop_pipe[1], &byte, 1);  // async-signal-safe
  errno = saved;
}

}  // namespace

void InstallStopSignalHandlers() {
  if (stop_pipe[0] >= 0) return;
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) return;
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

bool StopSignalWithin(int timeout_ms) {
  if (stop_pipe[0] < 0) return false;
  pollfd p{stop_pipe[0], POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

int WaitForStopSignal() {
  InstallStopSignalHandlers();
  unsigned char byte = 0;
  while (read(stop_pipe[0], &byte, 1) != 1) {
    if (errno != EINTR) return SIGTERM;
  }
  return byte;
}

}  // namespace relayscope
