// The README's main command, deploy/dev/demo.sh, with the binaries of this
// build (RELAYSCOPE_DEMO_PREBUILT=1), in the test's own network namespace:
// the stack comes up, the diagnosis explains the intercepted and the
// dropped port, the dashboard and metrics URLs answer, and Ctrl-C (SIGINT
// to the script) stops every process it started.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"
#include "tests/support/wait_until.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

// The file's content; empty if it cannot be read.
std::string ReadFile(const std::string& path) { return ReadFileToString(path).value_or(""); }

// True while `pid` exists and is not a zombie.
bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  const std::string status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  return status.find("State:\tZ") == std::string::npos;
}

class Demo : public rig::RigTest {};

TEST_F(Demo, ExplainsTheBlockedPortsServesTheDashboardAndStopsEverythingOnCtrlC) {
  const std::string state = dir() + "/demo";
  const std::string log = dir() + "/demo.log";
  rig::Process::Options options;
  options.argv = {"/bin/bash", DEMO_SCRIPT};
  options.env = {"RELAYSCOPE_DEMO_PREBUILT=1", std::string("RELAYSCOPE_BUILD_DIR=") + BUILD_DIR,
                 "RELAYSCOPE_DEMO_DIR=" + state, "HOME=" + dir()};
  options.log_path = log;
  auto demo = rig::Process::Start(options);
  ASSERT_TRUE(demo.ok()) << demo.status();

  auto serving = [&] { return ReadFile(log).find("serving until Ctrl-C") != std::string::npos; };
  test::WaitUntil([&] { return serving() || !(*demo)->Running(); }, absl::Seconds(90),
                  absl::Milliseconds(200));
  ASSERT_TRUE(serving()) << ((*demo)->Running() ? "still not serving after 90s\n" : "exited\n")
                         << ReadFile(log);
  const std::string output = ReadFile(log);
  EXPECT_THAT(output, HasSubstr("apac-1 127.0.73.1:8080 via direct: protocol interference"));
  EXPECT_THAT(output, HasSubstr("apac-1 127.0.73.1:8443 via direct: connect timeout"));
  EXPECT_THAT(output, HasSubstr("Verdict: REACHABLE"));
  // The plugin download: genuine on 8443, re-signed on 8080.
  EXPECT_THAT(output, HasSubstr("plugin 127.0.74.1:8443 via direct: OK"));
  EXPECT_THAT(output, HasSubstr("plugin 127.0.74.1:8080 via direct: tls intercepted"));
  EXPECT_THAT(output, HasSubstr("Download check: OK"));
  EXPECT_THAT(output, HasSubstr("plugin download (demo): works via plugin 127.0.74.1:8443"));
  EXPECT_THAT(output, HasSubstr("issued by 'CN=Demo Inspection CA,O=relayscope demo'"));
  EXPECT_THAT(output, HasSubstr("Telemetry: 10 attempts delivered"));
  EXPECT_TRUE(std::filesystem::exists(state + "/reports/connrpt.html"));
  std::smatch dashboard, metrics;
  ASSERT_TRUE(std::regex_search(output, dashboard, std::regex("dashboard: (http://\\S+)")));
  ASSERT_TRUE(std::regex_search(output, metrics, std::regex("metrics:   (http://\\S+)")));
  auto page = rig::RunCommand({"/usr/bin/curl", "-sf", "--noproxy", "*", dashboard[1].str()});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->exit_code, 0) << page->output;
  EXPECT_THAT(page->output, HasSubstr("relayscope"));
  auto scrape = rig::RunCommand({"/usr/bin/curl", "-sf", "--noproxy", "*", metrics[1].str()});
  ASSERT_TRUE(scrape.ok());
  EXPECT_THAT(
      scrape->output,
      HasSubstr("relayscope_attempts_total{outcome=\"protocol_interference\",port=\"8080\""));
  // The download check counts apart from the relays.
  EXPECT_THAT(scrape->output,
              HasSubstr("relayscope_download_attempts_total{outcome=\"tls_intercepted\""));

  // What it started, by the PIDs it recorded.
  std::vector<pid_t> started;
  for (const auto& entry : std::filesystem::directory_iterator(state + "/pids")) {
    started.push_back(std::stoi(ReadFile(entry.path())));
  }
  // 3 relays, 2 middleboxes, 2 download servers, collector, dashboard
  ASSERT_EQ(started.size(), 9u);
  // Ctrl-C: SIGINT to the script alone (a terminal would send it to the
  // whole foreground group; the script must not rely on that).
  ASSERT_EQ(kill((*demo)->pid(), SIGINT), 0);
  test::WaitUntil([&] { return !(*demo)->Running(); }, absl::Seconds(15), absl::Milliseconds(100));
  EXPECT_FALSE((*demo)->Running()) << "the demo did not exit on SIGINT";
  for (pid_t pid : started) EXPECT_FALSE(Alive(pid)) << "pid " << pid << " survived Ctrl-C";
  EXPECT_THAT(ReadFile(log), HasSubstr("demo: stopped collector"));
}

}  // namespace
}  // namespace relayscope
