// Tests of the contract itself: properties every consumer relies on.
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "relayscope/v1/query.grpc.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::v1 {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// DESIGN.md, data-flow step 4: the closed outcome set, plus the three the
// download check of the plugin server adds (its reference scenario: TLS
// interception, SNI filtering, TLS refused).
TEST(Contract, OutcomeSetIsExactlyTheDesignedClosedSet) {
  const std::set<std::string> expected = {"ok",
                                          "dns_failure",
                                          "connect_timeout",
                                          "connection_refused",
                                          "host_unreachable",
                                          "network_unreachable",
                                          "connection_reset",
                                          "proxy_error",
                                          "proxy_auth_required",
                                          "proxy_auth_failed",
                                          "tls_failure",
                                          "protocol_interference",
                                          "handshake_timeout",
                                          "handshake_invalid",
                                          "tls_intercepted",
                                          "sni_filtered",
                                          "tls_refused"};
  std::set<std::string> actual;
  const auto* outcomes = Outcome_descriptor();
  for (int i = 0; i < outcomes->value_count(); ++i) {
    std::string name = outcomes->value(i)->name();
    ASSERT_TRUE(absl::StartsWith(name, "OUTCOME_")) << name;
    if (name == "OUTCOME_UNSPECIFIED") continue;
    actual.insert(absl::AsciiStrToLower(name.substr(8)));
  }
  EXPECT_EQ(actual, expected);
}

// Walks every message reachable from `descriptor` and collects fields whose
// names suggest a secret.
void CollectSecretLookingFields(const Descriptor* descriptor, std::set<std::string>* seen,
                                std::set<std::string>* offenders) {
  if (!seen->insert(descriptor->full_name()).second) return;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string& name = field->name();
    // `has_credentials` is the one allowed mention: a boolean.
    bool boolean_flag = field->type() == FieldDescriptor::TYPE_BOOL;
    for (const char* word :
         {"password", "passwd", "secret", "token", "credential", "authorization", "cookie"}) {
      if (absl::StrContains(name, word) && !boolean_flag && !absl::EndsWith(name, "page_token")) {
        offenders->insert(descriptor->full_name() + "." + name);
      }
    }
    if (field->message_type() != nullptr) {
      CollectSecretLookingFields(field->message_type(), seen, offenders);
    }
  }
}

TEST(Contract, NoTelemetryOrQueryFieldCanCarryASecret) {
  std::set<std::string> seen, offenders;
  for (const Descriptor* root :
       {SessionReport::descriptor(), UploadRequest::descriptor(), UploadResponse::descriptor(),
        GetSessionResponse::descriptor(), ListFailurePatternsResponse::descriptor()}) {
    CollectSecretLookingFields(root, &seen, &offenders);
  }
  EXPECT_TRUE(offenders.empty()) << *offenders.begin();
  EXPECT_GT(seen.size(), 10u);  // the walk really visited the messages
}

TEST(Contract, SessionReportRoundTripsThroughBinaryAndJson) {
  SessionReport report;
  report.mutable_agent()->set_agent_id("5f0c3b7e-0000-4000-8000-000000000001");
  report.set_session_id("s-1");
  Attempt* attempt = report.add_attempts();
  attempt->set_session_id("s-1");
  attempt->set_sequence(1);
  attempt->set_region("emea");
  attempt->set_relay("emea-1");
  attempt->set_address("81.144.208.229");
  attempt->set_port(80);
  attempt->set_route_kind(ROUTE_KIND_DIRECT);
  attempt->set_outcome(OUTCOME_PROTOCOL_INTERFERENCE);
  attempt->mutable_interference()->set_status_line("HTTP/1.0 400 Bad Request");
  attempt->mutable_interference()->set_page_title("Request Error");
  attempt->mutable_start_time()->set_seconds(1764000000);

  SessionReport binary_copy;
  ASSERT_TRUE(binary_copy.ParseFromString(report.SerializeAsString()));
  EXPECT_EQ(binary_copy.attempts(0).interference().page_title(), "Request Error");

  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(report, &json, options).ok());
  // JSON uses the proto field names and enum value names (the dashboard API
  // and its OpenAPI description rely on this).
  EXPECT_TRUE(absl::StrContains(json, "\"outcome\":\"OUTCOME_PROTOCOL_INTERFERENCE\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"start_time\":\"2025-11-24T")) << json;
  SessionReport json_copy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &json_copy).ok());
  EXPECT_EQ(json_copy.SerializeAsString(), report.SerializeAsString());
}

TEST(Contract, ServicesExposeTheDesignedMethods) {
  const auto* ingest = Ingest::service_full_name();
  EXPECT_STREQ(ingest, "relayscope.v1.Ingest");
  const auto* upload = UploadRequest::descriptor()->file()->FindServiceByName("Ingest");
  ASSERT_NE(upload, nullptr);
  const auto* method = upload->FindMethodByName("Upload");
  ASSERT_NE(method, nullptr);
  EXPECT_TRUE(method->client_streaming());
  EXPECT_TRUE(method->server_streaming());

  const auto* fleet = GetSessionRequest::descriptor()->file()->FindServiceByName("FleetQuery");
  ASSERT_NE(fleet, nullptr);
  for (const char* name :
       {"GetReachability", "ListFailurePatterns", "ListSites", "GetSession", "GetActivity"}) {
    EXPECT_NE(fleet->FindMethodByName(name), nullptr) << name;
  }
}

}  // namespace
}  // namespace relayscope::v1
