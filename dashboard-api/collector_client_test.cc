// The dashboard's side of the collector: the readiness probe against a
// real FleetQuery service (in-process gRPC, SQLite in memory), the token
// file and the credentials flags.
#include "dashboard-api/collector_client.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "collector/query/fleet_query_service.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::dashboard {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "dashboard-token-1";

class ProbeCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = collector::OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto tokens =
        collector::TokenAuthenticator::Parse("dashboard " + collector::Sha256Hex(kToken), "t");
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = std::make_unique<collector::TokenAuthenticator>(*std::move(tokens));
    engine_ = std::make_unique<collector::QueryEngine>(store_.get());
    service_ = std::make_unique<collector::FleetQueryService>(engine_.get(), tokens_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::FleetQuery::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<collector::Store> store_;
  std::unique_ptr<collector::TokenAuthenticator> tokens_;
  std::unique_ptr<collector::QueryEngine> engine_;
  std::unique_ptr<collector::FleetQueryService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<v1::FleetQuery::Stub> stub_;
};

TEST_F(ProbeCollectorTest, ReadyWhenTheCollectorAnswersWithOurToken) {
  EXPECT_TRUE(ProbeCollector(*stub_, kToken).ok());
}

TEST_F(ProbeCollectorTest, NotReadyWhenTheCollectorRefusesTheToken) {
  for (const std::string token : {"", "wrong"}) {
    const absl::Status status = ProbeCollector(*stub_, token);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << token;
  }
}

TEST_F(ProbeCollectorTest, NotReadyWhenTheCollectorIsDown) {
  server_->Shutdown();
  server_.reset();
  EXPECT_EQ(ProbeCollector(*stub_, kToken).code(), absl::StatusCode::kUnavailable);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/relayscope-dashboard-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

using ReadCollectorTokenTest = TempDir;

TEST_F(ReadCollectorTokenTest, StripsTheTrailingNewline) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/token", "  secret-value\n").ok());
  auto token = ReadCollectorToken(dir_ + "/token");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "secret-value");
  EXPECT_EQ(*ReadCollectorToken(""), "");
}

TEST_F(ReadCollectorTokenTest, MissingFileNamesTheFlag) {
  auto token = ReadCollectorToken(dir_ + "/none");
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("--collector-token-file: "));
}

TEST(CollectorCredentialsTest, MissingCaBundleNamesTheFlag) {
  auto credentials = CollectorCredentials(false, "/nonexistent/ca.pem");
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(), HasSubstr("--ca: "));
  EXPECT_TRUE(CollectorCredentials(true, "/nonexistent/ca.pem").ok());  // insecure: no CA read
  EXPECT_TRUE(CollectorCredentials(false, "").ok());                    // system roots
}

}  // namespace
}  // namespace relayscope::dashboard
