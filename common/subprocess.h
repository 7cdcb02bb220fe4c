// Running a short-lived helper program (gsettings, scutil) and collecting
// what it prints, bounded in time and in size, so a hung or chatty helper
// can never stall or flood the agent.
//
//   ASSIGN_OR_RETURN(SubprocessResult r,
//                    RunSubprocess({"gsettings", "list-recursively", schema},
//                                  absl::Seconds(2), 256 << 10));
#ifndef COMMON_SUBPROCESS_H_
#define COMMON_SUBPROCESS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace relayscope {

struct SubprocessResult {
  // The exit status; -1 when the child was killed or did not exit normally.
  int exit_status = -1;
  std::string out;  // stdout, at most max_bytes
  std::string err;  // stderr, at most max_bytes
  // Still running at the deadline: killed.
  bool timed_out = false;
  // Printed more than max_bytes on stdout or stderr: cut there and killed.
  bool truncated = false;
};

// Runs `argv` (argv[0] looked up in PATH, the environment inherited) with
// stdin from /dev/null. Collects at most `max_bytes` of stdout and of
// stderr; a child still running `timeout` after the start, or one that
// prints more than `max_bytes`, is killed (SIGKILL to its PID) and reaped
// before this returns. NOT_FOUND when the program cannot be run (including
// an exit status of 127, the shell's "command not found", since exec
// failures may only show up that way); INVALID_ARGUMENT for an empty argv;
// INTERNAL when no pipe can be made.
absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::Duration timeout, size_t max_bytes);

}  // namespace relayscope

#endif  // COMMON_SUBPROCESS_H_
