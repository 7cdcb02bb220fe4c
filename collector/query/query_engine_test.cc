#include "collector/query/query_engine.h"

#include <map>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);  // a minute boundary

struct Spec {
  absl::Time start;
  std::string region;
  std::string relay;
  uint32_t port;
  v1::RouteKind route;
  v1::Outcome outcome;
  uint32_t proxy_status = 0;
  std::string title;  // interceptor page title, if any
};

IngestBatch MakeBatch(const std::string& agent, const std::string& site, const std::string& session,
                      const std::vector<Spec>& specs) {
  IngestBatch batch;
  batch.agent.set_agent_id(agent);
  batch.agent.set_site(site);
  batch.session_id = session;
  batch.session.set_session_id(session);
  batch.session.mutable_start_time()->set_seconds(absl::ToUnixSeconds(specs.front().start));
  batch.session.mutable_verdict()->set_status(v1::VERDICT_STATUS_DEGRADED);
  batch.session.mutable_verdict()->set_summary("summary of " + session);
  uint64_t sequence = 0;
  for (const Spec& spec : specs) {
    test::AttemptBuilder a;
    a.Session(session)
        .Sequence(++sequence)
        .StartedAt(spec.start)
        .To(spec.region, spec.relay, spec.port)
        .Route(spec.route)
        .Outcome(spec.outcome)
        .ProxyStatus(spec.proxy_status)
        // 3 ms: the (2, 5] ms bucket
        .Phase(v1::PHASE_TCP_CONNECT, absl::Milliseconds(3), /*completed=*/true);
    if (!spec.title.empty()) a.PageTitle(spec.title);
    batch.attempts.push_back(a.Build());
  }
  return batch;
}

void SetRange(absl::Time start, absl::Time end, v1::TimeRange* range) {
  range->mutable_start()->set_seconds(absl::ToUnixSeconds(start));
  range->mutable_end()->set_seconds(absl::ToUnixSeconds(end));
}

// Three sessions: two agents at site "acme" that see port 80 intercepted
// and apac-1:8443 time out; one at "globex" behind a proxy asking for
// credentials.
class QueryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    const auto direct = v1::ROUTE_KIND_DIRECT;
    Commit(MakeBatch(
        "a1", "acme", "s1",
        {{kT0, "emea", "emea-1", 443, direct, v1::OUTCOME_OK, 0, ""},
         {kT0, "emea", "emea-1", 80, direct, v1::OUTCOME_PROTOCOL_INTERFERENCE, 0, "old title"},
         {kT0, "apac", "apac-1", 8443, direct, v1::OUTCOME_CONNECT_TIMEOUT, 0, ""}}));
    const absl::Time t2 = kT0 + absl::Minutes(2);
    Commit(MakeBatch("a2", "acme", "s2",
                     {{t2, "emea", "emea-1", 443, direct, v1::OUTCOME_OK, 0, ""},
                      {t2, "emea", "emea-1", 80, direct, v1::OUTCOME_PROTOCOL_INTERFERENCE, 0,
                       "<script>alert(1)</script>"},
                      {t2, "apac", "apac-1", 8443, direct, v1::OUTCOME_CONNECT_TIMEOUT, 0, ""}}));
    const absl::Time t5 = kT0 + absl::Minutes(5);
    Commit(MakeBatch("a3", "globex", "s3",
                     {{t5, "emea", "emea-1", 443, direct, v1::OUTCOME_OK, 0, ""},
                      {t5, "emea", "emea-1", 443, v1::ROUTE_KIND_HTTP_CONNECT,
                       v1::OUTCOME_PROXY_AUTH_REQUIRED, 407, ""},
                      {t5, "apac", "apac-1", 8443, direct, v1::OUTCOME_CONNECT_TIMEOUT, 0, ""}}));
  }

  void Commit(IngestBatch batch) {
    auto result = store_->Commit(std::move(batch));
    ASSERT_TRUE(result.ok()) << result.status();
    // Sessions are listed by commit time: keep them apart.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  std::unique_ptr<Store> store_;
  QueryEngine engine() { return QueryEngine(store_.get()); }
};

TEST_F(QueryEngineTest, ReachabilityByRegionOverTheWholeRange) {
  v1::ReachabilityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.add_group_by(v1::DIMENSION_REGION);
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->series_size(), 2);
  const v1::ReachabilitySeries& apac = response->series(0);
  const v1::ReachabilitySeries& emea = response->series(1);
  EXPECT_EQ(apac.region(), "apac");
  EXPECT_EQ(apac.relay(), "");  // not grouped by relay
  EXPECT_EQ(apac.total().attempts(), 3u);
  EXPECT_EQ(apac.total().ok(), 0u);
  EXPECT_DOUBLE_EQ(apac.total().success_ratio(), 0.0);
  EXPECT_EQ(emea.region(), "emea");
  EXPECT_EQ(emea.total().attempts(), 6u);
  EXPECT_EQ(emea.total().ok(), 3u);
  EXPECT_DOUBLE_EQ(emea.total().success_ratio(), 0.5);
  ASSERT_EQ(emea.points_size(), 1);  // step 0: one point
  // Every attempt connected in 3 ms: the median interpolates inside (2, 5].
  const int64_t p50_us = emea.total().connect_p50().nanos() / 1000;
  EXPECT_GT(p50_us, 2000);
  EXPECT_LE(p50_us, 5000);
}

TEST_F(QueryEngineTest, ReachabilityStepsFiltersAndGroupsByPort) {
  v1::ReachabilityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.mutable_step()->set_seconds(300);
  request.add_group_by(v1::DIMENSION_PORT);
  request.mutable_filter()->add_regions("emea");
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->series_size(), 2);
  const v1::ReachabilitySeries& p80 = response->series(0);
  const v1::ReachabilitySeries& p443 = response->series(1);
  EXPECT_EQ(p80.port(), 80u);
  EXPECT_EQ(p80.total().attempts(), 2u);
  EXPECT_EQ(p80.total().ok(), 0u);
  EXPECT_EQ(p443.port(), 443u);
  EXPECT_EQ(p443.total().attempts(), 4u);
  EXPECT_EQ(p443.total().ok(), 3u);
  EXPECT_DOUBLE_EQ(p443.total().success_ratio(), 0.75);
  ASSERT_EQ(p443.points_size(), 2);
  EXPECT_EQ(p443.points(0).time().seconds(), absl::ToUnixSeconds(kT0));
  EXPECT_EQ(p443.points(0).attempts(), 2u);  // s1 and s2
  EXPECT_EQ(p443.points(1).time().seconds(), absl::ToUnixSeconds(kT0 + absl::Minutes(5)));
  EXPECT_EQ(p443.points(1).attempts(), 2u);  // s3: direct ok + 407
  EXPECT_EQ(p443.points(1).ok(), 1u);

  request.clear_group_by();
  request.mutable_filter()->add_route_kinds(v1::ROUTE_KIND_HTTP_CONNECT);
  response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->series_size(), 1);
  EXPECT_EQ(response->series(0).total().attempts(), 1u);
  EXPECT_EQ(response->series(0).total().ok(), 0u);
}

TEST_F(QueryEngineTest, ReachabilityByOutcomeCountsEachOutcome) {
  v1::ReachabilityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.add_group_by(v1::DIMENSION_OUTCOME);
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  std::map<v1::Outcome, uint64_t> by_outcome;
  for (const auto& series : response->series())
    by_outcome[series.outcome()] = series.total().attempts();
  EXPECT_EQ(by_outcome, (std::map<v1::Outcome, uint64_t>{{v1::OUTCOME_OK, 3},
                                                         {v1::OUTCOME_CONNECT_TIMEOUT, 3},
                                                         {v1::OUTCOME_PROXY_AUTH_REQUIRED, 1},
                                                         {v1::OUTCOME_PROTOCOL_INTERFERENCE, 2}}));
}

TEST_F(QueryEngineTest, ReachabilityOfAnEmptyRangeHasNoSeries) {
  v1::ReachabilityRequest request;
  SetRange(kT0 + absl::Hours(1), kT0 + absl::Hours(2), request.mutable_range());
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->series_size(), 0);
}

TEST_F(QueryEngineTest, FailurePatternsMostFrequentFirstWithLatestEvidence) {
  v1::ListFailurePatternsRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  auto response = engine().ListFailurePatterns(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->patterns_size(), 3);
  const v1::FailurePattern& timeout = response->patterns(0);
  EXPECT_EQ(timeout.outcome(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(timeout.relay(), "apac-1");
  EXPECT_EQ(timeout.port(), 8443u);
  EXPECT_EQ(timeout.count(), 3u);
  EXPECT_EQ(timeout.sites(), 2u);
  EXPECT_EQ(timeout.agents(), 3u);
  EXPECT_EQ(timeout.first_seen().seconds(), absl::ToUnixSeconds(kT0));
  EXPECT_EQ(timeout.last_seen().seconds(), absl::ToUnixSeconds(kT0 + absl::Minutes(5)));
  EXPECT_EQ(timeout.example_agent_id(), "a3");
  EXPECT_EQ(timeout.example_session_id(), "s3");

  const v1::FailurePattern& interference = response->patterns(1);
  EXPECT_EQ(interference.outcome(), v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(interference.port(), 80u);
  EXPECT_EQ(interference.count(), 2u);
  EXPECT_EQ(interference.sites(), 1u);
  EXPECT_EQ(interference.agents(), 2u);
  EXPECT_EQ(interference.example().page_title(), "<script>alert(1)</script>");  // the latest

  const v1::FailurePattern& auth = response->patterns(2);
  EXPECT_EQ(auth.outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_EQ(auth.route_kind(), v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(auth.proxy_status(), 407u);
  EXPECT_EQ(auth.count(), 1u);
  EXPECT_TRUE(response->next_page_token().empty());
}

TEST_F(QueryEngineTest, FailurePatternsOfOneSite) {
  v1::ListFailurePatternsRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.mutable_filter()->set_site("globex");
  auto response = engine().ListFailurePatterns(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->patterns_size(), 2);
  EXPECT_EQ(response->patterns(0).count(), 1u);
  EXPECT_EQ(response->patterns(1).count(), 1u);
}

TEST_F(QueryEngineTest, FailurePatternsPageWithTokensTiedToTheQuery) {
  v1::ListFailurePatternsRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.set_page_size(2);
  auto first = engine().ListFailurePatterns(request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->patterns_size(), 2);
  ASSERT_FALSE(first->next_page_token().empty());

  request.set_page_token(first->next_page_token());
  auto second = engine().ListFailurePatterns(request);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->patterns_size(), 1);
  EXPECT_EQ(second->patterns(0).outcome(), v1::OUTCOME_PROXY_AUTH_REQUIRED);
  EXPECT_TRUE(second->next_page_token().empty());

  // The same token with another range is refused, not misapplied.
  SetRange(kT0, kT0 + absl::Minutes(9), request.mutable_range());
  auto replayed = engine().ListFailurePatterns(request);
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(replayed.status().message(), HasSubstr("different query"));

  request.set_page_token("not a token!");
  auto malformed = engine().ListFailurePatterns(request);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.status().message(), HasSubstr("page_token"));
}

TEST_F(QueryEngineTest, SitesMostAffectedFirst) {
  v1::ListSitesRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  auto response = engine().ListSites(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->sites_size(), 2);
  const v1::SiteSummary& acme = response->sites(0);
  EXPECT_EQ(acme.site(), "acme");
  EXPECT_EQ(acme.agents(), 2u);
  EXPECT_EQ(acme.sessions(), 2u);
  EXPECT_EQ(acme.attempts(), 6u);
  EXPECT_EQ(acme.failures(), 4u);
  EXPECT_DOUBLE_EQ(acme.success_ratio(), 2.0 / 6.0);
  // Two timeouts and two interceptions: ties go to the lower outcome.
  EXPECT_EQ(acme.top_failure(), v1::OUTCOME_CONNECT_TIMEOUT);
  EXPECT_EQ(acme.last_seen().seconds(), absl::ToUnixSeconds(kT0 + absl::Minutes(2)));
  const v1::SiteSummary& globex = response->sites(1);
  EXPECT_EQ(globex.site(), "globex");
  EXPECT_EQ(globex.attempts(), 3u);
  EXPECT_EQ(globex.failures(), 2u);
}

TEST_F(QueryEngineTest, SessionsNewestFirstAndOneSessionInOrder) {
  v1::ListSessionsRequest list;
  SetRange(absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1), list.mutable_range());
  list.set_page_size(2);
  auto page = engine().ListSessions(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions_size(), 2);
  EXPECT_EQ(page->sessions(0).session_id(), "s3");
  EXPECT_EQ(page->sessions(0).site(), "globex");
  EXPECT_EQ(page->sessions(0).attempts(), 3u);
  EXPECT_EQ(page->sessions(0).failures(), 2u);
  EXPECT_EQ(page->sessions(0).verdict(), v1::VERDICT_STATUS_DEGRADED);
  EXPECT_EQ(page->sessions(0).summary(), "summary of s3");
  EXPECT_EQ(page->sessions(1).session_id(), "s2");
  ASSERT_FALSE(page->next_page_token().empty());
  list.set_page_token(page->next_page_token());
  auto rest = engine().ListSessions(list);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->sessions_size(), 1);
  EXPECT_EQ(rest->sessions(0).session_id(), "s1");
  EXPECT_TRUE(rest->next_page_token().empty());

  list.clear_page_token();
  list.set_site("acme");
  auto acme = engine().ListSessions(list);
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_EQ(acme->sessions_size(), 2);

  v1::GetSessionRequest get;
  get.set_agent_id("a1");
  get.set_session_id("s1");
  auto session = engine().GetSession(get);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_EQ(session->session().attempts_size(), 3);
  EXPECT_EQ(session->session().attempts(0).sequence(), 1u);
  EXPECT_EQ(session->session().attempts(2).relay(), "apac-1");

  get.set_session_id("nope");
  EXPECT_EQ(engine().GetSession(get).status().code(), absl::StatusCode::kNotFound);
  get.clear_agent_id();
  auto missing = engine().GetSession(get);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("agent_id"));
}

TEST_F(QueryEngineTest, ActivityPerStepIncludingEmptySteps) {
  v1::GetActivityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(15), request.mutable_range());
  request.mutable_step()->set_seconds(300);
  auto response = engine().GetActivity(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->points_size(), 3);
  EXPECT_EQ(response->points(0).agents(), 2u);
  EXPECT_EQ(response->points(0).sites(), 1u);
  EXPECT_EQ(response->points(0).sessions(), 2u);
  EXPECT_EQ(response->points(0).attempts(), 6u);
  EXPECT_EQ(response->points(1).agents(), 1u);
  EXPECT_EQ(response->points(1).attempts(), 3u);
  EXPECT_EQ(response->points(2).time().seconds(), absl::ToUnixSeconds(kT0 + absl::Minutes(10)));
  EXPECT_EQ(response->points(2).attempts(), 0u);
}

TEST_F(QueryEngineTest, BadRangesStepsAndFiltersNameTheField) {
  struct Case {
    std::function<void(v1::ReachabilityRequest&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](v1::ReachabilityRequest& r) { r.clear_range(); }, "range.start is required"},
      {[](v1::ReachabilityRequest& r) { r.mutable_range()->clear_end(); }, "range.end is required"},
      {[](v1::ReachabilityRequest& r) { SetRange(kT0, kT0, r.mutable_range()); },
       "range.end must be after range.start"},
      {[](v1::ReachabilityRequest& r) {
         SetRange(kT0 - absl::Hours(24 * 91), kT0, r.mutable_range());
       },
       "longer than the limit"},
      {[](v1::ReachabilityRequest& r) { r.mutable_range()->mutable_start()->set_nanos(-1); },
       "range.start is not a valid timestamp"},
      {[](v1::ReachabilityRequest& r) { r.mutable_step()->set_seconds(30); },
       "whole number of minutes"},
      {[](v1::ReachabilityRequest& r) { r.mutable_step()->set_seconds(-60); }, "negative"},
      {[](v1::ReachabilityRequest& r) {
         SetRange(kT0 - absl::Hours(24), kT0, r.mutable_range());
         r.mutable_step()->set_seconds(60);
       },
       "at most 1000"},
      {[](v1::ReachabilityRequest& r) { r.mutable_filter()->set_site("acme"); }, "filter.site"},
      {[](v1::ReachabilityRequest& r) { r.mutable_filter()->add_ports(70000); }, "filter.ports"},
      {[](v1::ReachabilityRequest& r) {
         r.mutable_filter()->add_route_kinds(static_cast<v1::RouteKind>(99));
       },
       "filter.route_kinds"},
      {[](v1::ReachabilityRequest& r) { r.add_group_by(static_cast<v1::Dimension>(42)); },
       "group_by"},
  };
  for (const Case& c : cases) {
    v1::ReachabilityRequest request;
    SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
    c.edit(request);
    auto response = engine().GetReachability(request);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(response.status().message(), HasSubstr(c.message));
  }
}

// The same fleet, plus download checks of the catalogue's "plugin"
// service in emea: direct works on 443, the proxy re-signs TLS, 8443 is
// filtered by SNI.
class QueryEngineDownloadsTest : public QueryEngineTest {
 protected:
  void SetUp() override {
    QueryEngineTest::SetUp();
    const absl::Time t3 = kT0 + absl::Minutes(3);
    const auto direct = v1::ROUTE_KIND_DIRECT;
    const auto proxy = v1::ROUTE_KIND_HTTP_CONNECT;
    IngestBatch batch =
        MakeBatch("a4", "acme", "s4",
                  {{t3, "emea", "plugin", 443, direct, v1::OUTCOME_OK, 0, ""},
                   {t3, "emea", "plugin", 443, proxy, v1::OUTCOME_TLS_INTERCEPTED, 0, ""},
                   {t3, "emea", "plugin", 443, proxy, v1::OUTCOME_TLS_INTERCEPTED, 0, ""},
                   {t3, "emea", "plugin", 443, proxy, v1::OUTCOME_OK, 0, ""},
                   {t3, "emea", "plugin", 8443, direct, v1::OUTCOME_SNI_FILTERED, 0, ""}});
    for (v1::Attempt& a : batch.attempts) a.set_target(v1::TARGET_DOWNLOAD);
    Commit(std::move(batch));
  }
  QueryEngine engine() { return QueryEngine(store_.get(), {}, {"plugin"}); }
};

TEST_F(QueryEngineDownloadsTest, RelaySeriesLeaveDownloadChecksOut) {
  v1::ReachabilityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.add_group_by(v1::DIMENSION_REGION);
  request.add_group_by(v1::DIMENSION_RELAY);
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->series_size(), 2);  // apac-1 and emea-1, no "plugin"
  EXPECT_EQ(response->series(1).relay(), "emea-1");
  EXPECT_EQ(response->series(1).total().attempts(), 6u);  // as without downloads
  EXPECT_EQ(response->series(1).total().ok(), 3u);
  // By outcome too: the download-only outcomes never show among relays.
  request.clear_group_by();
  request.add_group_by(v1::DIMENSION_OUTCOME);
  response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  for (const v1::ReachabilitySeries& s : response->series()) {
    EXPECT_NE(s.outcome(), v1::OUTCOME_TLS_INTERCEPTED);
    EXPECT_NE(s.outcome(), v1::OUTCOME_SNI_FILTERED);
  }
  // Without the catalogue's download ids the same rows read as a relay:
  // what the engine's download set prevents.
  response = QueryEngine(store_.get()).GetReachability(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->downloads_size(), 0);
  bool intercepted_as_relay = false;
  for (const v1::ReachabilitySeries& s : response->series()) {
    intercepted_as_relay |= s.outcome() == v1::OUTCOME_TLS_INTERCEPTED;
  }
  EXPECT_TRUE(intercepted_as_relay);
}

TEST_F(QueryEngineDownloadsTest, DownloadRowsPerServicePortAndRouteWithOutcomes) {
  v1::ReachabilityRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  request.add_group_by(v1::DIMENSION_REGION);  // does not change the rows
  auto response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->downloads_size(), 3);
  const v1::DownloadReachability& direct = response->downloads(0);
  EXPECT_EQ(direct.service(), "plugin");
  EXPECT_EQ(direct.region(), "emea");
  EXPECT_EQ(direct.port(), 443u);
  EXPECT_EQ(direct.route_kind(), v1::ROUTE_KIND_DIRECT);
  EXPECT_EQ(direct.attempts(), 1u);
  EXPECT_EQ(direct.ok(), 1u);
  EXPECT_DOUBLE_EQ(direct.success_ratio(), 1.0);
  const v1::DownloadReachability& proxied = response->downloads(1);
  EXPECT_EQ(proxied.port(), 443u);
  EXPECT_EQ(proxied.route_kind(), v1::ROUTE_KIND_HTTP_CONNECT);
  EXPECT_EQ(proxied.attempts(), 3u);
  EXPECT_EQ(proxied.ok(), 1u);
  ASSERT_EQ(proxied.outcomes_size(), 2);  // most frequent first
  EXPECT_EQ(proxied.outcomes(0).outcome(), v1::OUTCOME_TLS_INTERCEPTED);
  EXPECT_EQ(proxied.outcomes(0).attempts(), 2u);
  EXPECT_EQ(proxied.outcomes(1).outcome(), v1::OUTCOME_OK);
  const v1::DownloadReachability& filtered = response->downloads(2);
  EXPECT_EQ(filtered.port(), 8443u);
  EXPECT_EQ(filtered.ok(), 0u);
  EXPECT_DOUBLE_EQ(filtered.success_ratio(), 0.0);
  ASSERT_EQ(filtered.outcomes_size(), 1);
  EXPECT_EQ(filtered.outcomes(0).outcome(), v1::OUTCOME_SNI_FILTERED);

  // The filter applies to them: a route, and a relay list that names no
  // service leaves none.
  request.mutable_filter()->add_route_kinds(v1::ROUTE_KIND_HTTP_CONNECT);
  response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->downloads_size(), 1);
  EXPECT_EQ(response->downloads(0).attempts(), 3u);
  request.mutable_filter()->clear_route_kinds();
  request.mutable_filter()->add_relays("emea-1");
  response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->downloads_size(), 0);
  EXPECT_EQ(response->series_size(), 1);
  request.mutable_filter()->add_relays("plugin");
  response = engine().GetReachability(request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->downloads_size(), 3);
}

TEST_F(QueryEngineDownloadsTest, FailurePatternsNameTheirTarget) {
  v1::ListFailurePatternsRequest request;
  SetRange(kT0, kT0 + absl::Minutes(10), request.mutable_range());
  auto response = engine().ListFailurePatterns(request);
  ASSERT_TRUE(response.ok()) << response.status();
  int downloads = 0;
  for (const v1::FailurePattern& p : response->patterns()) {
    EXPECT_EQ(p.target(), p.relay() == "plugin" ? v1::TARGET_DOWNLOAD : v1::TARGET_RELAY)
        << p.relay();
    if (p.target() == v1::TARGET_DOWNLOAD) ++downloads;
  }
  EXPECT_EQ(downloads, 2);  // tls_intercepted via the proxy, sni_filtered on 8443
}

TEST(HistogramQuantileTest, InterpolatesInsideTheBucket) {
  std::vector<uint64_t> buckets(kLatencyBuckets);
  EXPECT_EQ(HistogramQuantile(buckets, 0.5), absl::ZeroDuration());
  buckets[2] = 10;  // (2, 5] ms
  EXPECT_EQ(HistogramQuantile(buckets, 0.5), absl::Microseconds(3500));
  EXPECT_EQ(HistogramQuantile(buckets, 1.0), absl::Milliseconds(5));
  std::vector<uint64_t> slow(kLatencyBuckets);
  slow.back() = 4;  // all above the last bound
  EXPECT_EQ(HistogramQuantile(slow, 0.5), absl::Milliseconds(10000));
}

}  // namespace
}  // namespace relayscope::collector

namespace relayscope::collector {
namespace {

// Attempts every 7 minutes over three days: windows that start and end
// inside hours and days must count exactly what per-minute rows count,
// whichever hourly and daily rows the store uses for them.
TEST(QueryEngineCoarseRollups, ReachabilityIsExactAcrossHourAndDayEdges) {
  auto store = OpenStore("sqlite::memory:");
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Time day = absl::FromUnixSeconds(1764028800);  // a UTC midnight
  std::vector<Spec> specs;
  for (absl::Time t = day; t < day + absl::Hours(72); t += absl::Minutes(7)) {
    specs.push_back(
        {t, "emea", "emea-1", 443, v1::ROUTE_KIND_DIRECT,
         (absl::ToUnixSeconds(t) / 420) % 3 == 0 ? v1::OUTCOME_CONNECT_TIMEOUT : v1::OUTCOME_OK, 0,
         ""});
  }
  for (size_t i = 0; i < specs.size(); i += 500) {
    std::vector<Spec> part(
        specs.begin() + static_cast<std::ptrdiff_t>(i),
        specs.begin() + static_cast<std::ptrdiff_t>(std::min(i + 500, specs.size())));
    ASSERT_TRUE((*store)->Commit(MakeBatch("a", "s", "s" + std::to_string(i), part)).ok());
  }
  QueryEngine engine(store->get());
  struct Window {
    absl::Time start, end;
    absl::Duration step;
  };
  for (const Window& w : {Window{day + absl::Minutes(13), day + absl::Hours(50) + absl::Minutes(29),
                                 absl::ZeroDuration()},
                          Window{day, day + absl::Hours(72), absl::Hours(24)},
                          Window{day + absl::Hours(3), day + absl::Hours(27), absl::Hours(1)},
                          Window{day + absl::Minutes(30), day + absl::Hours(30), absl::Hours(6)}}) {
    uint64_t expected = 0, expected_ok = 0;
    for (const Spec& s : specs) {
      if (s.start < w.start || s.start >= w.end) continue;
      ++expected;
      if (s.outcome == v1::OUTCOME_OK) ++expected_ok;
    }
    v1::ReachabilityRequest request;
    SetRange(w.start, w.end, request.mutable_range());
    request.mutable_step()->set_seconds(absl::ToInt64Seconds(w.step));
    auto response = engine.GetReachability(request);
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->series_size(), 1);
    EXPECT_EQ(response->series(0).total().attempts(), expected) << w.start << " " << w.end;
    EXPECT_EQ(response->series(0).total().ok(), expected_ok);
    // Each step holds exactly the attempts that started in it.
    const auto& points = response->series(0).points();
    for (const auto& point : points) {
      const absl::Time from = absl::FromUnixSeconds(point.time().seconds());
      const absl::Time to =
          std::min(w.end, from + (w.step == absl::ZeroDuration() ? w.end - w.start : w.step));
      uint64_t in_step = 0;
      for (const Spec& s : specs) in_step += s.start >= from && s.start < to;
      EXPECT_EQ(point.attempts(), in_step) << from;
    }
  }
}

}  // namespace
}  // namespace relayscope::collector
