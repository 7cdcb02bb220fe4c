// Faults with the real binaries: the collector killed with SIGKILL again and
// again under load, the collector away for a (scaled) outage while real
// agents keep diagnosing, the store's disk filling up, and hostile
// middleboxes on the agent's routes. What must hold: nothing acknowledged
// is lost, nothing is counted twice, and every hostile peer is classified
// within a bounded time and memory.
#include <grpcpp/grpcpp.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "relayscope/v1/ingest.grpc.pb.h"
#include "tests/e2e/stack.h"
#include "tests/rig/fixture.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/net.h"
#include "tests/rig/process.h"
#include "tests/support/wait_until.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "fault-agent-token-9b2e";
constexpr char kRelayAddress[] = "127.0.72.1";

class Faults : public rig::RigTest {
 protected:
  void SetUp() override {
    RigTest::SetUp();
    if (IsSkipped()) return;
    stack_ = std::make_unique<e2e::Stack>(
        dir(),
        e2e::Binaries{.relay = RELAY_BINARY, .collector = COLLECTOR_BINARY, .agent = AGENT_BINARY});
    ASSERT_TRUE(stack_->WriteCatalogue(e2e::CatalogueText(kRelayAddress)).ok());
    catalogue_ = stack_->catalogue();
    ASSERT_TRUE(stack_->WriteTokens("tokens", {{"fault-agents", kToken}}).ok());
    ASSERT_TRUE(stack_->WriteSecret("token", kToken).ok());
  }
  void TearDown() override {
    stack_.reset();  // before the unmount: the collector's store may live there
    if (!tmpfs_.empty()) umount2(tmpfs_.c_str(), MNT_DETACH);
    RigTest::TearDown();
  }

  void StartRelay() {
    auto relay = stack_->StartRelay(absl::StrCat(kRelayAddress, ":8200"));
    ASSERT_TRUE(relay.ok()) << relay.status();
  }

  void StartCollector(const std::string& store_dir) {
    auto collector = stack_->StartCollector({.dir = store_dir, .tokens = dir() + "/tokens"});
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *collector;
  }

  // The real agent, one diagnosis, uploading to the collector.
  rig::CommandResult RunAgent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = stack_->AgentDiagnoseArgv(*collector_);
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto result = rig::RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(result.ok());
    return result.ok() ? *result : rig::CommandResult{};
  }

  std::string catalogue_;
  std::string tmpfs_;  // unmounted after the test
  std::unique_ptr<e2e::Stack> stack_;
  e2e::Collector* collector_ = nullptr;
};

// A load agent speaking the real ingest protocol the way the agent's
// uploader does: batches in order, one ack each, and after any failure a
// new stream that resends everything not yet acknowledged.
class LoadAgent {
 public:
  LoadAgent(std::string agent_id, std::shared_ptr<grpc::Channel> channel)
      : agent_id_(std::move(agent_id)), stub_(v1::Ingest::NewStub(std::move(channel))) {}

  // Generates and delivers batches until `stop` turns true, then delivers
  // what is left; gives up at `deadline`.
  void Run(const std::atomic<bool>& stop, absl::Time deadline) {
    while (absl::Now() < deadline) {
      if (stop.load() && acked_ == batches_.size()) return;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      context.AddMetadata("authorization", std::string("Bearer ") + kToken);
      auto stream = stub_->Upload(&context);
      bool healthy = true;
      while (healthy && absl::Now() < deadline) {
        if (acked_ == batches_.size()) {
          if (stop.load()) break;
          absl::SleepFor(absl::Milliseconds(60));  // ~10 batches/s, under the rate limit
          const uint64_t first = batches_.size() * kPerBatch + 1;
          batches_.push_back(
              e2e::MakeBatch(agent_id_, agent_id_ + "-session", 0, first, kPerBatch));
        }
        v1::UploadRequest& request = batches_[acked_];
        request.set_batch_id(acked_ + 1);
        v1::UploadResponse ack;
        healthy = stream->Write(request) && stream->Read(&ack) && ack.batch_id() == acked_ + 1;
        if (healthy) {
          accepted_ += ack.accepted();
          duplicates_ += ack.duplicates();
          ++acked_;
        }
      }
      if (healthy) stream->WritesDone();
      const grpc::Status status = stream->Finish();
      if (!healthy) {
        ++reconnects_;
        absl::SleepFor(absl::Milliseconds(50));
      } else if (!status.ok()) {
        ++reconnects_;
      }
    }
  }

  static constexpr int kPerBatch = 50;
  uint64_t generated_attempts() const { return batches_.size() * kPerBatch; }
  uint64_t acked_attempts() const { return acked_ * kPerBatch; }
  uint64_t accepted() const { return accepted_; }
  uint64_t duplicates() const { return duplicates_; }
  int reconnects() const { return reconnects_; }

 private:
  const std::string agent_id_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  std::vector<v1::UploadRequest> batches_;
  size_t acked_ = 0;
  uint64_t accepted_ = 0;
  uint64_t duplicates_ = 0;
  int reconnects_ = 0;
};

TEST_F(Faults, TwentyKillNinesUnderLoadLoseNothingAckedAndCountNothingTwice) {
  StartCollector(dir());
  constexpr int kAgents = 8;
  constexpr int kKills = 20;
  std::atomic<bool> stop{false};
  const absl::Time deadline = absl::Now() + absl::Seconds(150);
  std::vector<std::unique_ptr<LoadAgent>> agents;
  std::vector<std::thread> threads;
  for (int i = 0; i < kAgents; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    args.SetInt("grpc.channel_id", i);  // one connection per agent, like real agents
    agents.push_back(std::make_unique<LoadAgent>(
        absl::StrCat("load-", i),
        grpc::CreateCustomChannel(collector_->address(), grpc::InsecureChannelCredentials(),
                                  args)));
  }
  for (auto& agent : agents) {
    threads.emplace_back([&, a = agent.get()] { a->Run(stop, deadline); });
  }
  std::mt19937 rng(20);
  std::uniform_int_distribution<int> uptime_ms(300, 900);
  for (int kill = 0; kill < kKills; ++kill) {
    absl::SleepFor(absl::Milliseconds(uptime_ms(rng)));
    collector_->Kill();  // SIGKILL mid-stream, mid-commit: no goodbye
    const absl::Status up = collector_->Start();
    ASSERT_TRUE(up.ok()) << "restart " << kill << ": " << up;
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  for (std::thread& t : threads) t.join();

  uint64_t generated = 0, acked = 0, accepted = 0, duplicates = 0;
  int reconnects = 0;
  for (const auto& agent : agents) {
    generated += agent->generated_attempts();
    acked += agent->acked_attempts();
    accepted += agent->accepted();
    duplicates += agent->duplicates();
    reconnects += agent->reconnects();
  }
  auto stored = collector_->QueryInt("SELECT count(*) FROM attempts");
  auto rolled_up = collector_->QueryInt("SELECT sum(attempts) FROM rollups");
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(rolled_up.ok()) << rolled_up.status();
  std::printf(
      "kill -9 x%d: %llu attempts generated, %llu acked, %lld stored, %lld in rollups, "
      "%llu accepted + %llu duplicates in acks, %d reconnects\n",
      kKills, static_cast<unsigned long long>(generated), static_cast<unsigned long long>(acked),
      static_cast<long long>(*stored), static_cast<long long>(*rolled_up),
      static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(duplicates),
      reconnects);
  EXPECT_GT(generated, 1000u);
  EXPECT_GE(reconnects, kKills);                    // the kills did hit the streams
  EXPECT_EQ(acked, generated);                      // every batch was delivered in the end
  EXPECT_EQ(*stored, static_cast<int64_t>(acked));  // nothing acked is lost, nothing doubled
  EXPECT_EQ(*rolled_up, *stored);                   // the aggregates count each attempt once too
  // An ack lost to a kill makes the resend a duplicate, never a new count.
  EXPECT_EQ(accepted, acked - std::min(acked, duplicates));
  EXPECT_LE(accepted, static_cast<uint64_t>(*stored));
}

TEST_F(Faults, AgentsSpoolThroughACollectorOutageAndDeliverEverythingAfter) {
  // Scaled: a 10-minute outage as 10 s, agents diagnosing every second
  // instead of every 5 minutes.
  constexpr absl::Duration kOutage = absl::Seconds(10);
  constexpr int kRuns = 18;
  StartRelay();
  StartCollector(dir());
  rig::Process::Options watch;
  watch.argv = {AGENT_BINARY,
                "watch",
                "--catalogue=" + catalogue_,
                "--discover=false",
                "--collector=" + collector_->address(),
                "--insecure",
                "--token-file=" + dir() + "/token",
                "--spool-dir=" + dir() + "/spool",
                "--agent-id-file=" + dir() + "/agent-id",
                "--report-dir=" + dir() + "/reports",
                "--timeout=1s",
                "--upload-timeout=2s",
                "--interval=1s",
                absl::StrCat("--count=", kRuns),
                "--quiet"};
  watch.log_path = dir() + "/watch.log";
  auto agent = rig::Process::Start(watch);
  ASSERT_TRUE(agent.ok());
  auto sessions = [&] { return collector_->QueryInt("SELECT count(*) FROM sessions"); };
  test::WaitUntil([&] { return sessions().value_or(0) >= 3; }, absl::Seconds(20),
                  absl::Milliseconds(100));
  ASSERT_GE(sessions().value_or(0), 3);
  collector_->Kill();
  absl::SleepFor(kOutage);
  const absl::Status up = collector_->Start();
  ASSERT_TRUE(up.ok()) << up;
  test::WaitUntil([&] { return !(*agent)->Running(); }, absl::Seconds(90), absl::Milliseconds(100));
  ASSERT_FALSE((*agent)->Running()) << "watch did not finish its runs";
  const std::string log = (*agent)->LogTail(1 << 20);
  int undelivered = 0;
  for (size_t at = 0; (at = log.find("telemetry not delivered", at)) != std::string::npos; ++at) {
    ++undelivered;
  }
  std::printf("outage of %s: %d of %d runs could not deliver at once\n",
              absl::FormatDuration(kOutage).c_str(), undelivered, kRuns);
  EXPECT_GE(undelivered, 2) << log;  // the outage spanned several runs
  // Every run's session and both of its attempts are stored, once.
  EXPECT_EQ(sessions().value_or(-1), kRuns) << log;
  EXPECT_EQ(collector_->QueryInt("SELECT count(*) FROM attempts").value_or(-1), 2 * kRuns);
  EXPECT_TRUE(std::filesystem::is_empty(dir() + "/spool"));
}

TEST_F(Faults, DiskFullIsResourceExhaustedLosesNothingAckedAndRecovers) {
  // The store on a 1 MiB tmpfs in this test's own mount namespace (the
  // collector inherits it).
  ASSERT_EQ(unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
  const std::string store_dir = dir() + "/store";
  std::filesystem::create_directory(store_dir);
  ASSERT_EQ(mount("tmpfs", store_dir.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  tmpfs_ = store_dir;
  StartRelay();
  StartCollector(store_dir);
  auto stub = v1::Ingest::NewStub(
      grpc::CreateChannel(collector_->address(), grpc::InsecureChannelCredentials()));
  // Sends one batch on its own stream; the stream's final status.
  auto send = [&](uint64_t first) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = stub->Upload(&context);
    v1::UploadResponse ack;
    if (stream->Write(e2e::MakeBatch("disk-agent", "s1", 1, first, 200)) && stream->Read(&ack)) {
      EXPECT_EQ(ack.accepted(), 200u);
      stream->WritesDone();
    }
    return stream->Finish();
  };
  ASSERT_TRUE(send(1).ok());

  // Fill the file system.
  const std::string filler = store_dir + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(4096, 'f');
    while (out.write(block.data(), block.size()) && out.flush()) {
    }
  }
  const grpc::Status full = send(201);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  EXPECT_THAT(full.error_message(), HasSubstr("full"));
  // A real agent is told the same and keeps its telemetry in the spool.
  const rig::CommandResult refused = RunAgent();
  EXPECT_THAT(refused.output, HasSubstr("telemetry not delivered"));
  EXPECT_THAT(refused.output, HasSubstr("full"));
  EXPECT_FALSE(std::filesystem::is_empty(dir() + "/spool"));
  EXPECT_EQ(collector_->QueryInt("SELECT count(*) FROM attempts").value_or(-1), 200);
  EXPECT_THAT(collector_->Scrape(), HasSubstr("result=\"store_full\""));

  // Space returns: the same collector process takes the batch and the
  // agent's spool, without a restart.
  std::filesystem::remove(filler);
  EXPECT_TRUE(send(201).ok());
  const rig::CommandResult recovered = RunAgent();
  EXPECT_THAT(recovered.output, HasSubstr("spooled batch(es) from earlier runs"));
  EXPECT_TRUE(std::filesystem::is_empty(dir() + "/spool"));
  EXPECT_EQ(collector_->QueryInt("SELECT count(*) FROM attempts").value_or(-1), 400 + 2 + 2);
}

// ---- Hostile middleboxes on the agent's routes ----

// Reads an HTTP request head (up to the blank line), bounded.
std::string ReadRequestHead(int fd) {
  std::string head;
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384 &&
         absl::Now() < deadline) {
    const std::string more = rig::ReadUpTo(fd, 1, deadline);
    if (more.empty()) break;
    head += more;
  }
  return head;
}

struct HostileCase {
  std::string name;
  std::vector<std::string> flags;  // agent flags for this case
  v1::Outcome outcome;
  v1::Phase failed_phase;
};

TEST_F(Faults, HostileProxiesAndRelaysAreClassifiedInBoundedTimeAndMemory) {
  StartRelay();
  // 1. accepts the CONNECT and never answers.
  rig::Interceptor::Options silent;
  silent.address = "127.0.80.1";
  silent.port = 3001;
  silent.mode = rig::Interceptor::Mode::kSilent;
  auto black_hole = rig::Interceptor::Start(silent);
  ASSERT_TRUE(black_hole.ok());
  // 2. answers the CONNECT with an endless header block: 1 GB streamed from
  // one 64 KiB buffer, or until the agent hangs up.
  std::atomic<uint64_t> header_bytes{0};
  auto flood =
      rig::Listener::Start("127.0.80.1", 3002, [&](int fd, const std::atomic<bool>& stopping) {
        ReadRequestHead(fd);
        if (!rig::WriteAll(fd, "HTTP/1.1 200 Connection established\r\n")) return;
        const std::string line = "X-Padding: " + std::string(1000, 'a') + "\r\n";
        std::string block;
        while (block.size() + line.size() <= 65536) block += line;
        for (uint64_t sent = 0; sent < (uint64_t{1} << 30) && !stopping.load();
             sent += block.size()) {
          if (!rig::WriteAll(fd, block)) break;
          header_bytes = sent + block.size();
        }
      });
  ASSERT_TRUE(flood.ok()) << flood.status();
  // 3. closes in the middle of its CONNECT reply.
  auto cut = rig::Listener::Start("127.0.80.1", 3003, [](int fd, const std::atomic<bool>&) {
    ReadRequestHead(fd);
    rig::WriteAll(fd, "HTTP/1.1 200 Conn");
  });
  ASSERT_TRUE(cut.ok()) << cut.status();
  // 4. a "relay" that answers the handshake with a truncated R2 (100 of
  // its 256 bytes) and closes.
  rig::Interceptor::Options truncated;
  truncated.address = "127.0.81.1";
  truncated.port = 8200;
  truncated.mode = rig::Interceptor::Mode::kFixedReply;
  truncated.read_bytes = 768;                  // Y, P, R1
  truncated.reply = std::string(100, '\x9c');  // binary, like a real R2
  auto short_relay = rig::Interceptor::Start(truncated);
  ASSERT_TRUE(short_relay.ok());
  const std::string truncated_catalogue = dir() + "/truncated.textproto";
  std::ofstream(truncated_catalogue) << e2e::CatalogueText("127.0.81.1");

  constexpr absl::Duration kAttemptTimeout = absl::Seconds(3);
  const std::vector<std::string> via_proxy = {"--direct=false", "--ports=8200"};
  std::vector<HostileCase> cases = {
      {"baseline: the real relay, direct", {"--ports=8200"}, v1::OUTCOME_OK, v1::PHASE_UNSPECIFIED},
      // The same as a proxy that cannot reach the relay itself: the TCP
      // connect to the proxy worked, its CONNECT never completed.
      {"proxy that never answers",
       {"--proxy=http://127.0.80.1:3001"},
       v1::OUTCOME_CONNECT_TIMEOUT,
       v1::PHASE_PROXY_NEGOTIATION},
      {"proxy sending 1 GB of headers",
       {"--proxy=http://127.0.80.1:3002"},
       v1::OUTCOME_PROXY_ERROR,
       v1::PHASE_PROXY_NEGOTIATION},
      {"proxy closing mid-CONNECT",
       {"--proxy=http://127.0.80.1:3003"},
       v1::OUTCOME_PROXY_ERROR,
       v1::PHASE_PROXY_NEGOTIATION},
      {"relay sending a truncated R2",
       {"--ports=8200", "--catalogue=" + truncated_catalogue},
       v1::OUTCOME_HANDSHAKE_INVALID,
       v1::PHASE_HANDSHAKE},
  };
  for (size_t i = 1; i < 4; ++i)
    cases[i].flags.insert(cases[i].flags.end(), via_proxy.begin(), via_proxy.end());
  int64_t baseline_rss_kb = 0;
  for (const HostileCase& c : cases) {
    std::vector<std::string> argv = {
        AGENT_BINARY,
        "diagnose",
        "--json",
        "--discover=false",
        "--report-dir=" + dir() + "/reports",
        "--agent-id-file=" + dir() + "/agent-id",
        absl::StrCat("--timeout=", absl::FormatDuration(kAttemptTimeout))};
    bool has_catalogue = false;
    for (const std::string& f : c.flags) has_catalogue |= absl::StartsWith(f, "--catalogue=");
    if (!has_catalogue) argv.push_back("--catalogue=" + catalogue_);
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    auto run = rig::RunCommand(argv, absl::Seconds(30));
    ASSERT_TRUE(run.ok());
    v1::SessionReport report;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(run->output, &report).ok())
        << c.name << ": " << run->output;
    ASSERT_EQ(report.attempts_size(), 1) << c.name << ": " << run->output;
    const v1::Attempt& attempt = report.attempts(0);
    std::printf("%-32s -> %-28s in %-8s peak RSS %lld KiB (%s)\n", c.name.c_str(),
                v1::Outcome_Name(attempt.outcome()).c_str(),
                absl::FormatDuration(run->elapsed).c_str(), static_cast<long long>(run->max_rss_kb),
                attempt.detail().c_str());
    EXPECT_EQ(attempt.outcome(), c.outcome) << c.name << ": " << attempt.detail();
    EXPECT_EQ(attempt.failed_phase(), c.failed_phase) << c.name << ": " << attempt.detail();
    // Bounded in time: the attempt ends by its deadline (the agent's own
    // clock), and the whole run by that plus start-up and report writing,
    // which under CI's disk load can take seconds of their own.
    const absl::Duration attempt_took = FromProtoDuration(attempt.total_duration());
    EXPECT_LT(attempt_took, kAttemptTimeout + absl::Milliseconds(500)) << c.name;
    EXPECT_LT(run->elapsed, kAttemptTimeout + absl::Seconds(10)) << c.name;
    // Bounded in memory: nothing a peer sends is buffered without limit.
    if (baseline_rss_kb == 0) baseline_rss_kb = run->max_rss_kb;
    EXPECT_LT(run->max_rss_kb, baseline_rss_kb + 32 * 1024) << c.name;
    EXPECT_LT(run->max_rss_kb, 128 * 1024) << c.name;
  }
  std::printf("the header flood sent %llu bytes before the agent hung up\n",
              static_cast<unsigned long long>(header_bytes.load()));
  EXPECT_LT(header_bytes.load(), uint64_t{1} << 30);  // the agent stopped reading, not the proxy
  (*flood)->Stop();
  (*cut)->Stop();
}

}  // namespace
}  // namespace relayscope
