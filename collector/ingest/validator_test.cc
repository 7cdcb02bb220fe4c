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
                                                  regions { id: "apac" }
                                                  downloads {
                                                    id: "plugin"
                                                    region: "emea"
                                                    host: "dl.example"
                                                    ports: [ 443, 8443 ]
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

// A download check of the catalogue's "plugin" service that completed TLS
// with the genuine server.
v1::Attempt GoodDownload() {
  v1::Attempt a = test::AttemptBuilder()
                      .StartedAt(kNow - absl::Seconds(10))
                      .To("emea", "plugin", 443)
                      .Address("127.0.0.9")
                      .Phase(v1::PHASE_SERVER_TLS, absl::Milliseconds(20), /*completed=*/true)
                      .Build();
  a.set_target(v1::TARGET_DOWNLOAD);
  v1::TlsEvidence* tls = a.mutable_tls();
  tls->set_sni("dl.example");
  tls->set_version("TLSv1.3");
  tls->set_cipher("TLS_AES_256_GCM_SHA384");
  tls->mutable_certificate()->set_issuer("CN=R11,O=Let's Encrypt,C=US");
  tls->mutable_certificate()->set_trusted(true);
  tls->set_pin_matched(true);
  tls->set_name_matched(true);
  return a;
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
  a = GoodDownload();
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.SerializeAsString(), GoodDownload().SerializeAsString());
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

TEST(Validator, DownloadAttemptKeepsItsServiceAndTheCatalogueRegion) {
  Validator v(Catalogue());
  v1::Attempt a = GoodDownload();
  a.set_region("apac");  // the catalogue says emea
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.relay(), "plugin");
  EXPECT_EQ(a.region(), "emea");
  EXPECT_EQ(a.port(), 443u);
  EXPECT_EQ(a.target(), v1::TARGET_DOWNLOAD);
  EXPECT_EQ(a.tls().cipher(), "TLS_AES_256_GCM_SHA384");
  a.set_port(8200);  // a relay port, not one the service serves
  EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
  EXPECT_EQ(a.port(), 0u);
}

TEST(Validator, DownloadOutcomesAreAcceptedOnDownloadAttempts) {
  Validator v(Catalogue());
  for (v1::Outcome outcome :
       {v1::OUTCOME_TLS_INTERCEPTED, v1::OUTCOME_SNI_FILTERED, v1::OUTCOME_TLS_REFUSED}) {
    v1::Attempt a = GoodDownload();
    a.set_outcome(outcome);
    a.set_failed_phase(v1::PHASE_SERVER_TLS);
    a.mutable_tls()->mutable_control()->set_sni("control.invalid");
    a.mutable_tls()->mutable_control()->set_result(v1::SniControl::RESULT_ANSWERED);
    EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value()) << outcome;
  }
}

TEST(Validator, RelayAttemptNamingADownloadServiceFoldsIntoOther) {
  // Old agents leave target unset: a relay attempt. "plugin" is no relay,
  // so it folds like any unknown relay and never counts as a download.
  Validator v(Catalogue());
  for (v1::Target target : {v1::TARGET_UNSPECIFIED, v1::TARGET_RELAY}) {
    v1::Attempt a = Good();
    a.set_target(target);
    a.set_relay("plugin");
    a.set_port(443);
    EXPECT_FALSE(v.ValidateAttempt("s-1", kNow, &a).has_value());
    EXPECT_EQ(a.relay(), "other");
    EXPECT_EQ(a.region(), "emea");
    EXPECT_EQ(a.port(), 0u);
  }
}

TEST(Validator, DownloadAttemptNamingARelayOrAnUnknownServiceIsRejected) {
  // The store knows a download from a relay by its id alone: a download
  // under a relay's id (or folded into "other") would count as that relay.
  Validator v(Catalogue());
  for (const char* id : {"emea-1", "other", "attacker-chosen-service"}) {
    v1::Attempt a = GoodDownload();
    a.set_relay(id);
    auto rejected = v.ValidateAttempt("s-1", kNow, &a);
    ASSERT_TRUE(rejected.has_value()) << id;
    EXPECT_EQ(rejected->field(), "relay");
    EXPECT_EQ(rejected->reason(), "not a download service of the collector's catalogue");
  }
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
                   "bypass_entry"},
        BadAttempt{"unknown_target",
                   [](v1::Attempt* a) { a->set_target(static_cast<v1::Target>(9)); }, "target"},
        BadAttempt{"download_outcome_on_a_relay",
                   [](v1::Attempt* a) { a->set_outcome(v1::OUTCOME_TLS_INTERCEPTED); }, "outcome"},
        BadAttempt{"sni_filtered_on_a_relay",
                   [](v1::Attempt* a) { a->set_outcome(v1::OUTCOME_SNI_FILTERED); }, "outcome"},
        BadAttempt{"huge_sni", [](v1::Attempt* a) { a->mutable_tls()->set_sni(std::string(257, 's')); },
                   "tls.sni"},
        BadAttempt{"huge_tls_version",
                   [](v1::Attempt* a) { a->mutable_tls()->set_version(std::string(65, 'v')); },
                   "tls.version"},
        BadAttempt{"forged_cipher",
                   [](v1::Attempt* a) { a->mutable_tls()->set_cipher("AES\nlevel=error forged"); },
                   "tls.cipher"},
        BadAttempt{"huge_alert",
                   [](v1::Attempt* a) { a->mutable_tls()->set_alert(std::string(129, 'a')); },
                   "tls.alert"},
        BadAttempt{"huge_server_issuer",
                   [](v1::Attempt* a) {
                     a->mutable_tls()->mutable_certificate()->set_issuer(std::string(300, 'i'));
                   },
                   "tls.certificate.issuer"},
        BadAttempt{"huge_server_fingerprint",
                   [](v1::Attempt* a) {
                     a->mutable_tls()->mutable_certificate()->set_sha256(std::string(65, 'f'));
                   },
                   "tls.certificate.sha256"},
        BadAttempt{"huge_control_sni",
                   [](v1::Attempt* a) {
                     a->mutable_tls()->mutable_control()->set_sni(std::string(257, 'c'));
                   },
                   "tls.control.sni"},
        BadAttempt{"forged_control_detail",
                   [](v1::Attempt* a) {
                     a->mutable_tls()->mutable_control()->set_detail("reset\rlevel=error forged");
                   },
                   "tls.control.detail"},
        BadAttempt{"unknown_control_result",
                   [](v1::Attempt* a) {
                     a->mutable_tls()->mutable_control()->set_result(
                         static_cast<v1::SniControl::Result>(5));
                   },
                   "tls.control.result"}),
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

TEST(Validator, EnvelopeWithDownloadChecksIsBounded) {
  Validator v(Catalogue());
  v1::UploadRequest r = GoodRequest();
  v1::Verdict* verdict = r.mutable_session()->mutable_verdict();
  v1::DownloadCheck* d = verdict->add_downloads();
  d->set_service("plugin");
  d->set_display_name("plugin download");
  d->set_summary("plugin download: blocked, TLS to 127.0.0.9:443 is intercepted");
  d->add_working("direct 127.0.0.9:8443");
  v1::Blocker* b = d->add_blockers();
  b->set_kind(v1::CAUSE_KIND_TLS_INTERCEPTED);
  b->set_hop(v1::HOP_PROXY);
  b->set_outcome(v1::OUTCOME_TLS_INTERCEPTED);
  b->add_relays("plugin");
  b->mutable_evidence()->mutable_tls()->mutable_certificate()->set_issuer("CN=Corp Inspection CA");
  EXPECT_TRUE(v.ValidateEnvelope(r).ok()) << v.ValidateEnvelope(r);

  b->mutable_evidence()->mutable_tls()->set_alert(std::string(200, 'a'));
  EXPECT_EQ(v.ValidateEnvelope(r).message(),
            "session.verdict.downloads[0].blockers[0].evidence.tls.alert: longer than 128 bytes");
  b->clear_evidence();
  b->set_kind(static_cast<v1::CauseKind>(21));
  EXPECT_EQ(v.ValidateEnvelope(r).message(),
            "session.verdict.downloads[0].blockers[0].kind: unknown");
  b->set_kind(v1::CAUSE_KIND_TLS_REFUSED);
  d->set_summary(std::string(2049, 's'));
  EXPECT_EQ(v.ValidateEnvelope(r).message(),
            "session.verdict.downloads[0].summary: longer than 2048 bytes");
  d->set_summary("ok");
  d->set_display_name("plugin\ndownload");
  EXPECT_EQ(v.ValidateEnvelope(r).message(),
            "session.verdict.downloads[0].display_name: contains control characters");
  d->set_display_name("plugin download");
  for (int i = 0; i < 256; ++i) d->add_working("direct");
  EXPECT_EQ(v.ValidateEnvelope(r).message(), "session.verdict.downloads[0]: more than 256 entries");
  d->clear_working();
  for (int i = 0; i < 16; ++i) *verdict->add_downloads() = *d;
  EXPECT_EQ(v.ValidateEnvelope(r).message(), "session.verdict.downloads: more than 16");
}

}  // namespace
}  // namespace relayscope::collector
