// Child processes for the test rig: real daemons (squid, dante, ...) started
// from configs in a temp dir, recorded by their own PID and stopped by it.
//
// A Process runs in its own process group so that Stop() also reaches the
// helpers a daemon forks (squid's auth helpers, dante's children); it is
// stopped on destruction, so a failing test never leaves a daemon behind.
#ifndef TESTS_RIG_PROCESS_H_
#define TESTS_RIG_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace relayscope::rig {

class Process {
 public:
  struct Options {
    std::vector<std::string> argv;  // argv[0] is the program path
    // Extra environment entries (NAME=value) on top of a minimal PATH.
    std::vector<std::string> env;
    std::string working_dir;
    // stdout and stderr go here (appended); empty means /dev/null.
    std::string log_path;
    // Drop to nobody:nogroup (and no supplementary groups) before exec.
    bool as_nobody = false;
  };

  // Forks and execs. INTERNAL if fork fails; an exec failure shows up as the
  // process exiting with status 127 (and a line in its log).
  static absl::StatusOr<std::unique_ptr<Process>> Start(const Options& options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // True while the process has not exited (reaps it if it has).
  bool Running();
  // SIGTERM to the process group, then SIGKILL after `grace`. Returns the
  // wait status (or -1 if it had already been reaped by Running()).
  int Stop(absl::Duration grace = absl::Seconds(5));
  // The last `max_bytes` of the log, for error messages.
  std::string LogTail(size_t max_bytes = 2000) const;

 private:
  Process(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
  int status_ = -1;
};

// Result of a command run to completion.
struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or the timeout
  std::string output;  // stdout and stderr together (the first 1 MiB)
  // Wall time from fork to exit, and the command's peak resident set
  // (getrusage ru_maxrss of the child, in KiB): bounds a test can assert.
  absl::Duration elapsed;
  int64_t max_rss_kb = 0;
};

// Runs a command to completion, bounded by `timeout` (then killed), with
// `env` (NAME=value) added to a minimal environment. INTERNAL if it cannot
// be started.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Seconds(10),
                                         const std::vector<std::string>& env = {});

// A running process's peak resident set (VmHWM in /proc/<pid>/status), in
// KiB; -1 if it cannot be read.
int64_t PeakRssKb(pid_t pid);

// Waits until a TCP connection to address:port succeeds, at most `timeout`.
// If `process` is given and exits first, fails at once with its log tail.
// DEADLINE_EXCEEDED or FAILED_PRECONDITION otherwise.
absl::Status WaitForPort(absl::string_view address, uint16_t port, absl::Duration timeout,
                         Process* process = nullptr);

// Waits until `path` exists (a daemon's ready file), at most `timeout`. If
// `process` is given and exits first, fails at once with its log tail.
// DEADLINE_EXCEEDED or FAILED_PRECONDITION otherwise.
absl::Status WaitForFile(const std::string& path, absl::Duration timeout,
                         Process* process = nullptr);

// The uid and gid of nobody:nogroup.
uid_t NobodyUid();
gid_t NogroupGid();

}  // namespace relayscope::rig

#endif  // TESTS_RIG_PROCESS_H_
