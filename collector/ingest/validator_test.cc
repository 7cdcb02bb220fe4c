#include "collector/ingest/validator.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1764000000);

v1::Catalogue Catalogue() {
  v1::Catalogue c;
  google::protobuf::TextFormat::ParseFromString(R"pb(
                                                  regions {
                                                    id: "emea"
                                                    relays {
                                                      id: "emea-1"
                                                      addresses: "127.0.0.2"
                                                      ports: [ 8200, 443 ]
                                                    }
                                                  }
                                                )pb",
                                                &c);
  return c;
}

v1::Attempt Good() {
  return test::AttemptBuilder()
      .StartedAt(kNow - absl::Seconds(10))
      .Address("127.0.0.2")
      .Phase(v1::PHASE_TCP_CONNECT, absl::Milliseconds(1), /*completed=*/false)
      .Build();
}

v1::UploadRequest GoodRequest() {
  return test::UploadBatch(1, "5f0c3b7e-0000-4000-8000-000000000001", "s-1", {Good()});
}

TEST(Validator, AcceptsAGoodAttemptUnchanged) {
  Validator v(Catalogue());
  v1::Attempt a = Good();
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.SerializeAsString(), Good().SerializeAsString());
  EXPECT_TRUE(v.ValidateEnvelope(GoodRequest()).ok());
}

TEST(Validator, UnknownRelayAndRegionFoldIntoOtherSoLabelsStayBounded) {
  Validator v(Catalogue());
  v1::Attempt a = Good();
  a.set_relay("attacker-chosen-relay-123");
  a.set_region("attacker-region");
  a.set_port(9999);
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.relay(), "other");
  EXPECT_EQ(a.region(), "other");
  EXPECT_EQ(a.port(), 0u);
}

TEST(Validator, KnownRelayWithUnlistedPortKeepsRelayAndFoldsPort) {
  Validator v(Catalogue());
  v1::Attempt a = Good();
  a.set_port(8080);
  a.set_region("wrong-region");
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.relay(), "emea-1");
  EXPECT_EQ(a.region(), "emea");  // the catalogue decides
  EXPECT_EQ(a.port(), 0u);
}

struct BadAttempt {
  const char* name;
  void (*mutate)(v1::Attempt*);
  const char* field;
};

class ValidatorRejects : public ::testing::TestWithParam<BadAttempt> {};

TEST_P(ValidatorRejects, NamesTheField) {
  Validator v(Catalogue());
  v1::Attempt a = Good();
  GetParam().mutate(&a);
  auto rejected = v.ValidateAttempt("s-1", kNow, &a);
  ASSERT_TRUE(rejected.has_value()) << GetParam().name;
  EXPECT_EQ(rejected->field(), GetParam().field);
  EXPECT_EQ(rejected->sequence(), a.sequence());
  EXPECT_FALSE(rejected->reason().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ValidatorRejects,
    ::testing::Values(
        BadAttempt{"other_session", [](v1::Attempt* a) { a->set_session_id("s-2"); }, "session_id"},
        BadAttempt{"sequence_zero", [](v1::Attempt* a) { a->set_sequence(0); }, "sequence"},
        BadAttempt{"no_start", [](v1::Attempt* a) { a->clear_start_time(); }, "start_time"},
        BadAttempt{"too_old", [](v1::Attempt* a) { a->mutable_start_time()->set_seconds(1000); },
                   "start_time"},
        BadAttempt{"future",
                   [](v1::Attempt* a) {
                     a->mutable_start_time()->set_seconds(absl::ToUnixSeconds(kNow) + 3600);
                   },
                   "start_time"},
        BadAttempt{"no_route",
                   [](v1::Attempt* a) { a->set_route_kind(v1::ROUTE_KIND_UNSPECIFIED); },
                   "route_kind"},
        BadAttempt{"unknown_outcome",
                   [](v1::Attempt* a) { a->set_outcome(static_cast<v1::Outcome>(99)); }, "outcome"},
        BadAttempt{"port_zero", [](v1::Attempt* a) { a->set_port(0); }, "port"},
        BadAttempt{"port_huge", [](v1::Attempt* a) { a->set_port(70000); }, "port"},
        BadAttempt{
            "negative_phase",
            [](v1::Attempt* a) { a->mutable_phases(0)->mutable_duration()->set_seconds(-1); },
            "phases[0].duration"},
        BadAttempt{"too_many_phases",
                   [](v1::Attempt* a) {
                     for (int i = 0; i < 9; ++i) *a->add_phases() = a->phases(0);
                   },
                   "phases"},
        BadAttempt{"huge_detail", [](v1::Attempt* a) { a->set_detail(std::string(600, 'x')); },
                   "detail"},
        BadAttempt{"newline_in_title",
                   [](v1::Attempt* a) {
                     a->mutable_interference()->set_page_title("a\nlevel=error forged");
                   },
                   "interference.page_title"},
        BadAttempt{"huge_relay", [](v1::Attempt* a) { a->set_relay(std::string(100, 'r')); },
                   "relay"},
        BadAttempt{"proxy_host",
                   [](v1::Attempt* a) {
                     a->set_route_kind(v1::ROUTE_KIND_HTTP_CONNECT);
                     a->mutable_proxy()->set_host(std::string(300, 'h'));
                   },
                   "proxy.host"},
        BadAttempt{"forged_proxy_server",
                   [](v1::Attempt* a) {
                     a->mutable_proxy_reply()->set_server("squid\nlevel=error forged");
                   },
                   "proxy_reply.server"},
        BadAttempt{"huge_socks_reply",
                   [](v1::Attempt* a) {
                     a->mutable_proxy_reply()->set_socks_reply(std::string(300, 's'));
                   },
                   "proxy_reply.socks_reply"},
        BadAttempt{"unknown_auth_scheme",
                   [](v1::Attempt* a) {
                     a->mutable_proxy_auth()->add_offered(static_cast<v1::ProxyAuthScheme>(99));
                   },
                   "proxy_auth.offered"},
        BadAttempt{
            "huge_realm",
            [](v1::Attempt* a) { a->mutable_proxy_auth()->set_realm(std::string(200, 'r')); },
            "proxy_auth.realm"},
        BadAttempt{"huge_issuer",
                   [](v1::Attempt* a) {
                     a->mutable_proxy_certificate()->set_issuer(std::string(300, 'i'));
                   },
                   "proxy_certificate.issuer"},
        BadAttempt{"too_many_dns_answers",
                   [](v1::Attempt* a) {
                     for (int i = 0; i < 17; ++i) a->mutable_dns()->add_answers("0.0.0.0");
                   },
                   "dns.answers"},
        BadAttempt{"unknown_dns_status",
                   [](v1::Attempt* a) {
                     a->mutable_dns()->set_status(static_cast<v1::DnsEvidence::Status>(42));
                   },
                   "dns.status"},
        BadAttempt{"unknown_route_role",
                   [](v1::Attempt* a) { a->set_route_role(static_cast<v1::RouteRole>(7)); },
                   "route_role"},
        BadAttempt{"huge_route_rank", [](v1::Attempt* a) { a->set_route_rank(100000); },
                   "route_rank"},
        BadAttempt{"unknown_bypass_source",
                   [](v1::Attempt* a) { a->set_bypass_source(static_cast<v1::ProxySource>(77)); },
                   "bypass_source"},
        BadAttempt{"forged_bypass_entry",
                   [](v1::Attempt* a) { a->set_bypass_entry(".corp\nlevel=error forged"); },
                   "bypass_entry"}),
    [](const ::testing::TestParamInfo<BadAttempt>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(Validator, EnvelopeWithoutAgentIdIsRefusedWhole) {
  Validator v(Catalogue());
  v1::UploadRequest r = GoodRequest();
  r.mutable_session()->mutable_agent()->clear_agent_id();
  absl::Status s = v.ValidateEnvelope(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "session.agent.agent_id: required, 1-64 of [A-Za-z0-9._-]");
}

TEST(Validator, EnvelopeWithTooManyAttemptsIsRefused) {
  ValidationLimits limits;
  limits.max_attempts_per_batch = 2;
  Validator v(Catalogue(), limits);
  v1::UploadRequest r = GoodRequest();
  for (int i = 0; i < 2; ++i) *r.mutable_session()->add_attempts() = Good();
  EXPECT_EQ(v.ValidateEnvelope(r).message(), "session.attempts: more than 2 in one batch");
}

TEST(Validator, EnvelopeWithControlCharactersInSiteIsRefused) {
  Validator v(Catalogue());
  v1::UploadRequest r = GoodRequest();
  r.mutable_session()->mutable_agent()->set_site("acme\r\nparis");
  EXPECT_EQ(v.ValidateEnvelope(r).message(), "session.agent.site: contains control characters");
}

TEST(Validator, AcceptsAnAttemptWithEveryKindOfEvidence) {
  Validator v(Catalogue());
  v1::Attempt a = Good();
  a.set_route_kind(v1::ROUTE_KIND_HTTPS_PROXY);
  a.mutable_proxy()->set_kind(v1::ROUTE_KIND_HTTPS_PROXY);
  a.mutable_proxy()->set_host("127.0.12.100");
  a.mutable_proxy()->set_port(3129);
  a.mutable_proxy_reply()->set_status_line("HTTP/1.1 407 Proxy Authentication Required");
  a.mutable_proxy_reply()->set_server("squid/5.7");
  a.mutable_proxy_auth()->add_offered(v1::PROXY_AUTH_SCHEME_NTLM);
  a.mutable_proxy_auth()->set_realm("corp");
  a.mutable_proxy_certificate()->set_issuer("CN=Example Inspection CA");
  a.mutable_proxy_certificate()->set_sha256(std::string(64, 'a'));
  a.mutable_dns()->set_status(v1::DnsEvidence::STATUS_SINKHOLE);
  a.mutable_dns()->add_answers("0.0.0.0");
  a.set_retried(true);
  a.set_route_role(v1::ROUTE_ROLE_ALTERNATIVE);
  a.set_bypass_entry(".corp.example");
  a.set_bypass_source(v1::PROXY_SOURCE_ENV);
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
}

TEST(Validator, EnvelopeWithAForgedCauseIsRefused) {
  Validator v(Catalogue());
  v1::UploadRequest r = GoodRequest();
  v1::Blocker* b = r.mutable_session()->mutable_verdict()->add_blockers();
  b->set_kind(v1::CAUSE_KIND_PROXY_DENIED);
  b->set_hop(v1::HOP_PROXY);
  EXPECT_TRUE(v.ValidateEnvelope(r).ok());
  b->mutable_evidence()->mutable_proxy_reply()->set_via(std::string(300, 'v'));
  EXPECT_EQ(v.ValidateEnvelope(r).message(),
            "session.verdict.blockers[0].evidence.proxy_reply.via: longer than 256 bytes");
  b->clear_evidence();
  b->set_hop(static_cast<v1::Hop>(77));
  EXPECT_EQ(v.ValidateEnvelope(r).message(), "session.verdict.blockers[0].hop: unknown");
}

}  // namespace
}  // namespace relayscope::collector
