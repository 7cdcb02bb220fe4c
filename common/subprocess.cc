#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/errno_text.h"

extern char** environ;

namespace relayscope {
namespace {

// Deadlines are taken on the monotonic clock: a wall-clock step (NTP, a
// user changing the time) must neither kill a helper early nor let it run on.
absl::Duration MonotonicNow() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::DurationFromTimespec(now);
}

// poll()'s timeout: the time left, rounded up so a sub-millisecond
// remainder does not spin.
int PollMilliseconds(absl::Duration left) {
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT32_MAX));
}

absl::StatusOr<SubprocessResult> Finish(SubprocessResult result, int wait_status,
                                        const std::string& program) {
  result.exit_status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  // A posix_spawnp that reports exec failures only through the child.
  if (result.exit_status == 127) {
    return absl::NotFoundError(absl::StrCat(program, ": command not found"));
  }
  return result;
}

}  // namespace

absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::Duration timeout, size_t max_bytes) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", ErrnoText(errno)));
  }
  if (pipe(err_pipe) != 0) {
    const int error = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", ErrnoText(error)));
  }
  // pipe2() is Linux-only; the race it closes (another thread's fork) does
  // not leak anything worse than a pipe end here.
  for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const absl::Duration deadline = MonotonicNow() + timeout;
  const int spawn_error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawn_error != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::NotFoundError(absl::StrCat(argv[0], ": ", ErrnoText(spawn_error)));
  }

  SubprocessResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const absl::Duration left = deadline - MonotonicNow();
    if (left <= absl::ZeroDuration()) {
      result.timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, PollMilliseconds(left));
    if (ready <= 0) continue;  // EINTR or nothing yet: the deadline check ends the loop
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      sinks[i]->append(buffer, static_cast<size_t>(got));
      if (sinks[i]->size() > max_bytes) {
        sinks[i]->resize(max_bytes);
        result.truncated = true;
      }
    }
    if (result.truncated) break;
  }
  for (const pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  // A child that closed its output may still be running: it gets until the
  // same deadline to exit. Killing one that already exited is harmless (it
  // is a zombie until reaped, so its PID cannot have been reused).
  int status = 0;
  while (!result.timed_out && !result.truncated) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return Finish(result, status, argv[0]);
    if (MonotonicNow() >= deadline) {
      result.timed_out = true;
    } else {
      usleep(5000);
    }
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return Finish(result, status, argv[0]);
}

}  // namespace relayscope
