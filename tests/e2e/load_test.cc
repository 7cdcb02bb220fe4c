// Load: 10,000 agent streams held open at once by one real collector. Each
// stream authenticates, sends one batch, gets its ack, and stays open until
// all of them are; meanwhile a real agent diagnoses and uploads. The
// collector's peak resident memory (VmHWM) is recorded and bounded, and no
// well-behaved stream sees an error.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <atomic>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/process.h"
#include "tests/support/wait_until.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "load-token-0e77c2";
constexpr int kStreams = 10000;
constexpr int kChannels = 100;  // the collector allows 100 streams per connection
constexpr int kPerBatch = 5;
// The bound asserted on the collector's peak RSS while it holds them all.
constexpr int64_t kMaxPeakRssKb = 512 * 1024;

// Counts of what the held streams have seen, shared by all of them.
struct Tally {
  absl::Mutex mu;
  int acked ABSL_GUARDED_BY(mu) = 0;
  int done ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  std::string first_error ABSL_GUARDED_BY(mu);
};

// One agent's stream: one batch, its ack, then held open until Release().
class HeldStream final : public grpc::ClientBidiReactor<v1::UploadRequest, v1::UploadResponse> {
 public:
  HeldStream(v1::Ingest::Stub* stub, int index, Tally* tally) : tally_(tally) {
    context_.AddMetadata("authorization", std::string("Bearer ") + kToken);
    const std::string agent = absl::StrCat("held-", index);
    request_ = e2e::MakeBatch(agent, agent + "-session", 1, 1, kPerBatch);
    stub->async()->Upload(&context_, this);
    StartWrite(&request_);
    StartRead(&ack_);
    StartCall();
  }
  void Release() { StartWritesDone(); }

  void OnReadDone(bool ok) override {
    if (ok && ack_.accepted() == kPerBatch) {
      absl::MutexLock lock(&tally_->mu);
      ++tally_->acked;
    }
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&tally_->mu);
    ++tally_->done;
    if (!status.ok()) {
      ++tally_->failed;
      if (tally_->first_error.empty()) {
        tally_->first_error = absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    }
  }

 private:
  Tally* tally_;
  grpc::ClientContext context_;
  v1::UploadRequest request_;
  v1::UploadResponse ack_;
};

class Load : public rig::RigTest {};

TEST_F(Load, TenThousandConcurrentStreamsWithBoundedMemoryAndNoErrors) {
  // Both sides need more descriptors than the usual 1024 soft limit would
  // leave for 10,000 streams' worth of work; the collector inherits this.
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = files.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  e2e::Stack stack(dir(),
                   {.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY, .agent = AGENT_BINARY});
  ASSERT_TRUE(stack.WriteCatalogue(e2e::CatalogueText("127.0.72.1")).ok());
  ASSERT_TRUE(stack.WriteTokens("tokens", {{"agents", kToken}}).ok());
  ASSERT_TRUE(stack.WriteSecret("token", kToken).ok());
  auto relay = stack.StartRelay("127.0.72.1:8200");
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto started = stack.StartCollector({.tokens = stack.path("tokens")});
  ASSERT_TRUE(started.ok()) << started.status();
  e2e::Collector& collector = **started;
  const int64_t idle_rss_kb = rig::PeakRssKb(collector.process()->pid());

  std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per channel
    args.SetInt("relayscope.test.channel", c);
    stubs.push_back(v1::Ingest::NewStub(
        grpc::CreateCustomChannel(collector.address(), grpc::InsecureChannelCredentials(), args)));
  }
  Tally tally;
  std::vector<std::unique_ptr<HeldStream>> streams;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<HeldStream>(stubs[i % kChannels].get(), i, &tally));
  }
  // Waits until `field` plus the failures reach kStreams, at most `limit`.
  auto wait_for = [&](int Tally::*field, absl::Duration limit) {
    test::WaitUntil(
        [&] {
          absl::MutexLock lock(&tally.mu);
          return tally.*field + tally.failed >= kStreams;
        },
        limit, absl::Milliseconds(50));
    absl::MutexLock lock(&tally.mu);
    return tally.*field;
  };
  const int acked = wait_for(&Tally::acked, absl::Seconds(180));
  const absl::Duration to_all_acked = absl::Now() - start;
  // All held open: a real agent is still served.
  auto agent = rig::RunCommand(stack.AgentDiagnoseArgv(collector), absl::Seconds(60));
  ASSERT_TRUE(agent.ok());
  const int64_t held_rss_kb = rig::PeakRssKb(collector.process()->pid());
  for (auto& stream : streams) stream->Release();
  const int done = wait_for(&Tally::done, absl::Seconds(120));
  const int64_t stored = collector.QueryInt("SELECT count(*) FROM attempts").value_or(-1);
  {
    absl::MutexLock lock(&tally.mu);
    std::printf(
        "%d streams on %d connections: %d acked in %s, %d ended, %d failed%s%s; collector "
        "peak RSS %lld KiB (%lld KiB idle, %.1f KiB per stream); a real agent in %s; "
        "%lld attempts stored\n",
        kStreams, kChannels, acked, absl::FormatDuration(to_all_acked).c_str(), done, tally.failed,
        tally.first_error.empty() ? "" : ", first: ", tally.first_error.c_str(),
        static_cast<long long>(held_rss_kb), static_cast<long long>(idle_rss_kb),
        static_cast<double>(held_rss_kb - idle_rss_kb) / kStreams,
        absl::FormatDuration(agent->elapsed).c_str(), static_cast<long long>(stored));
    EXPECT_EQ(tally.failed, 0) << tally.first_error;
  }
  EXPECT_EQ(acked, kStreams);
  EXPECT_EQ(done, kStreams);
  EXPECT_EQ(stored, int64_t{kStreams} * kPerBatch + 2);
  EXPECT_THAT(agent->output, HasSubstr("attempts delivered")) << agent->output;
  EXPECT_LT(agent->elapsed, absl::Seconds(15));
  EXPECT_GT(held_rss_kb, 0);
  EXPECT_LT(held_rss_kb, kMaxPeakRssKb);
  collector.Stop();
}

}  // namespace
}  // namespace relayscope
