// Secrets never leave the customer's machine in any output: every agent
// command runs with a known proxy password (in a proxy URL, the manual
// proxy file, the environment and the 407 prompt's environment variables)
// and a known upload token (file and environment), and then every output
// is searched for them - stdout, stderr, the text log, connrpt.html, the
// JSON report, the spool, the telemetry as the collector stored it (the
// SQLite file and its WAL, byte for byte), the collector's and the
// dashboard's logs, /metrics and the dashboard's REST answers.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "Proxy-Pw-0xC0FFEE-31337";
constexpr char kToken[] = "Upload-Token-7d2f9a61e5";
constexpr char kWrongToken[] = "Wrong-Token-4be0c3d9a2";
constexpr char kQueryToken[] = "Query-Token-55aa01fe";
constexpr char kRelayAddress[] = "127.0.72.1";

// The file's content; empty if it cannot be read.
std::string ReadAll(const std::string& path) { return ReadFileToString(path).value_or(""); }

class Secrets : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(dir(), e2e::Binaries{.relay = RELAY_BINARY,
                                                               .collector = COLLECTOR_BINARY,
                                                               .dashboard = DASHBOARD_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText(kRelayAddress)).ok());
    catalogue_ = stack_->catalogue();
    ASSERT_TRUE(stack_->WriteTokens("tokens", {{"agents", kToken}}).ok());
    ASSERT_TRUE(stack_->WriteTokens("query-tokens", {{"dashboard", kQueryToken}}).ok());
    ASSERT_TRUE(stack_->WriteSecret("agent.token", kToken).ok());
    ASSERT_TRUE(stack_->WriteSecret("dashboard.token", kQueryToken).ok());
    // The secrets' other spellings: what a proxy sees in Proxy-Authorization.
    secrets_ = {kPassword, kToken, kWrongToken, kQueryToken,
                absl::Base64Escape(absl::StrCat("alice:", kPassword))};
  }
  void TearDown() override {
    stack_.reset();
    squid_.reset();
    RigTest::TearDown();
  }

  // Runs one agent command; keeps its output for the search.
  std::string Agent(const std::string& label, std::vector<std::string> args,
                    std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {AGENT_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const char* common : {"--report-dir=REPORTS", "--agent-id-file=ID", "--spool-dir=SPOOL",
                               "--timeout=2s", "--upload-timeout=3s", "--catalogue=CAT"}) {
      std::string flag = common;
      flag = std::regex_replace(flag, std::regex("REPORTS"), dir() + "/reports");
      flag = std::regex_replace(flag, std::regex("ID"), dir() + "/agent-id");
      flag = std::regex_replace(flag, std::regex("SPOOL"), dir() + "/spool");
      flag = std::regex_replace(flag, std::regex("CAT"), catalogue_);
      argv.push_back(flag);
    }
    env.push_back("HOME=" + dir() + "/home");
    env.push_back("XDG_CONFIG_HOME=" + dir() + "/home/.config");
    auto result = rig::RunCommand(argv, absl::Seconds(60), env);
    EXPECT_TRUE(result.ok()) << label;
    const std::string output = result.ok() ? result->output : "";
    outputs_.emplace_back("agent " + label, output);
    return output;
  }

  // Every place a secret must not be, as (where, content).
  std::vector<std::pair<std::string, std::string>> outputs_;
  std::vector<std::string> secrets_;
  std::string catalogue_;
  std::unique_ptr<e2e::Stack> stack_;
  std::unique_ptr<rig::Squid> squid_;
};

TEST_F(Secrets, NoOutputOfAnyCommandContainsAPasswordOrAToken) {
  ASSERT_TRUE(stack_->StartRelay(absl::StrCat(kRelayAddress, ":8200")).ok());
  rig::Squid::Options proxy;
  proxy.address = "127.0.63.1";
  proxy.users = {{"alice", kPassword}};
  auto squid = rig::Squid::Start(proxy, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  squid_ = *std::move(squid);
  auto started = stack_->StartCollector(
      {.tokens = dir() + "/tokens", .extra_args = {"--query-tokens=" + dir() + "/query-tokens"}});
  ASSERT_TRUE(started.ok()) << started.status();
  e2e::Collector* collector = *started;
  auto dashboard = stack_->StartDashboard(
      {.token_file = dir() + "/dashboard.token", .extra_args = {"--deadline=2s"}});
  ASSERT_TRUE(dashboard.ok()) << dashboard.status();

  const std::string with_password = absl::StrCat("http://alice:", kPassword, "@127.0.63.1:3128");
  const std::string proxy_file = dir() + "/proxy.txt";
  std::ofstream(proxy_file) << "Proxy=" << with_password << "\n";
  const std::vector<std::string> upload = {"--collector=" + collector->address(), "--insecure"};
  const std::string token_file = "--token-file=" + dir() + "/agent.token";
  auto join = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  // diagnose: password in the URL, text output, token from a file.
  std::string out =
      Agent("diagnose --proxy=<url with password>",
            join({"diagnose", "--discover=false", "--proxy=" + with_password, token_file}, upload));
  EXPECT_THAT(out, HasSubstr("attempts delivered")) << out;
  // The password was used: squid let the CONNECT through.
  EXPECT_THAT(out, HasSubstr("[ ok ] emea-1 127.0.72.1:8200 via HTTP proxy 127.0.63.1:3128"))
      << out;
  // diagnose --json: the 407 answered from the environment, token from the
  // environment.
  out = Agent(
      "diagnose --json, 407 answered from RELAYSCOPE_PROXY_*",
      join({"diagnose", "--json", "--discover=false", "--proxy=http://127.0.63.1:3128"}, upload),
      {"RELAYSCOPE_PROXY_USER=alice", absl::StrCat("RELAYSCOPE_PROXY_PASSWORD=", kPassword),
       absl::StrCat("RELAYSCOPE_TOKEN=", kToken)});
  EXPECT_THAT(out, HasSubstr("\"has_credentials\": true")) << out;
  EXPECT_THAT(out, HasSubstr("\"outcome\": \"OUTCOME_OK\"")) << out;
  // diagnose: password in the manual proxy file and in http_proxy.
  out = Agent("diagnose --proxy-file",
              join({"diagnose", "--proxy-file=" + proxy_file, token_file}, upload));
  EXPECT_THAT(out, HasSubstr("attempts delivered")) << out;
  out = Agent("diagnose with http_proxy", join({"diagnose", token_file}, upload),
              {"http_proxy=" + with_password, "https_proxy=" + with_password,
               "all_proxy=" + with_password});
  EXPECT_THAT(out, HasSubstr("attempts delivered")) << out;
  // watch, briefly.
  out = Agent("watch --count=2",
              join({"watch", "--count=2", "--interval=1s", "--proxy=" + with_password, token_file},
                   upload));
  EXPECT_THAT(out, HasSubstr("attempts delivered")) << out;
  // proxies, text and JSON, with every source holding the password.
  const std::vector<std::string> proxy_env = {"http_proxy=" + with_password,
                                              "HTTPS_PROXY=" + with_password};
  Agent("proxies", {"proxies", "--proxy-file=" + proxy_file, "--proxy=" + with_password},
        proxy_env);
  out = Agent("proxies --json",
              {"proxies", "--json", "--proxy-file=" + proxy_file, "--proxy=" + with_password},
              proxy_env);
  EXPECT_THAT(out, HasSubstr("127.0.63.1")) << out;  // it did find them
  // A wrong token: refused; the collector must not log what it was sent.
  std::ofstream(dir() + "/wrong.token") << kWrongToken << "\n";
  out = Agent("diagnose with a wrong token",
              join({"diagnose", "--discover=false", "--proxy=" + with_password,
                    "--token-file=" + dir() + "/wrong.token"},
                   upload));
  EXPECT_THAT(out, HasSubstr("telemetry not delivered")) << out;
  // The collector unreachable: the session waits in the spool (searched
  // below), then the next run delivers it.
  out = Agent("diagnose, collector unreachable",
              {"diagnose", "--discover=false", "--proxy=" + with_password, token_file,
               "--collector=127.0.0.1:1", "--insecure"});
  EXPECT_THAT(out, HasSubstr("telemetry not delivered")) << out;
  for (const auto& entry : std::filesystem::directory_iterator(dir() + "/spool")) {
    outputs_.emplace_back("spool " + entry.path().string(), ReadAll(entry.path()));
  }
  out =
      Agent("diagnose delivering the spool",
            join({"diagnose", "--discover=false", "--proxy=" + with_password, token_file}, upload));
  EXPECT_THAT(out, HasSubstr("spooled batch(es)")) << out;

  // The dashboard's answers, every session included.
  auto get = [&](const std::string& path) {
    auto curl = rig::RunCommand(
        {"/usr/bin/curl", "-s", "--noproxy", "*", "--max-time", "10", (*dashboard)->url() + path});
    const std::string body = curl.ok() ? curl->output : "";
    outputs_.emplace_back("dashboard GET " + path, body);
    return body;
  };
  const std::string sessions = get("/api/v1/sessions?window=15m");
  std::set<std::string> ids;
  const std::regex id_pattern("\"session_id\":\\s*\"([^\"]+)\"");
  for (std::sregex_iterator it(sessions.begin(), sessions.end(), id_pattern), end; it != end;
       ++it) {
    ids.insert((*it)[1]);
  }
  EXPECT_GE(ids.size(), 6u) << sessions;
  for (const std::string& id : ids) get("/api/v1/sessions/" + id);
  for (const char* path :
       {"/api/v1/reachability?window=15m&step=0", "/api/v1/failure-patterns?window=15m",
        "/api/v1/sites?window=15m", "/api/v1/activity?window=15m", "/metrics"}) {
    get(path);
  }
  outputs_.emplace_back("collector /metrics", collector->Scrape());

  // Stop the services so their logs and the store are complete on disk.
  (*dashboard)->Stop();
  collector->Stop();
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir())) {
    if (!entry.is_regular_file()) continue;
    const std::string path = entry.path().string();
    // Inputs that hold the secrets on purpose.
    if (absl::EndsWith(path, ".token") || path == proxy_file) continue;
    // squid's own config and password file (the proxy's, not ours).
    if (absl::StrContains(path, "/squid-3128/")) continue;
    outputs_.emplace_back(path, ReadAll(path));
    ++files;
  }
  bool saw_db = false, saw_html = false, saw_json = false, saw_log = false;
  for (const auto& [where, content] : outputs_) {
    saw_db |= absl::EndsWith(where, "collector.db") && content.size() > 0;
    saw_html |= absl::EndsWith(where, ".html");
    saw_json |= absl::EndsWith(where, ".json");
    saw_log |= absl::EndsWith(where, "collector.log");
  }
  EXPECT_TRUE(saw_db && saw_html && saw_json && saw_log);
  std::printf("searched %zu outputs (%d files) for %zu secret spellings\n", outputs_.size(), files,
              secrets_.size());
  // The search itself works: it finds the secrets where they belong.
  for (const std::string& input : {proxy_file, dir() + "/agent.token"}) {
    EXPECT_TRUE(absl::StrContains(ReadAll(input), kPassword) ||
                absl::StrContains(ReadAll(input), kToken))
        << input;
  }
  int hits = 0;
  for (const auto& [where, content] : outputs_) {
    for (const std::string& secret : secrets_) {
      if (absl::StrContains(content, secret)) {
        ++hits;
        ADD_FAILURE() << "secret \"" << secret << "\" found in " << where;
      }
    }
  }
  EXPECT_EQ(hits, 0);
}

}  // namespace
}  // namespace relayscope
