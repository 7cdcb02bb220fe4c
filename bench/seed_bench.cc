// P1: the seed scenario on the rig (tests/e2e/seed_scenario.h: two dropped
// ports, port 80 answered by a transparent proxy, 443 only through a squid
// that wants credentials): the wall time of a complete diagnosis of every
// route, raced, against `--sequential` (the old client's order) in the same
// run, as a multiple of one attempt timeout; and when the first working
// route was known, from the agent's own report.
//
// Needs root (a private network namespace, iptables, daemons as nobody):
//   seed_bench --agent=.../relayscope-agent --relay=.../relayscope-relay
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/proc_stats.h"
#include "common/files.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/e2e/seed_scenario.h"
#include "tests/rig/net.h"

ABSL_FLAG(std::string, agent, "", "relayscope-agent");
ABSL_FLAG(std::string, relay, "", "relayscope-relay");
ABSL_FLAG(std::vector<std::string>, timeouts, std::vector<std::string>({"2s", "5s"}),
          "Per-attempt timeouts to measure (5s is the agent's default)");
ABSL_FLAG(int, runs, 3, "Raced diagnoses per timeout (the median is reported)");
ABSL_FLAG(bool, sequential, true, "Also run the --sequential baseline (one per timeout)");

namespace relayscope::bench {
namespace {

using google::protobuf::util::TimeUtil;

struct Diagnosis {
  absl::Duration wall;
  absl::Duration first_working;  // from the session's start to the first OK attempt's end
  int attempts = 0;
  int working = 0;
};

absl::StatusOr<Diagnosis> Diagnose(const rig::SeedScenario& scenario, absl::Duration timeout,
                                   bool sequential) {
  std::vector<std::string> argv = scenario.AgentArgv(absl::GetFlag(FLAGS_agent), timeout);
  argv.push_back("--json");
  argv.push_back("--discover=false");
  if (sequential) argv.push_back("--sequential");
  const std::string out = scenario.dir() + "/agent.json";
  std::filesystem::remove(out);
  std::vector<std::string> env = rig::SeedScenario::AgentEnv();
  env.push_back("PATH=/usr/bin:/bin");
  auto usage = RunMeasured(argv, env, out);
  if (!usage.ok()) return usage.status();
  // Exit 1: degraded, as the scenario is (region A has no route).
  if (usage->exit_code != 1) {
    return absl::InternalError(absl::StrCat("agent exited with ", usage->exit_code));
  }
  auto json = ReadFileToString(out);
  if (!json.ok()) return json.status();
  // stderr may carry log lines before the JSON object.
  const size_t brace = json->find('{');
  v1::SessionReport report;
  if (brace == std::string::npos ||
      !google::protobuf::util::JsonStringToMessage(json->substr(brace), &report).ok()) {
    return absl::InternalError("the agent's --json output does not parse");
  }
  Diagnosis d;
  d.wall = usage->wall;
  d.attempts = report.attempts_size();
  const int64_t session_start = TimeUtil::TimestampToMicroseconds(report.start_time());
  int64_t first = -1;
  for (const v1::Attempt& a : report.attempts()) {
    if (a.outcome() != v1::OUTCOME_OK) continue;
    ++d.working;
    const int64_t end = TimeUtil::TimestampToMicroseconds(a.start_time()) +
                        TimeUtil::DurationToMicroseconds(a.total_duration());
    if (first < 0 || end < first) first = end;
  }
  if (first < 0) return absl::InternalError("no working route found");
  d.first_working = absl::Microseconds(first - session_start);
  return d;
}

int Main() {
  if (geteuid() != 0) {
    std::fprintf(stderr, "seed_bench: needs root (network namespace, iptables)\n");
    return 77;
  }
  if (absl::GetFlag(FLAGS_agent).empty() || absl::GetFlag(FLAGS_relay).empty()) {
    std::fprintf(stderr, "seed_bench: give --agent and --relay\n");
    return 64;
  }
  if (absl::Status ns = rig::EnterPrivateNetworkNamespace(); !ns.ok()) {
    std::fprintf(stderr, "seed_bench: %s\n", ns.ToString().c_str());
    return 1;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "relayscope-seed-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  chmod(dir.c_str(), 0755);
  rig::SeedScenario scenario;
  if (absl::Status s = scenario.Start(dir, absl::GetFlag(FLAGS_relay)); !s.ok()) {
    std::fprintf(stderr, "seed_bench: %s (kept %s)\n", s.ToString().c_str(), dir.c_str());
    return 1;
  }
  bool ok = true;
  for (const std::string& text : absl::GetFlag(FLAGS_timeouts)) {
    absl::Duration timeout;
    if (!absl::ParseDuration(text, &timeout)) {
      std::fprintf(stderr, "seed_bench: --timeouts: %s is not a duration\n", text.c_str());
      return 64;
    }
    std::vector<Diagnosis> raced;
    for (int i = 0; i < absl::GetFlag(FLAGS_runs); ++i) {
      auto d = Diagnose(scenario, timeout, false);
      if (!d.ok()) {
        std::fprintf(stderr, "seed_bench: raced: %s\n", d.status().ToString().c_str());
        ok = false;
        break;
      }
      raced.push_back(*d);
    }
    if (raced.empty()) continue;
    std::sort(raced.begin(), raced.end(),
              [](const Diagnosis& a, const Diagnosis& b) { return a.wall < b.wall; });
    const Diagnosis& median = raced[raced.size() / 2];
    std::printf(
        "timeout=%s raced: wall=%.2fs (%.2f x timeout) first_working=%.0fms attempts=%d "
        "working=%d\n",
        text.c_str(), absl::ToDoubleSeconds(median.wall), absl::FDivDuration(median.wall, timeout),
        absl::ToDoubleMilliseconds(median.first_working), median.attempts, median.working);
    if (absl::GetFlag(FLAGS_sequential)) {
      auto seq = Diagnose(scenario, timeout, true);
      if (!seq.ok()) {
        std::fprintf(stderr, "seed_bench: sequential: %s\n", seq.status().ToString().c_str());
        ok = false;
        continue;
      }
      std::printf(
          "timeout=%s sequential (baseline): wall=%.2fs (%.2f x timeout) first_working=%.0fms "
          "speed-up=%.1fx\n",
          text.c_str(), absl::ToDoubleSeconds(seq->wall), absl::FDivDuration(seq->wall, timeout),
          absl::ToDoubleMilliseconds(seq->first_working),
          absl::FDivDuration(seq->wall, median.wall));
    }
  }
  scenario.Stop();
  std::error_code ignored;
  if (ok)
    std::filesystem::remove_all(dir, ignored);
  else
    std::fprintf(stderr, "seed_bench: kept %s\n", dir.c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace relayscope::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The seed scenario's diagnosis time (P1), raced and sequential. Needs root.\n"
      "  seed_bench --agent=path/to/relayscope-agent --relay=path/to/relayscope-relay");
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return relayscope::bench::Main();
}
