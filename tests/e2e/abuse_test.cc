// Untrusted callers against the real collector: missing, wrong and revoked
// tokens, a collector certificate from the wrong CA, 10 MB messages, a
// flood of a million made-up relay names, rate abuse, and slow-loris
// connections and streams. Each is refused or bounded, and meanwhile a
// well-behaved real agent still delivers its telemetry in bounded time.
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/net.h"
#include "tests/rig/process.h"
#include "tests/support/wait_until.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "abuse-good-token-1f0c";
constexpr char kRevokedToken[] = "abuse-revoked-token-88e1";
constexpr char kExpiredToken[] = "abuse-expired-token-5d27";
constexpr char kRelayAddress[] = "127.0.72.1";
// A well-behaved agent's diagnosis plus upload, under abuse, ends by then.
constexpr absl::Duration kWellBehavedBound = absl::Seconds(8);

class Abuse : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(
        dir(),
        e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY, .agent = AGENT_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText(kRelayAddress)).ok());
    ASSERT_TRUE(stack_->WriteSecret("token", kToken).ok());
    auto expired = e2e::TokenHash(kExpiredToken);
    ASSERT_TRUE(expired.ok()) << expired.status();
    expired_line_ = absl::StrCat("lapsed-agents ", *expired, " not-after=2020-01-01T00:00:00Z\n");
    ASSERT_TRUE(stack_
                    ->WriteTokens("tokens", {{"agents", kToken}, {"old-agents", kRevokedToken}},
                                  expired_line_)
                    .ok());
    auto relay = stack_->StartRelay(absl::StrCat(kRelayAddress, ":8200"));
    ASSERT_TRUE(relay.ok()) << relay.status();
  }
  void TearDown() override {
    stack_.reset();
    RigTest::TearDown();
  }

  void StartCollector(std::vector<std::string> extra_args = {}) {
    auto collector =
        stack_->StartCollector({.tokens = dir() + "/tokens", .extra_args = std::move(extra_args)});
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *collector;
  }

  // The real agent: one diagnosis and its upload. Checks that it delivered
  // within kWellBehavedBound; returns its output.
  std::string WellBehavedAgent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = stack_->AgentDiagnoseArgv(*collector_);
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto run = rig::RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(run.ok());
    if (!run.ok()) return "";
    EXPECT_THAT(run->output, HasSubstr("attempts delivered")) << run->output;
    EXPECT_LT(run->elapsed, kWellBehavedBound) << run->output;
    std::printf("well-behaved agent: diagnosis and upload in %s\n",
                absl::FormatDuration(run->elapsed).c_str());
    return run->output;
  }

  std::unique_ptr<v1::Ingest::Stub> Stub() {
    return v1::Ingest::NewStub(
        grpc::CreateChannel(collector_->address(), grpc::InsecureChannelCredentials()));
  }

  // One batch on its own stream with `token` (none if empty); the final
  // status, and the ack's accepted count in `accepted`.
  grpc::Status Send(v1::Ingest::Stub& stub, const std::string& token,
                    const v1::UploadRequest& batch, uint32_t* accepted = nullptr) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    auto stream = stub.Upload(&context);
    v1::UploadResponse ack;
    if (stream->Write(batch) && stream->Read(&ack)) {
      if (accepted != nullptr) *accepted = ack.accepted();
      stream->WritesDone();
    }
    return stream->Finish();
  }

  int64_t Stored() { return collector_->QueryInt("SELECT count(*) FROM attempts").value_or(-1); }

  std::unique_ptr<e2e::Stack> stack_;
  std::string expired_line_;
  e2e::Collector* collector_ = nullptr;
};

TEST_F(Abuse, MissingWrongExpiredRevokedTokensAndHugeMessagesAreRefused) {
  // The default --max-message-bytes (4 MiB); token files checked every 200 ms.
  StartCollector({"--tokens-reload-interval=200ms"});
  auto stub = Stub();
  uint32_t accepted = 0;
  ASSERT_TRUE(Send(*stub, kRevokedToken, e2e::MakeBatch("a1", "s1", 1, 1, 10), &accepted).ok());
  EXPECT_EQ(accepted, 10u);  // still valid

  // Past its not-after date: refused, and the holder is told why.
  const grpc::Status expired = Send(*stub, kExpiredToken, e2e::MakeBatch("a1", "s1", 1, 50, 10));
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(expired.error_message(), HasSubstr("expired at 2020-01-01T00:00:00Z"));

  EXPECT_EQ(Send(*stub, "", e2e::MakeBatch("a1", "s1", 1, 100, 10)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Send(*stub, "not-a-token", e2e::MakeBatch("a1", "s1", 1, 100, 10)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // 10 MB in one message: refused by size before it is parsed.
  v1::UploadRequest huge = e2e::MakeBatch("a1", "s1", 1, 200, 1);
  huge.mutable_session()->mutable_agent()->set_version(std::string(10 << 20, 'x'));
  const absl::Time sent = absl::Now();
  EXPECT_EQ(Send(*stub, kToken, huge).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_LT(absl::Now() - sent, absl::Seconds(5));
  // Too many batches from one agent: told to slow down.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto stream = stub->Upload(&context);
    int acked = 0;
    for (uint64_t b = 1; b <= 100; ++b) {
      v1::UploadResponse ack;
      if (!stream->Write(e2e::MakeBatch("greedy", "s1", b, 1000 + b, 1)) || !stream->Read(&ack)) {
        break;
      }
      ++acked;
    }
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("slow down"));
    EXPECT_LT(acked, 100);
  }

  // Revocation without a restart: first a typo in the file, which is
  // reported while every token in use keeps working; then the revoked
  // token's line leaves the file, which takes effect at the next check.
  const int pid = collector_->process()->pid();
  ASSERT_TRUE(WriteFileAtomically(dir() + "/tokens", "agents not-a-hash\n").ok());
  test::WaitUntil(
      [&] {
        return absl::StrContains(collector_->process()->LogTail(1 << 20), "tokens_reload_failed");
      },
      absl::Seconds(10), absl::Milliseconds(50));
  EXPECT_THAT(collector_->process()->LogTail(1 << 20),
              HasSubstr("tokens_in_use=3 error=\"" + dir() + "/tokens:1: expected"));
  EXPECT_TRUE(Send(*stub, kToken, e2e::MakeBatch("a2", "s1", 1, 1, 1)).ok());

  ASSERT_TRUE(e2e::WriteTokenFile(dir() + "/tokens", {{"agents", kToken}}, expired_line_).ok());
  grpc::StatusCode revoked = grpc::StatusCode::OK;
  uint64_t probe = 0;
  test::WaitUntil(
      [&] {
        // Probes as another agent, so a1's count below stays what it was.
        revoked =
            Send(*stub, kRevokedToken, e2e::MakeBatch("probe", "s1", 1, ++probe, 1)).error_code();
        return revoked == grpc::StatusCode::UNAUTHENTICATED;
      },
      absl::Seconds(10), absl::Milliseconds(50));
  EXPECT_EQ(revoked, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Send(*stub, kRevokedToken, e2e::MakeBatch("a1", "s1", 1, 300, 10)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(collector_->process()->LogTail(1 << 20), HasSubstr("event=tokens_reloaded"));
  EXPECT_EQ(collector_->process()->pid(), pid);  // the same process all along
  WellBehavedAgent();
  // Only the batch sent while the token was valid, the greedy agent's acked
  // batches and the agent's two attempts were stored.
  const std::string log = collector_->process()->LogTail(1 << 20);
  EXPECT_THAT(log, HasSubstr("status=UNAUTHENTICATED"));
  EXPECT_EQ(
      collector_->QueryInt("SELECT count(*) FROM attempts WHERE agent_id = 'a1'").value_or(-1), 10);
  EXPECT_THAT(collector_->Scrape(),
              HasSubstr("relayscope_ingest_batches_total{result=\"unauthenticated\"}"));
}

TEST_F(Abuse, CollectorCertificateFromAnotherCaIsNotTrusted) {
  for (const std::string name : {"collector", "other-ca"}) {
    auto cert = rig::RunCommand(
        {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=relayscope-" + name, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
         dir() + "/" + name + ".key", "-out", dir() + "/" + name + ".crt"},
        absl::Seconds(30));
    ASSERT_TRUE(cert.ok() && cert->exit_code == 0);
  }
  StartCollector(
      {"--tls-cert=" + dir() + "/collector.crt", "--tls-key=" + dir() + "/collector.key"});
  std::vector<std::string> argv = stack_->AgentDiagnoseArgv(*collector_);
  argv.erase(std::find(argv.begin(), argv.end(), "--insecure"));
  argv.push_back("--ca=" + dir() + "/other-ca.crt");
  auto wrong = rig::RunCommand(argv, absl::Seconds(30));
  ASSERT_TRUE(wrong.ok());
  EXPECT_THAT(wrong->output, HasSubstr("telemetry not delivered"));
  EXPECT_EQ(Stored(), 0);
  // The same agent with the collector's CA delivers, its spool included.
  argv.back() = "--ca=" + dir() + "/collector.crt";
  auto right = rig::RunCommand(argv, absl::Seconds(30));
  ASSERT_TRUE(right.ok());
  EXPECT_THAT(right->output, HasSubstr("Telemetry: 4 attempts delivered"));
  EXPECT_EQ(Stored(), 4);
}

// The per-agent limit cannot stop a token holder who makes up a new agent
// id per batch; --token-batches-per-second bounds what one token sends in
// all, and a caller with another token is served meanwhile.
TEST_F(Abuse, MadeUpAgentIdsUnderOneTokenAreBoundedByItsRateWhileOtherTokensAreServed) {
  constexpr double kRate = 50;
  StartCollector({"--token-batches-per-second=50"});
  auto stub = Stub();
  int accepted = 0, limited = 0;
  const absl::Time start = absl::Now();
  for (int i = 1; i <= 300; ++i) {
    const grpc::Status status =
        Send(*stub, kRevokedToken, e2e::MakeBatch(absl::StrCat("made-up-", i), "s1", 1, 1, 1));
    if (status.ok()) ++accepted;
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
        absl::StrContains(status.error_message(), "under this token")) {
      ++limited;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("300 made-up agent ids in %.2f s: %d accepted, %d limited\n", seconds, accepted,
              limited);
  EXPECT_EQ(accepted + limited, 300);
  // The burst, plus the rate for the time the flood took.
  EXPECT_LE(accepted, kRate + kRate * seconds + 1);
  EXPECT_GE(accepted, kRate);
  EXPECT_EQ(Stored(), accepted);
  // Another token's agent is not charged for the flood.
  WellBehavedAgent();
  EXPECT_THAT(collector_->Scrape(),
              HasSubstr("relayscope_ingest_batches_total{result=\"rate_limited\"} " +
                        std::to_string(limited)));
}

TEST_F(Abuse, AMillionMadeUpRelayNamesKeepMetricsAndRollupsBounded) {
  StartCollector();
  const std::string before = collector_->Scrape();
  constexpr int kSenders = 4;
  constexpr int kBatchesPerSender = 250;
  constexpr int kPerBatch = 1000;  // the largest batch the validator allows
  std::atomic<int64_t> accepted{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> senders;
  const absl::Time start = absl::Now();
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      auto stub = Stub();
      for (int b = 0; b < kBatchesPerSender; ++b) {
        // One agent id per 10 batches keeps each under its rate limit.
        const std::string agent = absl::StrCat("flood-", s, "-", b / 10);
        v1::UploadRequest batch =
            e2e::MakeBatch(agent, "s", 1, static_cast<uint64_t>(b) * kPerBatch + 1, kPerBatch);
        for (int i = 0; i < kPerBatch; ++i) {
          batch.mutable_session()->mutable_attempts(i)->set_relay(
              absl::StrCat("fake-relay-", s, "-", b, "-", i));
        }
        uint32_t n = 0;
        if (Send(*stub, kToken, batch, &n).ok()) {
          accepted += n;
        } else {
          ++failures;
        }
      }
    });
  }
  // Meanwhile, a real agent.
  absl::SleepFor(absl::Seconds(1));
  WellBehavedAgent();
  for (std::thread& t : senders) t.join();
  const absl::Duration flood = absl::Now() - start;
  const std::string after = collector_->Scrape();
  const int series = e2e::CountSeries(after, "relayscope_attempts_total");
  const auto distinct_stored = collector_->QueryInt("SELECT count(DISTINCT relay) FROM attempts");
  const auto distinct_rolled = collector_->QueryInt("SELECT count(DISTINCT relay) FROM rollups");
  std::printf(
      "1M fake relay names: %lld accepted in %s, %d failed batches; "
      "relayscope_attempts_total series %d, distinct relays stored %lld, in rollups %lld, "
      "/metrics %zu -> %zu bytes, collector peak RSS %lld KiB\n",
      static_cast<long long>(accepted.load()), absl::FormatDuration(flood).c_str(), failures.load(),
      series, static_cast<long long>(distinct_stored.value_or(-1)),
      static_cast<long long>(distinct_rolled.value_or(-1)), before.size(), after.size(),
      static_cast<long long>(rig::PeakRssKb(collector_->process()->pid())));
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(accepted.load(), int64_t{kSenders} * kBatchesPerSender * kPerBatch);
  // Every made-up name is counted as "other": the label sets stay those of
  // the catalogue (emea-1 for the agent's attempts) plus "other".
  EXPECT_LE(series, 4);
  EXPECT_LE(distinct_stored.value_or(99), 2);
  EXPECT_LE(distinct_rolled.value_or(99), 2);
  EXPECT_THAT(after, HasSubstr("relay=\"other\""));
  EXPECT_THAT(after, Not(HasSubstr("fake-relay")));
  EXPECT_LT(after.size(), before.size() + 64 * 1024);
}

// Reads until the peer closes the connection or `deadline`; true if it
// closed.
bool ClosedByPeer(int fd, absl::Time deadline) {
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, std::max(ms, 1)) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return true;
  }
  return false;
}

TEST_F(Abuse, SlowLorisConnectionsAndStreamsAreCutWhileAgentsAreServed) {
  constexpr absl::Duration kHandshake = absl::Seconds(2);
  constexpr absl::Duration kAge = absl::Seconds(3);
  constexpr absl::Duration kGrace = absl::Seconds(1);
  StartCollector(
      {"--handshake-timeout=2s", "--max-connection-age=3s", "--max-connection-age-grace=1s"});
  // 1. TCP connections that send nothing, and ones that trickle the HTTP/2
  // preface a byte at a time.
  constexpr int kSilent = 200, kTrickling = 20;
  std::vector<int> silent, trickling;
  for (int i = 0; i < kSilent + kTrickling; ++i) {
    auto fd =
        rig::ConnectWithDeadline("127.0.0.1", collector_->port(), absl::Now() + absl::Seconds(2));
    ASSERT_TRUE(fd.ok()) << fd.status();
    (i < kSilent ? silent : trickling).push_back(*fd);
  }
  std::atomic<bool> trickle_done{false};
  std::thread trickler([&] {
    const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    for (size_t i = 0; i < preface.size() && !trickle_done.load(); ++i) {
      for (int fd : trickling) send(fd, &preface[i], 1, MSG_NOSIGNAL);
      absl::SleepFor(absl::Milliseconds(300));
    }
  });
  // 2. Authenticated streams that open and then say nothing.
  constexpr int kIdleStreams = 50;
  auto stub = Stub();
  std::vector<std::thread> idlers;
  std::atomic<int> idle_ended{0};
  std::atomic<int64_t> longest_idle_ms{0};
  for (int i = 0; i < kIdleStreams; ++i) {
    idlers.emplace_back([&] {
      grpc::ClientContext context;
      context.AddMetadata("authorization", std::string("Bearer ") + kToken);
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
      const absl::Time opened = absl::Now();
      auto stream = stub->Upload(&context);
      v1::UploadResponse ack;
      stream->Read(&ack);  // blocks until the collector ends the stream
      stream->Finish();
      const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - opened);
      int64_t seen = longest_idle_ms.load();
      while (ms > seen && !longest_idle_ms.compare_exchange_weak(seen, ms)) {
      }
      ++idle_ended;
    });
  }
  // Meanwhile, a well-behaved agent.
  absl::SleepFor(absl::Milliseconds(500));
  WellBehavedAgent();

  const absl::Time deadline = absl::Now() + kHandshake + absl::Seconds(3);
  int closed_silent = 0, closed_trickling = 0;
  for (int fd : silent) closed_silent += ClosedByPeer(fd, deadline);
  for (int fd : trickling) closed_trickling += ClosedByPeer(fd, deadline);
  trickle_done = true;
  trickler.join();
  for (int fd : silent) close(fd);
  for (int fd : trickling) close(fd);
  for (std::thread& t : idlers) t.join();
  std::printf(
      "slow-loris: %d/%d silent and %d/%d trickling connections closed by the collector; "
      "%d/%d idle streams ended, the longest after %lld ms\n",
      closed_silent, kSilent, closed_trickling, kTrickling, idle_ended.load(), kIdleStreams,
      static_cast<long long>(longest_idle_ms.load()));
  EXPECT_EQ(closed_silent, kSilent);
  EXPECT_EQ(closed_trickling, kTrickling);
  EXPECT_EQ(idle_ended.load(), kIdleStreams);
  EXPECT_LT(absl::Milliseconds(longest_idle_ms.load()), kAge + kGrace + absl::Seconds(3));
  EXPECT_TRUE(collector_->process()->Running());
}

}  // namespace
}  // namespace relayscope
