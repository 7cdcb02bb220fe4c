#include "agent/cli/agent_command.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/catalogue.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kDemoCatalogue[] = RELAYSCOPE_SOURCE_DIR "/deploy/catalogue/demo.textproto";

// A FILE* whose text the test can read back.
class Captured {
 public:
  Captured() : file_(open_memstream(&buffer_, &size_)) {}
  ~Captured() {
    std::fclose(file_);
    std::free(buffer_);
  }
  std::FILE* file() { return file_; }
  std::string Text() {
    std::fflush(file_);
    return std::string(buffer_, size_);
  }

 private:
  char* buffer_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

class RunAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/relayscope-agent-command-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    options_.catalogue_path = kDemoCatalogue;
    options_.discover = false;  // this machine's proxies are not the test's
    options_.report_dir = dir_ + "/reports";
    options_.agent_id_file = dir_ + "/state/agent-id";
    io_.out = out_.file();
    io_.err = err_.file();
    io_.env = FixedEnvironment({});
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }

  int Run(AgentCommand command = AgentCommand::kDiagnose) {
    return RunAgent(command, options_, io_);
  }

  std::string dir_;
  AgentOptions options_;
  Captured out_;
  Captured err_;
  AgentIo io_;
};

TEST(ParseCommand, NoCommandIsDiagnose) {
  EXPECT_EQ(*ParseCommand({"relayscope-agent"}), AgentCommand::kDiagnose);
  EXPECT_EQ(*ParseCommand({"relayscope-agent", "diagnose"}), AgentCommand::kDiagnose);
  EXPECT_EQ(*ParseCommand({"relayscope-agent", "watch"}), AgentCommand::kWatch);
  EXPECT_EQ(*ParseCommand({"relayscope-agent", "proxies"}), AgentCommand::kProxies);
}

TEST(ParseCommand, AnUnknownOrSecondCommandIsAUsageError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"relayscope-agent", "diagnoze"},
        std::vector<std::string>{"relayscope-agent", "diagnose", "watch"}}) {
    auto command = ParseCommand(args);
    EXPECT_EQ(command.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(command.status().message(),
              "usage: relayscope-agent [diagnose|watch|proxies] [flags]; see --help");
  }
}

TEST(ReportDirectory, TheFlagThenTmpdirThenSlashTmp) {
  EXPECT_EQ(ReportDirectory("/r", FixedEnvironment({{"TMPDIR", "/t"}})), "/r");
  EXPECT_EQ(ReportDirectory("", FixedEnvironment({{"TMPDIR", "/t"}})), "/t");
  EXPECT_EQ(ReportDirectory("", FixedEnvironment({{"TMPDIR", ""}})), "/tmp");
  EXPECT_EQ(ReportDirectory("", FixedEnvironment({})), "/tmp");
}

TEST(BuiltInCatalogue, IsTheProductionCatalogue) {
  auto built_in = BuiltInCatalogue();
  ASSERT_TRUE(built_in.ok()) << built_in.status();
  auto file = LoadCatalogue(RELAYSCOPE_SOURCE_DIR "/deploy/catalogue/aos.textproto");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(built_in->SerializeAsString(), file->SerializeAsString());
  EXPECT_EQ(built_in->name(), "aos");
}

TEST(SpoolDirectory, TheFlagElseBesideTheAgentId) {
  EXPECT_EQ(SpoolDirectory("/s", "/state/relayscope/agent-id"), "/s");
  EXPECT_EQ(SpoolDirectory("", "/state/relayscope/agent-id"), "/state/relayscope/spool");
}

TEST_F(RunAgentTest, WatchWithoutACollectorIsAUsageError) {
  EXPECT_EQ(Run(AgentCommand::kWatch), 64);
  EXPECT_EQ(err_.Text(),
            "relayscope-agent: watch needs --collector: it exists to feed the collector\n");
}

TEST_F(RunAgentTest, AMissingCatalogueIsAConfigError) {
  options_.catalogue_path = dir_ + "/missing.textproto";
  EXPECT_EQ(Run(), 78);
  EXPECT_THAT(err_.Text(), AllOf(StartsWith("relayscope-agent: "), HasSubstr("missing.textproto")));
  EXPECT_EQ(out_.Text(), "");
}

TEST_F(RunAgentTest, AnUnknownRegionIsAUsageError) {
  options_.regions = {"atlantis"};
  EXPECT_EQ(Run(), 64);
  EXPECT_THAT(err_.Text(), StartsWith("relayscope-agent: --region: "));
}

TEST_F(RunAgentTest, ABadProxyIsAUsageErrorThatHidesItsPassword) {
  options_.proxies = {"http://me:Hunter2-secret@proxy.corp:99999"};
  EXPECT_EQ(Run(), 64);
  EXPECT_THAT(err_.Text(), StartsWith("relayscope-agent: --proxy: "));
  EXPECT_THAT(err_.Text(), Not(HasSubstr("Hunter2-secret")));
}

TEST_F(RunAgentTest, AProxyCaFileThatCannotBeReadIsAUsageErrorBeforeAnyAttempt) {
  options_.proxy_ca_file = dir_ + "/missing-ca.pem";
  EXPECT_EQ(Run(), 64);
  EXPECT_EQ(err_.Text(), absl::StrCat("relayscope-agent: --proxy-ca: ", dir_,
                                      "/missing-ca.pem is not a file that exists\n"));
  EXPECT_EQ(out_.Text(), "");  // no header, no attempt, no verdict

  options_.proxy_ca_file = dir_ + "/empty-ca.pem";
  std::ofstream(options_.proxy_ca_file).close();
  EXPECT_EQ(Run(), 64);
  EXPECT_THAT(err_.Text(), HasSubstr(absl::StrCat("--proxy-ca: cannot read ", dir_,
                                                  "/empty-ca.pem (unreadable or empty)\n")));
  EXPECT_EQ(out_.Text(), "");
}

TEST_F(RunAgentTest, NoRouteIsAUsageError) {
  options_.direct = false;
  EXPECT_EQ(Run(), 64);
  EXPECT_EQ(err_.Text(), "relayscope-agent: no route to try: give --proxy or keep --direct\n");
}

TEST_F(RunAgentTest, ABadPortIsAUsageError) {
  options_.ports = {"8200", "http"};
  EXPECT_EQ(Run(), 64);
  EXPECT_EQ(err_.Text(), "relayscope-agent: --ports: \"http\" is not a port\n");
}

// One relay on a loopback port that is bound but not listening: the kernel
// refuses the connection at once, so the diagnosis runs end to end without
// a network and without waiting on a timeout.
class RefusedRelayTest : public RunAgentTest {
 protected:
  void SetUp() override {
    RunAgentTest::SetUp();
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    options_.catalogue_path = dir_ + "/catalogue.textproto";
    std::ofstream(options_.catalogue_path)
        << "name: \"refused\"\n"
           "regions { id: \"lab\" display_name: \"Lab\"\n"
           "  relays { id: \"lab-1\" addresses: \"127.0.0.1\" ports: ["
        << port_ << "] } }\n";
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    RunAgentTest::TearDown();
  }

  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST_F(RefusedRelayTest, ShowsProgressAndTheVerdictAndExitsUnreachable) {
  EXPECT_EQ(Run(), 2);
  const std::string out = out_.Text();
  const std::string where = absl::StrCat("lab-1 127.0.0.1:", port_, " via direct");
  EXPECT_THAT(out, StartsWith("relayscope 0.1.0: 1 attempts to 1 region(s) over 1 route(s), "
                              "catalogue \"refused\"\n"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("  [FAIL] ", where, ": connection refused")));
  EXPECT_THAT(out, HasSubstr("\nVerdict: UNREACHABLE\n"));
  EXPECT_THAT(out, HasSubstr("  blocked: "));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("\nReport: ", options_.report_dir, "/connrpt.html\n")));
  EXPECT_THAT(out, Not(HasSubstr("\033[K")));  // not a terminal
  EXPECT_EQ(err_.Text(), "");
  std::ifstream html(options_.report_dir + "/connrpt.html");
  EXPECT_TRUE(html.good());
}

// A diagnosis without a collector keeps no identity: each run has its
// own, and no state file is written (the customer's machine keeps only
// the reports it was told about).
TEST_F(RefusedRelayTest, WithoutACollectorNoIdentityFileIsWritten) {
  const std::string state = dir_ + "/xdg-state";
  ASSERT_EQ(setenv("XDG_STATE_HOME", state.c_str(), 1), 0);
  options_.agent_id_file.clear();
  EXPECT_EQ(Run(), 2);
  unsetenv("XDG_STATE_HOME");
  EXPECT_FALSE(std::filesystem::exists(state)) << "an identity was written under " << state;
}

TEST_F(RefusedRelayTest, AnAgentIdFileGivenIsKept) {
  EXPECT_EQ(Run(), 2);
  EXPECT_TRUE(std::filesystem::exists(options_.agent_id_file));
}

TEST_F(RefusedRelayTest, OnATerminalTheLiveStatusLineIsErasedBeforeTheVerdict) {
  io_.out_is_terminal = true;
  EXPECT_EQ(Run(), 2);
  EXPECT_THAT(out_.Text(), AllOf(HasSubstr("  ... 1 of 1 done, 0 ok, 1 failed\r\033[K\nVerdict: "),
                                 HasSubstr("\r\033[K  [FAIL] ")));
}

TEST_F(RefusedRelayTest, QuietShowsOnlyTheVerdictAndTheReports) {
  options_.quiet = true;
  EXPECT_EQ(Run(), 2);
  EXPECT_THAT(out_.Text(), StartsWith("\nVerdict: UNREACHABLE\n"));
  EXPECT_THAT(out_.Text(), Not(HasSubstr("[FAIL]")));
}

TEST_F(RefusedRelayTest, JsonPrintsTheSessionReportAndNothingElse) {
  options_.json = true;
  EXPECT_EQ(Run(), 2);
  const std::string out = out_.Text();
  EXPECT_THAT(out, StartsWith("{"));
  EXPECT_THAT(out, HasSubstr("\"OUTCOME_CONNECTION_REFUSED\""));
  EXPECT_THAT(out, Not(HasSubstr("Verdict:")));
}

TEST_F(RefusedRelayTest, AProxyNobodyListensOnIsTriedBeforeDirect) {
  options_.proxies = {absl::StrCat("http://me:Hunter2-secret@127.0.0.1:", port_)};
  EXPECT_EQ(Run(), 2);
  const std::string out = out_.Text();
  EXPECT_THAT(out, HasSubstr("over 2 route(s)"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("via HTTP proxy 127.0.0.1:", port_)));
  EXPECT_THAT(out, Not(HasSubstr("Hunter2-secret")));
}

}  // namespace
}  // namespace relayscope::agent
