// P4: the agent's footprint. The stripped size of relayscope-agent, and the
// peak RSS and CPU time (the child's own rusage) of a 12-route diagnosis
// against real relays on loopback: 3 relays x 4 ports, all answering, each
// with the full Diffie-Hellman handshake. Baselines in the same run:
// /bin/true (the cost of any process) and curl fetching one page from the
// relay's /metrics (a small libcurl + OpenSSL client doing one request).
//
//   agent_footprint --agent=build/release/agent/relayscope-agent
//                   --relay=build/dev/relay/relayscope-relay [--runs=5]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/proc_stats.h"
#include "common/files.h"
#include "tests/rig/process.h"

ABSL_FLAG(std::string, agent, "", "relayscope-agent to measure (a release build, ideally)");
ABSL_FLAG(std::string, relay, "", "relayscope-relay to diagnose against");
ABSL_FLAG(int, runs, 5, "Diagnoses to run; the median is reported");

namespace relayscope::bench {
namespace {

constexpr int kRelays = 3;
constexpr int kPorts[] = {8200, 8201, 8202, 8203};

struct Figures {
  double cpu_ms = 0;
  double rss_mb = 0;
  double wall_ms = 0;
};

// Runs argv `runs` times; the median of each figure. Fails unless every
// run exits with `expected_exit`.
absl::StatusOr<Figures> Measure(const std::vector<std::string>& argv, int runs,
                                const std::vector<std::string>& env, const std::string& log) {
  std::vector<double> cpu, rss, wall;
  for (int i = 0; i < runs; ++i) {
    auto usage = RunMeasured(argv, env, log);
    if (!usage.ok()) return usage.status();
    if (usage->exit_code != 0) {
      return absl::InternalError(
          absl::StrCat(argv[0], " exited with ", usage->exit_code, "; see ", log));
    }
    cpu.push_back(absl::ToDoubleMilliseconds(usage->cpu));
    rss.push_back(static_cast<double>(usage->max_rss_kb) / 1024);
    wall.push_back(absl::ToDoubleMilliseconds(usage->wall));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return Figures{median(cpu), median(rss), median(wall)};
}

void Print(const char* name, const Figures& f) {
  std::printf("%-26s cpu=%7.1fms peak_rss=%6.1fMB wall=%7.1fms\n", name, f.cpu_ms, f.rss_mb,
              f.wall_ms);
}

int Main() {
  const std::string agent = absl::GetFlag(FLAGS_agent);
  const std::string relay = absl::GetFlag(FLAGS_relay);
  if (agent.empty() || relay.empty()) {
    std::fprintf(stderr, "agent_footprint: give --agent and --relay\n");
    return 64;
  }
  const int runs = std::max(1, absl::GetFlag(FLAGS_runs));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("relayscope-footprint-", getpid());
  std::filesystem::create_directories(dir / "reports");

  // The stripped size of a copy.
  const std::string stripped = (dir / "relayscope-agent.stripped").string();
  auto strip = RunMeasured({"/usr/bin/strip", "-o", stripped, agent}, {}, "");
  if (!strip.ok() || strip->exit_code != 0) {
    std::fprintf(stderr, "agent_footprint: strip failed\n");
    return 1;
  }
  std::printf("agent binary %s: %.1fMB, stripped %.1fMB\n", agent.c_str(),
              static_cast<double>(std::filesystem::file_size(agent)) / 1e6,
              static_cast<double>(std::filesystem::file_size(stripped)) / 1e6);

  // 3 relays x 4 ports on loopback, served by one relay process.
  std::string catalogue = "name: \"footprint\"\n";
  std::vector<std::string> listen;
  for (int r = 1; r <= kRelays; ++r) {
    const std::string address = absl::StrCat("127.0.91.", r);
    std::vector<std::string> ports;
    for (int port : kPorts) {
      listen.push_back(absl::StrCat(address, ":", port));
      ports.push_back(absl::StrCat(port));
    }
    absl::StrAppend(&catalogue, "regions { id: \"r", r, "\" display_name: \"Region ", r,
                    "\" relays { id: \"relay-", r, "\" addresses: \"", address, "\" ports: [",
                    absl::StrJoin(ports, ", "), "] } }\n");
  }
  std::ofstream(dir / "catalogue.textproto") << catalogue;
  rig::Process::Options options;
  options.argv = {relay, "--listen=" + absl::StrJoin(listen, ","), "--metrics=127.0.91.1:9300",
                  "--ready-file=" + (dir / "relay.ready").string()};
  options.log_path = (dir / "relay.log").string();
  auto relay_process = rig::Process::Start(options);
  if (!relay_process.ok()) {
    std::fprintf(stderr, "agent_footprint: %s\n", relay_process.status().ToString().c_str());
    return 1;
  }
  if (absl::Status up =
          rig::WaitForFile((dir / "relay.ready").string(), absl::Seconds(10), relay_process->get());
      !up.ok()) {
    std::fprintf(stderr, "agent_footprint: relay did not start: %s\n", up.ToString().c_str());
    return 1;
  }

  const std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=" + dir.string()};
  const std::string log = (dir / "runs.log").string();
  bool ok = true;
  auto report = [&](const char* name, const absl::StatusOr<Figures>& f) {
    if (!f.ok()) {
      std::fprintf(stderr, "agent_footprint: %s: %s\n", name, f.status().ToString().c_str());
      ok = false;
      return;
    }
    Print(name, *f);
  };
  report("baseline /bin/true", Measure({"/bin/true"}, runs, env, log));
  report("baseline curl 1 request", Measure({"/usr/bin/curl", "-s", "-o", "/dev/null", "--noproxy",
                                             "*", "http://127.0.91.1:9300/metrics"},
                                            runs, env, log));
  const std::vector<std::string> diagnose = {
      stripped,
      "diagnose",
      "--catalogue=" + (dir / "catalogue.textproto").string(),
      "--discover=false",
      "--quiet",
      "--timeout=5s",
      "--report-dir=" + (dir / "reports").string(),
      "--agent-id-file=" + (dir / "agent-id").string()};
  report("agent 12-route diagnosis", Measure(diagnose, runs, env, log));
  // Every route must really have been tried and have worked.
  const absl::StatusOr<std::string> text = ReadFileToString(log);
  if (!text.ok() || text->find("REACHABLE") == std::string::npos) {
    std::fprintf(stderr, "agent_footprint: the diagnosis did not find the relays reachable\n");
    ok = false;
  }
  relay_process->get()->Stop();
  std::error_code ignored;
  if (ok)
    std::filesystem::remove_all(dir, ignored);
  else
    std::fprintf(stderr, "agent_footprint: kept %s\n", dir.c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace relayscope::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Agent footprint (P4): stripped size, peak RSS and CPU of a 12-route diagnosis.\n"
      "  agent_footprint --agent=path/to/relayscope-agent --relay=path/to/relayscope-relay");
  absl::ParseCommandLine(argc, argv);
  return relayscope::bench::Main();
}
