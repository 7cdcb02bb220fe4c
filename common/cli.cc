#include "common/cli.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace relayscope {

std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  bool flags_ended = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !flags_ended && arg == "--") {
      flags_ended = true;
    } else if (i > 0 && !flags_ended && arg.size() > 2 && arg[0] == '-') {
      const size_t name_start = arg.find_first_not_of('-');
      const size_t name_end = std::min(arg.find('='), arg.size());
      for (size_t j = name_start; j < name_end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::vector<char*> ArgvPointers(std::vector<std::string>& storage) {
  std::vector<char*> out;
  out.reserve(storage.size() + 1);
  for (std::string& s : storage) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

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
