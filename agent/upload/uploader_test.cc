// The uploader against the real collector (CollectorServer), on loopback: delivery, resend,
// collector down (spool), recovery (spool delivered in order, exactly once), spool bound, bad
// token.
#include "agent/upload/uploader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "agent/upload/grpc_wire.h"
#include "collector/server/collector_server.h"
#include "common/fake_clock.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "upload-test-token";

v1::SessionReport Report(const std::string& session_id, int attempts) {
  v1::SessionReport r;
  r.mutable_agent()->set_agent_id("agent-1");
  r.set_session_id(session_id);
  r.mutable_verdict()->set_status(v1::VERDICT_STATUS_REACHABLE);
  r.add_proxies()->mutable_proxy()->set_host("127.0.0.9");
  const v1::Attempt ok =
      test::AttemptBuilder().Session(session_id).StartedAt(absl::Now() - absl::Seconds(2)).Build();
  for (v1::Attempt& a : test::Sequenced(ok, 1, attempts)) *r.add_attempts() = std::move(a);
  return r;
}

// The real collector (CollectorServer, SQLite in memory) on a loopback
// port, with its catalogue and token file in a temp dir.
class Collector {
 public:
  // With `tls_dir`, it serves TLS with <tls_dir>/tls.{crt,key}.
  explicit Collector(int port = 0, const std::string& tls_dir = "") {
    char pattern[] = "/tmp/relayscope-upload-collector-XXXXXX";
    dir_ = mkdtemp(pattern) != nullptr ? pattern : "";
    EXPECT_FALSE(dir_.empty());
    EXPECT_TRUE(
        WriteFileAtomically(dir_ + "/catalogue.textproto",
                            R"pb(regions {
                                   id: "emea"
                                   relays { id: "emea-1" addresses: "127.0.0.2" ports: 8200 }
                                 })pb")
            .ok());
    EXPECT_TRUE(
        WriteFileAtomically(dir_ + "/tokens", "t " + collector::Sha256Hex(kToken) + "\n").ok());
    collector::CollectorConfig config;
    config.listen = absl::StrCat("127.0.0.1:", port);
    config.store = "sqlite::memory:";
    config.catalogue = dir_ + "/catalogue.textproto";
    config.tokens = dir_ + "/tokens";
    config.metrics = "";
    config.agent_batches_per_second = 1000;
    if (!tls_dir.empty()) {
      config.tls_cert = tls_dir + "/tls.crt";
      config.tls_key = tls_dir + "/tls.key";
    }
    auto server = collector::CollectorServer::Create(config);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  ~Collector() {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string target() const { return absl::StrCat("127.0.0.1:", port()); }
  int port() const { return server_ ? server_->port() : 0; }
  collector::Store& store() { return server_->store(); }

 private:
  std::string dir_;
  std::unique_ptr<collector::CollectorServer> server_;
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = std::filesystem::temp_directory_path() /
             absl::StrCat("relayscope-spool-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()->random_seed());
    std::filesystem::remove_all(spool_);
  }
  void TearDown() override { std::filesystem::remove_all(spool_); }
  UploadOptions Options(const std::string& target) {
    UploadOptions options;
    options.target = target;
    options.insecure = true;
    options.token = kToken;
    options.spool_dir = spool_;
    options.deadline = absl::Seconds(3);
    options.attempts_per_batch = 10;
    return options;
  }
  size_t SpoolFiles() {
    if (!std::filesystem::exists(spool_)) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(spool_),
                                             std::filesystem::directory_iterator()));
  }
  std::string spool_;
};

TEST(MakeBatches, SplitsAttemptsAndSendsMetadataOnce) {
  auto batches = MakeBatches(Report("s", 25), 10);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].session().attempts_size(), 10);
  EXPECT_EQ(batches[2].session().attempts_size(), 5);
  EXPECT_EQ(batches[0].session().proxies_size(), 1);
  EXPECT_EQ(batches[1].session().proxies_size(), 0);
  EXPECT_EQ(batches[2].session().session_id(), "s");
  EXPECT_EQ(MakeBatches(Report("s", 0), 10).size(), 1u);  // the verdict still goes
}

TEST_F(UploaderTest, DeliversASessionAndAResendCountsAsDuplicates) {
  Collector collector;
  UploadResult first = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(first.error, "");
  EXPECT_EQ(first.delivered_batches, 3u);
  EXPECT_EQ(first.accepted, 25u);
  UploadResult again = Upload(Report("s-1", 25), Options(collector.target()));
  EXPECT_EQ(again.accepted, 0u);
  EXPECT_EQ(again.duplicates, 25u);
  EXPECT_EQ(*collector.store().CountAttempts(), 25u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(UploaderTest, CollectorDownSpoolsAndTheSpoolIsDeliveredInOrderExactlyOnce) {
  int port = 0;
  {
    Collector probe;  // find a free port, then free it: the collector is "down"
    port = probe.port();
  }
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", port));
  down.deadline = absl::Seconds(1);
  const absl::Time start = absl::Now();
  UploadResult spooled = Upload(Report("s-1", 25), down);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // the user is never held up long
  EXPECT_THAT(spooled.error, HasSubstr("unavailable"));
  EXPECT_EQ(spooled.spooled, 3u);
  EXPECT_EQ(SpoolFiles(), 3u);

  Collector collector(port);  // back
  UploadResult delivered = Upload(Report("s-2", 5), Options(collector.target()));
  EXPECT_EQ(delivered.error, "");
  EXPECT_EQ(delivered.delivered_from_spool, 3u);
  EXPECT_EQ(delivered.accepted, 30u);
  EXPECT_EQ(SpoolFiles(), 0u);
  EXPECT_EQ(*collector.store().CountAttempts(), 30u);
  auto session = collector.store().Session("agent-1", "s-1");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->attempts_size(), 25);
  EXPECT_EQ(session->verdict().status(), v1::VERDICT_STATUS_REACHABLE);
}

// A port where no collector listens (found by binding port 0, then freed).
int FreePort() {
  Collector probe;
  return probe.port();
}

TEST_F(UploaderTest, RetriesBackOffWithFullJitterThatDoublesEachTime) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Seconds(10);
  down.max_tries = 4;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_THAT(result.error, HasSubstr("unavailable"));
  EXPECT_EQ(result.spooled, 1u);
  // Four tries, three waits between them, each at most 200 ms doubled per try.
  const auto sleeps = clock.Sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  absl::Duration bound = absl::Milliseconds(200);
  for (const auto& [from, until] : sleeps) {
    EXPECT_GE(until - from, absl::ZeroDuration());
    EXPECT_LE(until - from, bound);
    bound *= 2;
  }
}

TEST_F(UploaderTest, NoWaitBetweenTriesReachesPastTheDeadline) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  const absl::Time start = clock.Now();
  UploadOptions down = Options(absl::StrCat("127.0.0.1:", FreePort()));
  down.clock = &clock;
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 50;
  UploadResult result = Upload(Report("s-1", 5), down);
  EXPECT_EQ(result.spooled, 1u);
  for (const auto& sleep : clock.Sleeps()) EXPECT_LT(sleep.second, start + down.deadline);
  EXPECT_LT(clock.Now(), start + down.deadline);
}

TEST_F(UploaderTest, SpoolStaysWithinItsBoundDroppingTheOldest) {
  UploadOptions down = Options("127.0.0.1:1");
  down.deadline = absl::Milliseconds(300);
  down.max_tries = 1;
  down.spool_max_bytes = 3000;
  uint64_t dropped = 0;
  for (int i = 0; i < 6; ++i) dropped += Upload(Report(absl::StrCat("s-", i), 25), down).dropped;
  EXPECT_GT(dropped, 0u);
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(spool_)) total += entry.file_size();
  EXPECT_LE(total, 3000u + 2000u);  // within the bound but for the newest batch
}

TEST_F(UploaderTest, WrongTokenIsNotRetriedAndKeepsTheBatches) {
  Collector collector;
  UploadOptions options = Options(collector.target());
  options.token = "wrong";
  const absl::Time start = absl::Now();
  UploadResult result = Upload(Report("s-1", 5), options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_THAT(result.error, HasSubstr("(16)"));  // UNAUTHENTICATED
  EXPECT_EQ(result.spooled, 1u);
  EXPECT_EQ(*collector.store().CountAttempts(), 0u);
}

// A hostile or broken "collector": a raw h2c server on loopback that answers
// every connection with the same hand-made HTTP/2 frames (HPACK literals
// without Huffman), whatever the agent sends. It stands for what a real
// gRPC server never sends, so the uploader's handling of it can be shown.
class CannedH2Server {
 public:
  struct Header {
    std::string name;
    std::string value;
  };
  // `headers` (":status" first), then `body` as one DATA frame (when not
  // empty), then `trailers` ending the stream (or END_STREAM on the DATA
  // frame / the headers when there are none).
  CannedH2Server(std::vector<Header> headers, std::string body, std::vector<Header> trailers)
      : headers_(std::move(headers)), body_(std::move(body)), trailers_(std::move(trailers)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedH2Server() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  int connections() const { return connections_; }

 private:
  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                           const std::string& payload) {
    std::string f;
    const auto n = static_cast<uint32_t>(payload.size());
    f.push_back(static_cast<char>((n >> 16) & 0xff));
    f.push_back(static_cast<char>((n >> 8) & 0xff));
    f.push_back(static_cast<char>(n & 0xff));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8)
      f.push_back(static_cast<char>((stream >> shift) & 0xff));
    return f + payload;
  }
  static std::string Hpack(const std::vector<Header>& headers) {
    std::string block;
    for (const Header& h : headers) {
      block.push_back('\0');  // literal without indexing, new name
      block.push_back(static_cast<char>(h.name.size()));
      block += h.name;
      block.push_back(static_cast<char>(h.value.size()));
      block += h.value;
    }
    return block;
  }
  // Reads what the agent sends for up to `for_time`, or until it closes.
  static bool Drain(int fd, absl::Duration for_time) {
    const absl::Time until = absl::Now() + for_time;
    char buffer[65536];
    while (absl::Now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      if (read(fd, buffer, sizeof(buffer)) <= 0) return false;
    }
    return true;
  }
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      ++connections_;
      Drain(client, absl::Milliseconds(100));  // the preface, SETTINGS, HEADERS, DATA
      const bool body = !body_.empty();
      const bool trailers = !trailers_.empty();
      std::string out = Frame(4, 0, 0, "") + Frame(4, 1, 0, "");  // SETTINGS, ACK
      out +=
          Frame(1, static_cast<uint8_t>(0x4 | (!body && !trailers ? 0x1 : 0)), 1, Hpack(headers_));
      if (body) out += Frame(0, trailers ? 0 : 1, 1, body_);
      if (trailers) out += Frame(1, 0x5, 1, Hpack(trailers_));
      EXPECT_EQ(write(client, out.data(), out.size()), static_cast<ssize_t>(out.size()));
      Drain(client, absl::Milliseconds(500));
      close(client);
    }
  }

  std::vector<Header> headers_;
  std::string body_;
  std::vector<Header> trailers_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

struct HostileCase {
  std::string name;
  std::vector<CannedH2Server::Header> headers;
  std::string body;
  std::vector<CannedH2Server::Header> trailers;
  std::string error;  // what the upload's error must say
};

std::string Ack(uint64_t batch_id) {
  v1::UploadResponse ack;
  ack.set_batch_id(batch_id);
  ack.set_accepted(5);
  return FrameMessage(ack.SerializeAsString());
}

const std::vector<CannedH2Server::Header> kGrpcHeaders = {{":status", "200"},
                                                          {"content-type", "application/grpc"}};
const std::vector<CannedH2Server::Header> kOk = {{"grpc-status", "0"}};

TEST_F(UploaderTest, HostileOrBrokenResponsesAreClearErrorsAndLoseNothing) {
  const std::vector<HostileCase> cases = {
      {"huge length", kGrpcHeaders, std::string("\0\x7f\xff\xff\xff", 5), kOk,
       "2147483647-byte message, beyond the bound of 4194304 bytes"},
      {"truncated", kGrpcHeaders, Ack(1).substr(0, 6), kOk, "a message cut short"},
      {"unparsable ack", kGrpcHeaders, FrameMessage("\xff\xff\xff"), kOk,
       "an ack that does not parse as UploadResponse"},
      {"wrong batch", kGrpcHeaders, Ack(7), kOk, "an ack for batch 7 where batch 1 was awaited"},
      {"no grpc-status", kGrpcHeaders, "", {{"x-other", "1"}}, "ended without a grpc-status"},
      {"http 503",
       {{":status", "503"}, {"content-type", "text/html"}},
       "<html>busy</html>",
       {},
       "HTTP status 503, not a gRPC answer (14)"},
      {"html page",
       {{":status", "200"}, {"content-type", "text/html"}},
       "<html>portal</html>",
       {},
       "content-type \"text/html\", not application/grpc"},
      {"refusal",
       {{":status", "200"},
        {"content-type", "application/grpc"},
        {"grpc-status", "16"},
        {"grpc-message", "bad%20token%3A%20revoked"}},
       "",
       {},
       "bad token: revoked (16)"},
  };
  for (const HostileCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::filesystem::remove_all(spool_);
    CannedH2Server server(c.headers, c.body, c.trailers);
    UploadOptions options = Options(server.target());
    options.max_tries = 2;
    UploadResult result = Upload(Report("s-1", 5), options);
    EXPECT_THAT(result.error,
                HasSubstr(absl::StrCat("collector ", server.target(), " unavailable: DIRECT: ")));
    EXPECT_THAT(result.error, HasSubstr(c.error));
    EXPECT_EQ(result.delivered_batches, 0u);
    EXPECT_EQ(result.spooled, 1u);
    EXPECT_EQ(SpoolFiles(), 1u);
    // A refusal a retry cannot fix is not retried; the rest are.
    EXPECT_EQ(server.connections(), c.name == "refusal" ? 1 : 2);
  }
}

// The canned server acks what it is sent: a good stream is delivered.
TEST_F(UploaderTest, CannedServerThatAcksIsDelivered) {
  CannedH2Server server(kGrpcHeaders, Ack(1), kOk);
  UploadResult result = Upload(Report("s-1", 5), Options(server.target()));
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.accepted, 5u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

// A self-signed certificate for 127.0.0.1 in `dir`, made by the openssl
// command as an operator would.
bool MakeCertificate(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string command = absl::StrCat(
      "/usr/bin/openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=upload-test "
      "-addext subjectAltName=IP:127.0.0.1 -keyout ",
      dir, "/tls.key -out ", dir, "/tls.crt >/dev/null 2>&1");
  // Before any collector of this test starts its threads; the only child.
  return std::system(command.c_str()) == 0;  // NOLINT(concurrency-mt-unsafe)
}

TEST_F(UploaderTest, TlsCollectorIsReachedOverAlpnH2WithItsCaAndRefusedWithout) {
  const std::string tls_dir = spool_ + "-tls";
  ASSERT_TRUE(MakeCertificate(tls_dir));
  Collector collector(0, tls_dir);
  UploadOptions options = Options(collector.target());
  options.insecure = false;
  options.deadline = absl::Seconds(2);
  options.max_tries = 1;

  // Not trusted (system roots): nothing goes in clear, the batch waits.
  UploadResult untrusted = Upload(Report("s-1", 5), options);
  EXPECT_THAT(untrusted.error, HasSubstr("DIRECT: "));
  EXPECT_THAT(untrusted.error, HasSubstr("certificate"));
  EXPECT_EQ(untrusted.spooled, 1u);
  // h2c to a TLS port is no way either.
  UploadOptions plain = Options(collector.target());
  plain.max_tries = 1;
  EXPECT_THAT(Upload(Report("s-1", 5), plain).error, HasSubstr("unavailable"));
  EXPECT_EQ(*collector.store().CountAttempts(), 0u);

  options.ca_file = tls_dir + "/tls.crt";
  UploadResult trusted = Upload(Report("s-1", 5), options);
  EXPECT_EQ(trusted.error, "");
  EXPECT_EQ(trusted.route, "DIRECT");
  EXPECT_EQ(trusted.accepted, 5u);
  EXPECT_EQ(trusted.duplicates, 10u);  // the two spooled copies of the same session went first
  EXPECT_EQ(trusted.delivered_from_spool, 2u);
  EXPECT_EQ(SpoolFiles(), 0u);
  EXPECT_EQ(*collector.store().CountAttempts(), 5u);
  std::filesystem::remove_all(tls_dir);
}

TEST_F(UploaderTest, ARouteThatFailsBeforeTheCollectorAnswersPassesToTheNext) {
  Collector collector;
  UploadOptions options = Options(collector.target());
  UploadRoute dead_proxy;
  dead_proxy.proxy.kind = v1::ROUTE_KIND_HTTP_CONNECT;
  dead_proxy.proxy.host = "127.0.0.1";
  dead_proxy.proxy.port = static_cast<uint16_t>(FreePort());
  options.routes = {dead_proxy, UploadRoute{}};
  UploadResult result = Upload(Report("s-1", 25), options);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.route, "DIRECT");
  EXPECT_EQ(result.accepted, 25u);

  // Every route failing: each is named with what it said.
  options.routes = {dead_proxy};
  options.max_tries = 1;
  UploadResult failed = Upload(Report("s-2", 5), options);
  EXPECT_THAT(
      failed.error,
      HasSubstr(absl::StrCat("collector ", collector.target(),
                             " unavailable: via http://127.0.0.1:", dead_proxy.proxy.port, ": ")));
  EXPECT_EQ(failed.route, "");
  EXPECT_EQ(failed.spooled, 1u);
}

}  // namespace
}  // namespace relayscope::agent
