// The Ingest service over a real gRPC server on loopback, with the real
// SQLite store (in memory) and a C++ client stream.
#include "collector/ingest/ingest_service.h"

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "agent-token-123";

class IngestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    google::protobuf::TextFormat::ParseFromString(R"pb(regions {
                                                         id: "emea"
                                                         relays {
                                                           id: "emea-1"
                                                           addresses: "127.0.0.2"
                                                           ports: [ 8200 ]
                                                         }
                                                       })pb",
                                                  &catalogue_);
    validator_ = std::make_unique<Validator>(catalogue_);
    auto tokens = TokenAuthenticator::Parse("fleet " + Sha256Hex(kToken), "tokens");
    ASSERT_TRUE(tokens.ok());
    tokens_ = std::make_unique<TokenAuthenticator>(*tokens);
    auto store = OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
    metrics_ = std::make_unique<IngestMetrics>(*registry_);
    limiter_ = std::make_unique<RateLimiter>(rate_);
    if (holder_rate_ > 0) holder_limiter_ = std::make_unique<RateLimiter>(holder_rate_);
    ingestor_ = std::make_unique<Ingestor>(store_.get(), validator_.get(), metrics_.get(),
                                           limiter_.get(), holder_limiter_.get());
    service_ = std::make_unique<IngestService>(tokens_.get(), ingestor_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Ingest::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static v1::UploadRequest Request(uint64_t batch_id, std::vector<uint64_t> sequences) {
    std::vector<v1::Attempt> attempts;
    for (uint64_t seq : sequences) {
      attempts.push_back(
          test::AttemptBuilder().Sequence(seq).StartedAt(absl::Now() - absl::Seconds(5)).Build());
    }
    return test::UploadBatch(batch_id, "agent-1", "s-1", std::move(attempts));
  }

  // Sends the requests on one stream; returns the acks and the final status.
  std::pair<std::vector<v1::UploadResponse>, grpc::Status> Send(
      const std::vector<v1::UploadRequest>& requests, const std::string& token = kToken) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    auto stream = stub_->Upload(&context);
    std::vector<v1::UploadResponse> acks;
    for (const auto& r : requests) {
      if (!stream->Write(r)) break;
      v1::UploadResponse ack;
      if (!stream->Read(&ack)) break;
      acks.push_back(ack);
    }
    stream->WritesDone();
    return {acks, stream->Finish()};
  }

  double Counter(const std::string& name, const std::string& label, const std::string& value) {
    for (const auto& family : registry_->Collect()) {
      if (family.name != name) continue;
      double total = 0;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (label.empty() || (l.name == label && l.value == value)) {
            total += m.counter.value;
            break;
          }
        }
        if (label.empty() && m.label.empty()) total += m.counter.value;
      }
      return total;
    }
    return 0;
  }

  double rate_ = 1000;
  double holder_rate_ = 0;  // 0: no per-token limit
  v1::Catalogue catalogue_;
  std::unique_ptr<Validator> validator_;
  std::unique_ptr<TokenAuthenticator> tokens_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<IngestMetrics> metrics_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<RateLimiter> holder_limiter_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
};

TEST_F(IngestServiceTest, AcksEachBatchAndCountsAResentBatchOnce) {
  auto [acks, status] = Send({Request(1, {1, 2, 3}), Request(2, {4}), Request(1, {1, 2, 3})});
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].batch_id(), 1u);
  EXPECT_EQ(acks[0].accepted(), 3u);
  EXPECT_EQ(acks[1].accepted(), 1u);
  EXPECT_EQ(acks[2].accepted(), 0u);
  EXPECT_EQ(acks[2].duplicates(), 3u);
  EXPECT_EQ(*store_->CountAttempts(), 4u);
  EXPECT_EQ(Counter("relayscope_attempts_total", "outcome", "ok"), 4);
  EXPECT_EQ(Counter("relayscope_ingest_duplicate_attempts_total", "", ""), 3);
  // One site ("" reported as "(none)") is active in emea; sites are counted,
  // never used as labels.
  bool found_gauge = false;
  for (const auto& family : registry_->Collect()) {
    if (family.name != "relayscope_sites_active") continue;
    ASSERT_EQ(family.metric.size(), 1u);
    EXPECT_EQ(family.metric[0].label[0].value, "emea");
    EXPECT_EQ(family.metric[0].gauge.value, 1);
    found_gauge = true;
  }
  EXPECT_TRUE(found_gauge);
  // The same batch on a new stream (a reconnecting agent) is still a duplicate.
  auto [again, status2] = Send({Request(7, {4})});
  ASSERT_TRUE(status2.ok());
  EXPECT_EQ(again[0].duplicates(), 1u);
  EXPECT_EQ(Counter("relayscope_attempts_total", "outcome", "ok"), 4);
}

TEST_F(IngestServiceTest, NoOrWrongTokenIsUnauthenticated) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    auto [acks, status] = Send({Request(1, {1})}, token);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
    EXPECT_TRUE(acks.empty());
  }
  EXPECT_EQ(*store_->CountAttempts(), 0u);
}

TEST_F(IngestServiceTest, BadAttemptIsRejectedByFieldAndTheRestCounts) {
  v1::UploadRequest r = Request(1, {1, 2, 3});
  r.mutable_session()->mutable_attempts(1)->set_port(70000);
  r.mutable_session()->mutable_attempts(2)->set_relay("made-up-relay");
  auto [acks, status] = Send({r});
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].accepted(), 2u);
  ASSERT_EQ(acks[0].rejected_size(), 1);
  EXPECT_EQ(acks[0].rejected(0).sequence(), 2u);
  EXPECT_EQ(acks[0].rejected(0).field(), "port");
  EXPECT_EQ(Counter("relayscope_ingest_rejected_attempts_total", "field", "port"), 1);
  // The unknown relay was folded, not added as a new label value.
  EXPECT_EQ(Counter("relayscope_attempts_total", "relay", "other"), 1);
  EXPECT_EQ(Counter("relayscope_attempts_total", "relay", "made-up-relay"), 0);
}

// Fields this collector does not know (a newer agent's, or padding from a
// hostile one) are not stored: nothing but the validated fields reaches
// the store, whatever else fits in a message.
TEST_F(IngestServiceTest, UnknownFieldsAreNotStored) {
  auto unknown = [](google::protobuf::Message* m) {
    return m->GetReflection()->MutableUnknownFields(m);
  };
  auto none = [](const google::protobuf::Message& m) {
    return m.GetReflection()->GetUnknownFields(m).empty();
  };
  v1::UploadRequest r = Request(1, {1, 2});
  const std::string padding(64 * 1024, 'x');
  unknown(r.mutable_session()->mutable_attempts(0))->AddLengthDelimited(9999, padding);
  unknown(r.mutable_session()->mutable_attempts(1)->mutable_proxy())->AddVarint(77, 1);
  unknown(r.mutable_session())->AddLengthDelimited(4242, padding);
  unknown(r.mutable_session()->mutable_agent())->AddFixed64(31, 7);
  auto [acks, status] = Send({r});
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].accepted(), 2u);
  auto stored = store_->Session("agent-1", "s-1");
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->attempts_size(), 2);
  EXPECT_TRUE(none(*stored));
  EXPECT_TRUE(none(stored->agent()));
  EXPECT_TRUE(none(stored->attempts(0)));
  EXPECT_TRUE(none(stored->attempts(1).proxy()));
  EXPECT_LT(stored->ByteSizeLong(), 4096u);
}

TEST_F(IngestServiceTest, InvalidEnvelopeEndsTheStreamNamingTheField) {
  v1::UploadRequest r = Request(1, {1});
  r.mutable_session()->set_session_id("");
  auto [acks, status] = Send({r});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("session.session_id"));
}

class RateLimitedIngest : public IngestServiceTest {
 protected:
  void SetUp() override {
    rate_ = 2;
    IngestServiceTest::SetUp();
  }
};

TEST_F(RateLimitedIngest, AgentOverItsRateIsToldToSlowDown) {
  auto [acks, status] = Send({Request(1, {1}), Request(2, {2}), Request(3, {3})});
  EXPECT_EQ(acks.size(), 2u);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "rate_limited"), 1);
}

class HolderRateLimitedIngest : public IngestServiceTest {
 protected:
  void SetUp() override {
    holder_rate_ = 3;
    IngestServiceTest::SetUp();
  }
};

TEST_F(HolderRateLimitedIngest, MadeUpAgentIdsUnderOneTokenShareItsBudget) {
  // Five agent ids, one batch each, all under the "fleet" token: each is
  // within its own rate, the token's budget (3) is not.
  std::vector<v1::UploadRequest> batches;
  for (uint64_t i = 1; i <= 5; ++i) {
    v1::UploadRequest r = Request(i, {i});
    r.mutable_session()->mutable_agent()->set_agent_id(absl::StrCat("made-up-", i));
    batches.push_back(r);
  }
  auto [acks, status] = Send(batches);
  EXPECT_EQ(acks.size(), 3u);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("under this token"));
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "rate_limited"), 1);
}

}  // namespace
}  // namespace relayscope::collector
