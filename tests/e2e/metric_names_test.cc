// The deployment's queries ask for metrics that exist: every metric name in
// the Grafana dashboard (deploy/grafana/relayscope.json, also checked to be
// valid JSON) and in the Prometheus rules and alerts is one the real
// collector, dashboard or relay exports after a real diagnosis was
// uploaded, or a recording rule defined in deploy/prometheus/rules.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

// The file's content; empty if it cannot be read.
std::string ReadFile(const std::string& path) { return ReadFileToString(path).value_or(""); }

// Metric names a text exposition declares; a histogram also yields its
// _bucket, _sum and _count series.
void AddExported(const std::string& exposition, std::set<std::string>* names) {
  static const std::regex type_line(R"(^# TYPE (\S+) (\S+)$)");
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    std::smatch m;
    const std::string text(line);
    if (!std::regex_match(text, m, type_line)) continue;
    names->insert(m[1]);
    if (m[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names->insert(m[1].str() + suffix);
    }
  }
}

// Every relayscope metric or recording-rule name mentioned in `text`.
std::set<std::string> MentionedNames(const std::string& text) {
  static const std::regex name(R"(relayscope[_:][a-z0-9_:]*[a-z0-9])");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    names.insert(it->str());
  }
  return names;
}

// The "expr" and "query" strings anywhere in a Grafana dashboard.
void CollectQueries(const google::protobuf::Value& value, std::string* out) {
  if (value.has_struct_value()) {
    for (const auto& [key, field] : value.struct_value().fields()) {
      if ((key == "expr" || key == "query" || key == "definition") && field.has_string_value()) {
        absl::StrAppend(out, field.string_value(), "\n");
      }
      CollectQueries(field, out);
    }
  } else if (value.has_list_value()) {
    for (const auto& item : value.list_value().values()) CollectQueries(item, out);
  }
}

class MetricNames : public rig::RigTest {};

TEST_F(MetricNames, DashboardRulesAndAlertsUseOnlyExportedMetricsAndDefinedRules) {
  e2e::Stack stack(dir(), {.relay = RELAY_BINARY,
                           .collector = COLLECTOR_BINARY,
                           .dashboard = DASHBOARD_BINARY,
                           .agent = AGENT_BINARY});
  // With a download service, whose checks have their own families.
  ASSERT_TRUE(stack
                  .WriteCatalogue(e2e::CatalogueText("127.0.72.1") +
                                  "\ndownloads { id: \"plugin\" region: \"emea\" host: "
                                  "\"dl.example\" addresses: \"127.0.72.9\" ports: 443 }\n")
                  .ok());
  auto relay = stack.StartRelay("127.0.72.1:8200", {"--metrics=127.0.0.1:9464"});
  ASSERT_TRUE(relay.ok()) << relay.status();
  ASSERT_TRUE(stack.WriteTokens("tokens", {{"agents", "metric-names-token"}}).ok());
  ASSERT_TRUE(stack.WriteSecret("token", "metric-names-token").ok());
  auto started = stack.StartCollector(
      {.tokens = stack.path("tokens"), .extra_args = {"--allow-unauthenticated"}});
  ASSERT_TRUE(started.ok()) << started.status() << ReadFile(stack.path("collector.log"));
  e2e::Collector& collector = **started;
  auto dashboard = stack.StartDashboard({});
  ASSERT_TRUE(dashboard.ok()) << dashboard.status();

  // A real diagnosis (one port works, one is refused) fills every family.
  auto agent = rig::RunCommand(stack.AgentDiagnoseArgv(collector), absl::Seconds(30));
  ASSERT_TRUE(agent.ok());
  ASSERT_THAT(agent->output, ::testing::HasSubstr("attempts delivered")) << agent->output;
  {  // one attempt the collector rejects (a port out of range), and a
     // download check (an agent without download checks sends none)
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(collector.address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer metric-names-token");
    auto stream = stub->Upload(&context);
    v1::UploadRequest batch = e2e::MakeBatch("client", "s", 1, 1, 3);
    batch.mutable_session()->mutable_attempts(1)->set_port(70000);
    v1::Attempt* download = batch.mutable_session()->mutable_attempts(2);
    download->set_target(v1::TARGET_DOWNLOAD);
    download->set_relay("plugin");
    download->set_port(443);
    download->set_outcome(v1::OUTCOME_TLS_INTERCEPTED);
    v1::UploadResponse ack;
    ASSERT_TRUE(stream->Write(batch) && stream->Read(&ack));
    EXPECT_EQ(ack.rejected_size(), 1);
    EXPECT_EQ(ack.accepted(), 2u);
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  ASSERT_EQ(rig::RunCommand({"/usr/bin/curl", "-s", "--noproxy", "*",
                             (*dashboard)->url() + "/api/v1/sites?window=1h"})
                ->exit_code,
            0);

  std::set<std::string> exported;
  AddExported(collector.Scrape(), &exported);
  for (const std::string& url :
       {(*dashboard)->url() + "/metrics", std::string("http://127.0.0.1:9464/metrics")}) {
    auto scrape = rig::RunCommand({"/usr/bin/curl", "-s", "--noproxy", "*", url});
    ASSERT_TRUE(scrape.ok());
    AddExported(scrape->output, &exported);
  }
  for (const char* must :
       {"relayscope_attempts_total", "relayscope_relay_sites", "relayscope_port_sites",
        "relayscope_connect_duration_seconds_bucket", "relayscope_dashboard_requests_total",
        "relayscope_relay_handshakes_total", "relayscope_download_attempts_total",
        "relayscope_download_sites"}) {
    EXPECT_TRUE(exported.count(must)) << must << " is not exported";
  }

  const std::string rules_dir = std::string(SOURCE_DIR) + "/deploy/prometheus/rules";
  std::set<std::string> recorded;
  static const std::regex record(R"(record:\s*(\S+))");
  const std::string rules = ReadFile(rules_dir + "/relayscope.rules.yml");
  for (auto it = std::sregex_iterator(rules.begin(), rules.end(), record);
       it != std::sregex_iterator(); ++it) {
    recorded.insert((*it)[1]);
  }
  EXPECT_GE(recorded.size(), 5u);

  google::protobuf::Value grafana;
  const std::string json = ReadFile(std::string(SOURCE_DIR) + "/deploy/grafana/relayscope.json");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &grafana).ok())
      << "deploy/grafana/relayscope.json is not valid JSON";
  std::string queries;
  CollectQueries(grafana, &queries);
  ASSERT_GT(MentionedNames(queries).size(), 10u) << queries;

  const std::vector<std::pair<std::string, std::string>> sources = {
      {"deploy/grafana/relayscope.json", queries},
      {"deploy/prometheus/rules/relayscope.rules.yml", rules},
      {"deploy/prometheus/rules/relayscope.alerts.yml",
       ReadFile(rules_dir + "/relayscope.alerts.yml")}};
  for (const auto& [file, text] : sources) {
    for (const std::string& name : MentionedNames(text)) {
      EXPECT_TRUE(exported.count(name) || recorded.count(name))
          << file << " uses " << name << ", which nothing exports or records";
    }
  }
}

}  // namespace
}  // namespace relayscope
