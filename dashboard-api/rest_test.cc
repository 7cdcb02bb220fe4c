// The REST layer over a real FleetQuery service (in-process gRPC, SQLite in
// memory): parameter parsing, JSON shape and the error mapping.
#include "dashboard-api/rest.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "collector/query/fleet_query_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::dashboard {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1764000000) + absl::Minutes(30);

class RestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = collector::OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    collector::IngestBatch batch;
    batch.agent.set_agent_id("agent-7");
    batch.agent.set_site("acme");
    batch.session_id = "s-7";
    for (int i = 0; i < 3; ++i) {
      test::AttemptBuilder a;
      a.Session("s-7")
          .Sequence(static_cast<uint64_t>(i) + 1)
          .StartedAt(kNow - absl::Minutes(10))
          .To("emea", "emea-1", i == 0 ? 80 : 443);
      if (i == 0) {
        a.Outcome(v1::OUTCOME_PROTOCOL_INTERFERENCE).PageTitle("<script>alert(1)</script>");
      }
      batch.attempts.push_back(a.Build());
    }
    // And one download check of the "plugin" service, re-signed by a proxy.
    test::AttemptBuilder download;
    download.Session("s-7")
        .Sequence(4)
        .StartedAt(kNow - absl::Minutes(10))
        .To("emea", "plugin", 443)
        .Route(v1::ROUTE_KIND_HTTP_CONNECT)
        .Outcome(v1::OUTCOME_TLS_INTERCEPTED);
    batch.attempts.push_back(download.Build());
    batch.attempts.back().set_target(v1::TARGET_DOWNLOAD);
    ASSERT_TRUE(store_->Commit(std::move(batch)).ok());
    engine_ = std::make_unique<collector::QueryEngine>(store_.get(), collector::QueryLimits{},
                                                       std::set<std::string>{"plugin"});
    service_ = std::make_unique<collector::FleetQueryService>(engine_.get(), &tokens_);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    api_ = std::make_unique<RestApi>(
        v1::FleetQuery::NewStub(server_->InProcessChannel(grpc::ChannelArguments())), Options());
  }
  void TearDown() override { server_->Shutdown(); }

  static RestApi::Options Options() {
    RestApi::Options options;
    options.now = [] { return kNow; };
    return options;
  }

  collector::TokenAuthenticator tokens_ = collector::TokenAuthenticator::AllowAll();
  std::unique_ptr<collector::Store> store_;
  std::unique_ptr<collector::QueryEngine> engine_;
  std::unique_ptr<collector::FleetQueryService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<RestApi> api_;
};

TEST(ParseQueryStringTest, DecodesFormEncoding) {
  auto params = ParseQueryString("a=1&b=x%20y+z&c&&d=%3Cb%3E");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (Params{{"a", "1"}, {"b", "x y z"}, {"c", ""}, {"d", "<b>"}}));
}

TEST(ParseQueryStringTest, RefusesBadEscapesNamelessAndHugeInput) {
  EXPECT_THAT(ParseQueryString("a=%zz").status().message(), HasSubstr("bad percent escape"));
  EXPECT_THAT(ParseQueryString("a=%4").status().message(), HasSubstr("truncated"));
  EXPECT_THAT(ParseQueryString("=1").status().message(), HasSubstr("no name"));
  EXPECT_THAT(ParseQueryString(std::string(9000, 'a')).status().message(), HasSubstr("longer"));
}

TEST_F(RestTest, ReachabilityAsJsonWithProtoFieldNames) {
  HttpResponse r = api_->Get("/api/v1/reachability", "window=1h&step=0&group_by=region,port");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_THAT(r.body, HasSubstr("\"region\":\"emea\""));
  EXPECT_THAT(r.body, HasSubstr("\"port\":443"));
  EXPECT_THAT(r.body, HasSubstr("\"success_ratio\":1"));
  EXPECT_THAT(r.body, HasSubstr("\"attempts\":\"2\""));  // uint64: a JSON string
}

TEST_F(RestTest, ReachabilityServesDownloadChecksApartFromRelays) {
  HttpResponse r = api_->Get("/api/v1/reachability", "window=1h&step=0&group_by=relay");
  ASSERT_EQ(r.status, 200) << r.body;
  google::protobuf::Struct body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &body).ok()) << r.body;
  const auto& series = body.fields().at("series").list_value().values();
  ASSERT_EQ(series.size(), 1) << r.body;  // emea-1 only
  EXPECT_EQ(series[0].struct_value().fields().at("relay").string_value(), "emea-1");
  const auto& downloads = body.fields().at("downloads").list_value().values();
  ASSERT_EQ(downloads.size(), 1) << r.body;
  const auto& row = downloads[0].struct_value().fields();
  EXPECT_EQ(row.at("service").string_value(), "plugin");
  EXPECT_EQ(row.at("port").number_value(), 443);
  EXPECT_EQ(row.at("route_kind").string_value(), "ROUTE_KIND_HTTP_CONNECT");
  EXPECT_EQ(row.at("attempts").string_value(), "1");
  EXPECT_EQ(row.at("ok").string_value(), "0");  // printed although zero
  const auto& outcome = row.at("outcomes").list_value().values(0).struct_value().fields();
  EXPECT_EQ(outcome.at("outcome").string_value(), "OUTCOME_TLS_INTERCEPTED");
  // The relay filter narrows both.
  r = api_->Get("/api/v1/reachability", "window=1h&step=0&relay=plugin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"series\":[]"));
  EXPECT_THAT(r.body, HasSubstr("\"service\":\"plugin\""));
}

TEST_F(RestTest, FailurePatternsNameDownloadChecks) {
  HttpResponse r = api_->Get("/api/v1/failure-patterns", "window=1h&relay=plugin");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"target\":\"TARGET_DOWNLOAD\""));
  EXPECT_THAT(r.body, HasSubstr("OUTCOME_TLS_INTERCEPTED"));
  r = api_->Get("/api/v1/failure-patterns", "window=1h&relay=emea-1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"target\":\"TARGET_RELAY\""));
  EXPECT_THAT(r.body, Not(HasSubstr("TARGET_DOWNLOAD")));
}

TEST_F(RestTest, FailurePatternsCarryEvidenceAsJsonText) {
  HttpResponse r = api_->Get("/api/v1/failure-patterns", "window=1h&site=acme&route=direct");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("OUTCOME_PROTOCOL_INTERFERENCE"));
  EXPECT_THAT(r.body, HasSubstr("alert(1)"));
  EXPECT_THAT(r.body, HasSubstr("\"example_session_id\":\"s-7\""));
}

TEST_F(RestTest, SessionsListAndOneSession) {
  HttpResponse list = api_->Get("/api/v1/sessions", "window=1h");
  ASSERT_EQ(list.status, 200) << list.body;
  // Sessions are listed by when the collector received them (now, not kNow).
  const std::string start =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() - absl::Hours(1), absl::UTCTimeZone());
  const std::string end =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Hours(1), absl::UTCTimeZone());
  HttpResponse recent = api_->Get("/api/v1/sessions", "start=" + start + "&end=" + end);
  ASSERT_EQ(recent.status, 200) << recent.body;
  EXPECT_THAT(recent.body, HasSubstr("\"session_id\":\"s-7\""));
  HttpResponse one = api_->Get("/api/v1/sessions/agent-7/s-7", "");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_THAT(one.body, HasSubstr("\"sequence\":\"3\""));
  HttpResponse missing = api_->Get("/api/v1/sessions/agent-7/nope", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("NOT_FOUND"));
}

TEST_F(RestTest, MalformedParametersAre400NamingTheParameter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"window=soon", "window"},
      {"window=-5m", "window"},
      {"window=1h&start=2026-01-01T00:00:00Z", "either window or start/end"},
      {"start=yesterday", "start"},
      {"end=2026-01-01T00:00:00Z", "start: required with end"},
      {"step=30s", "step"},
      {"group_by=colour", "group_by"},
      {"port=http", "port"},
      {"port=70000", "port"},
      {"route=carrier_pigeon", "route"},
      {"verbose=1", "unknown parameter 'verbose'"},
      {"window=1h&window=2h", "window: give it once"},
      {"start=2026-01-01T00:00:00Z&end=2025-01-01T00:00:00Z", "range.end must be after"},
      {"window=200d", "longer than the limit"},
      // Found by fuzzing (tests/fuzz/corpus/rest_query/crash-*): these
      // aborted the dashboard inside protobuf's TimeUtil.
      {"start=infinite-future", "within the years 1 to 9999"},
      {"start=infinite-past&end=2026-01-01T00:00:00Z", "within the years 1 to 9999"},
      {"window=2562047788015215h", "within the years 1 to 9999"},
  };
  for (const auto& [query, message] : cases) {
    HttpResponse r = api_->Get("/api/v1/reachability", query);
    EXPECT_EQ(r.status, 400) << query << " -> " << r.body;
    EXPECT_THAT(r.body, HasSubstr(message)) << query;
    EXPECT_THAT(r.body, HasSubstr("\"status\":\"INVALID_ARGUMENT\"")) << query;
  }
  HttpResponse page = api_->Get("/api/v1/failure-patterns", "page_size=0");
  EXPECT_EQ(page.status, 400);
  EXPECT_THAT(page.body, HasSubstr("page_size"));
  HttpResponse token = api_->Get("/api/v1/sites", "page_token=garbage!");
  EXPECT_EQ(token.status, 400);
  EXPECT_THAT(token.body, HasSubstr("page_token"));
}

TEST_F(RestTest, NonUtf8ParametersAre400AndNonUtf8PathsA404ThatStaysJson) {
  // Bytes that are not UTF-8 cannot go into the request's string fields
  // (they came back as 502), nor be quoted in a JSON error.
  HttpResponse site = api_->Get("/api/v1/sessions", "site=%F8%F8");
  EXPECT_EQ(site.status, 400) << site.body;
  EXPECT_THAT(site.body, HasSubstr("not UTF-8"));
  HttpResponse session = api_->Get("/api/v1/sessions/agent-7/\xf8\xf8s-7", "");
  EXPECT_EQ(session.status, 404) << session.body;
  EXPECT_THAT(session.body, HasSubstr("not UTF-8"));
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(session.body, &parsed).ok())
      << session.body;
  EXPECT_EQ(api_->Get("/api/v1/sessions", "site=caf%C3%A9").status, 200);
}

TEST_F(RestTest, UnknownPathsAre404) {
  EXPECT_EQ(api_->Get("/api/v1/nothing", "").status, 404);
  EXPECT_EQ(api_->Get("/api/v2/reachability", "").status, 404);
  EXPECT_EQ(api_->Get("/api/v1/sessions/only-agent", "").status, 404);
  EXPECT_EQ(api_->Get("/api/v1/sessions/a/b/c", "").status, 404);
}

TEST(RestUnavailableTest, CollectorDownIs503WithAMessage) {
  // Nothing listens on port 1 of loopback: the call fails fast.
  auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  RestApi::Options options;
  options.deadline = absl::Seconds(2);
  RestApi api(v1::FleetQuery::NewStub(channel), options);
  HttpResponse r = api.Get("/api/v1/sites", "window=1h");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_THAT(r.body, HasSubstr("collector unavailable"));
  EXPECT_THAT(r.body, Not(HasSubstr("\"sites\"")));
}

TEST_F(RestTest, CollectorRefusingTheTokenIs502) {
  tokens_ = collector::TokenAuthenticator::DenyAll();
  HttpResponse r = api_->Get("/api/v1/sites", "window=1h");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_THAT(r.body, HasSubstr("credentials"));
}

}  // namespace
}  // namespace relayscope::dashboard
