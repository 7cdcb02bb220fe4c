// What the benchmarks measure about processes: CPU time and peak RSS of a
// running process (from /proc), and of a child run to completion (from
// wait4's rusage).
#ifndef BENCH_PROC_STATS_H_
#define BENCH_PROC_STATS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace relayscope::bench {

// User + system CPU seconds of a running process (utime + stime in
// /proc/<pid>/stat); 0 if it cannot be read.
double ProcessCpuSeconds(pid_t pid);
// This process's user + system CPU seconds.
double SelfCpuSeconds();
// A running process's peak resident set (VmHWM), in kB; 0 if unknown.
long PeakRssKb(pid_t pid);

struct ChildUsage {
  int exit_code = -1;  // -1 when killed by a signal
  absl::Duration wall;
  absl::Duration cpu;  // user + system
  long max_rss_kb = 0;
};

// Runs argv[0] (a path) with `env` (NAME=value; the environment is only
// that), stdout and stderr to `output_path` (/dev/null if empty), waits for
// it and returns its own resource usage. INTERNAL if it cannot be started.
absl::StatusOr<ChildUsage> RunMeasured(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& env = {},
                                       const std::string& output_path = "");

}  // namespace relayscope::bench

#endif  // BENCH_PROC_STATS_H_
