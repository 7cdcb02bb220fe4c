#include "tests/rig/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/rig/net.h"
#include "tests/support/wait_until.h"

namespace relayscope::rig {
namespace {

constexpr char kPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, const char* log_path,
                            const char* working_dir, bool as_nobody, uid_t uid, gid_t gid,
                            int output_fd) {
  setpgid(0, 0);
  int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) dup2(null_fd, 0);
  int out = output_fd;
  if (out < 0) {
    out = log_path[0] ? open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644) : null_fd;
  }
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
  // Never leak the test's sockets (in-process listeners) into a daemon.
  close_range(3, ~0U, 0);
  if (working_dir[0] && chdir(working_dir) != 0) _exit(126);
  if (as_nobody) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      _exit(126);
    }
  }
  signal(SIGPIPE, SIG_DFL);
  execve(argv[0], argv, envp);
  static const char kMessage[] = "rig: exec failed\n";
  (void)!write(2, kMessage, sizeof(kMessage) - 1);
  _exit(127);
}

}  // namespace

uid_t NobodyUid() {
  const passwd* pw = getpwnam("nobody");
  return pw ? pw->pw_uid : 65534;
}

gid_t NogroupGid() {
  const group* gr = getgrnam("nogroup");
  return gr ? gr->gr_gid : 65534;
}

absl::StatusOr<std::unique_ptr<Process>> Process::Start(const Options& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Daemons fork workers; when the daemon dies first they are orphaned. As
  // a subreaper this process inherits them, so Stop() can reap them all
  // instead of leaving zombies for init.
  static const bool subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  (void)subreaper;
  std::vector<std::string> argv = options.argv;
  std::vector<std::string> env = {kPath, "LANG=C"};
  env.insert(env.end(), options.env.begin(), options.env.end());
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> env_c = CStrings(env);
  const uid_t uid = NobodyUid();
  const gid_t gid = NogroupGid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    ExecChild(argv_c.data(), env_c.data(), options.log_path.c_str(), options.working_dir.c_str(),
              options.as_nobody, uid, gid, -1);
  }
  setpgid(pid, pid);  // also from the parent: no race with an early Stop()
  return std::unique_ptr<Process>(new Process(pid, options.log_path));
}

Process::~Process() { Stop(); }

bool Process::Running() {
  if (reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    status_ = status;
    return false;
  }
  return true;
}

namespace {

// Kills and reaps whatever is left of process group `pgid` (bounded).
void ReapGroup(pid_t pgid) {
  kill(-pgid, SIGKILL);
  test::WaitUntil(
      [&] {
        pid_t r;
        while ((r = waitpid(-pgid, nullptr, WNOHANG)) > 0) {
        }
        return r < 0;  // ECHILD: none left
      },
      absl::Seconds(2), absl::Milliseconds(5));
}

}  // namespace

int Process::Stop(absl::Duration grace) {
  if (reaped_) {
    ReapGroup(pid_);  // helpers the daemon left behind, if any
    return status_;
  }
  kill(-pid_, SIGTERM);
  test::WaitUntil([&] { return !Running(); }, grace, absl::Milliseconds(10));
  if (!reaped_) {
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    status_ = status;
  }
  ReapGroup(pid_);
  return status_;
}

std::string Process::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  std::string log = s.str();
  return log.size() > max_bytes ? log.substr(log.size() - max_bytes) : log;
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv_in,
                                         absl::Duration timeout,
                                         const std::vector<std::string>& extra_env) {
  if (argv_in.empty()) return absl::InvalidArgumentError("empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = {kPath, "LANG=C"};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> env_c = CStrings(env);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // dup2 clears O_CLOEXEC on the copies (fds 1 and 2).
    ExecChild(argv_c.data(), env_c.data(), "", "", false, 0, 0, fds[1]);
  }
  close(fds[1]);
  CommandResult result;
  const absl::Time started = absl::Now();
  const absl::Time deadline = started + timeout;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    if (result.output.size() < (1 << 20)) result.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  result.elapsed = absl::Now() - started;
  result.max_rss_kb = usage.ru_maxrss;
  result.exit_code = WIFEXITED(status) && !timed_out ? WEXITSTATUS(status) : -1;
  return result;
}

int64_t PeakRssKb(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

absl::Status WaitForPort(absl::string_view address, uint16_t port, absl::Duration timeout,
                         Process* process) {
  bool listening = false, exited = false;
  test::WaitUntil(
      [&] {
        exited = process != nullptr && !process->Running();
        if (exited) return true;
        auto fd = ConnectWithDeadline(address, port, absl::Now() + absl::Milliseconds(200));
        if (fd.ok()) close(*fd);
        listening = fd.ok();
        return listening;
      },
      timeout);
  if (listening) return absl::OkStatus();
  if (exited) {
    return absl::FailedPreconditionError(absl::StrCat("process ", process->pid(),
                                                      " exited before listening on ", address, ":",
                                                      port, "; its log:\n", process->LogTail()));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "nothing listening on ", address, ":", port, " after ", absl::FormatDuration(timeout),
      process ? absl::StrCat("; log:\n", process->LogTail()) : ""));
}

absl::Status WaitForFile(const std::string& path, absl::Duration timeout, Process* process) {
  bool exited = false;
  const bool appeared = test::WaitUntil(
      [&] {
        if (access(path.c_str(), F_OK) == 0) return true;
        exited = process != nullptr && !process->Running();
        return exited;
      },
      timeout);
  if (exited) {
    return absl::FailedPreconditionError(absl::StrCat("process ", process->pid(),
                                                      " exited before writing ", path,
                                                      "; its log:\n", process->LogTail()));
  }
  if (!appeared) {
    return absl::DeadlineExceededError(
        absl::StrCat(path, " did not appear within ", absl::FormatDuration(timeout),
                     process ? absl::StrCat("; log:\n", process->LogTail()) : ""));
  }
  return absl::OkStatus();
}

}  // namespace relayscope::rig
