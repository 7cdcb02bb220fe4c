// Running `relayscope-agent diagnose` as a customer would, in a scenario
// dir, and reading the session report it wrote: shared by the e2e tests
// that judge the agent's verdict on a network they built.
#ifndef TESTS_E2E_AGENT_RUN_H_
#define TESTS_E2E_AGENT_RUN_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/files.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/telemetry.pb.h"
#include "tests/rig/process.h"

namespace relayscope::e2e {

// What a run of the agent left: its exit status, its output, the session
// report it wrote and how long it took.
struct AgentRun {
  int exit_code = -1;
  std::string output;
  v1::SessionReport report;
  absl::Duration wall;
};

// Runs `agent` diagnose against `catalogue` with `--timeout=2s`, reports
// into `dir`/reports (emptied first), its identity in `dir`, no manual
// proxy file, then `args`. HOME is `dir`, so no browser or desktop setting
// of this machine is read; `env` adds to the environment. The test fails
// when the agent cannot be run or its JSON report does not parse.
inline AgentRun RunDiagnose(const std::string& agent, const std::string& dir,
                            const std::string& catalogue, const std::vector<std::string>& args,
                            std::vector<std::string> env = {}) {
  const std::string reports = dir + "/reports";
  std::filesystem::remove_all(reports);
  std::vector<std::string> argv = {agent,
                                   "diagnose",
                                   "--catalogue=" + catalogue,
                                   "--timeout=2s",
                                   "--report-dir=" + reports,
                                   "--agent-id-file=" + dir + "/agent-id",
                                   "--proxy-file=" + dir + "/no-proxy-file"};
  argv.insert(argv.end(), args.begin(), args.end());
  env.push_back("HOME=" + dir);
  AgentRun run;
  const absl::Time start = absl::Now();
  auto result = rig::RunCommand(argv, absl::Seconds(60), env);
  run.wall = absl::Now() - start;
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return run;
  run.exit_code = result->exit_code;
  run.output = result->output;
  for (const auto& entry : std::filesystem::directory_iterator(reports)) {
    if (entry.path().extension() != ".json") continue;
    const std::string json = ReadFileToString(entry.path()).value_or("");
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &run.report).ok()) << json;
  }
  return run;
}

}  // namespace relayscope::e2e

#endif  // TESTS_E2E_AGENT_RUN_H_
