#include "relay/relay_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/handshake/handshake.h"
#include "tests/support/wait_until.h"

namespace relayscope::relay {
namespace {

using handshake::Bytes;

int Connect(const std::string& bound) {
  auto host_port = ParseHostPort(bound);
  EXPECT_TRUE(host_port.ok());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(host_port->second);
  inet_pton(AF_INET, host_port->first.c_str(), &addr.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

Bytes ReadBytes(int fd, size_t n, absl::Duration timeout) {
  Bytes out;
  const absl::Time deadline = absl::Now() + timeout;
  uint8_t buf[1024];
  while (out.size() < n && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.insert(out.end(), buf, buf + r);
  }
  return out;
}

// A full client handshake over TCP; OK once the relay's reply verified.
absl::Status Handshake(const std::string& bound) {
  auto client = handshake::Client::Create();
  EXPECT_TRUE(client.ok());
  const int fd = Connect(bound);
  EXPECT_EQ(send(fd, (*client)->Hello().data(), (*client)->Hello().size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(handshake::kHelloSize));
  Bytes reply = ReadBytes(fd, handshake::kReplySize, absl::Seconds(5));
  absl::StatusOr<Bytes> confirmation = (*client)->VerifyReply(reply);
  if (confirmation.ok()) {
    send(fd, confirmation->data(), confirmation->size(), MSG_NOSIGNAL);
    ReadBytes(fd, 1, absl::Seconds(2));  // the relay closes after confirming
  }
  close(fd);
  return confirmation.status();
}

double Count(prometheus::Registry& registry, const std::string& result) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "relayscope_relay_handshakes_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "result" && label.value == result) return metric.counter.value;
      }
    }
  }
  return -1;
}

// Counters are bumped after the socket closes; wait (bounded) for them.
double WaitForCount(prometheus::Registry& registry, const std::string& result, double want) {
  double value = 0;
  test::WaitUntil(
      [&] {
        value = Count(registry, result);
        return value >= want;
      },
      absl::Seconds(3), absl::Milliseconds(5));
  return value;
}

class RelayServerTest : public ::testing::Test {
 protected:
  void StartRelay(absl::Duration timeout = absl::Seconds(5)) {
    RelayOptions options;
    options.listen = {"127.0.0.1:0"};
    options.handshake_timeout = timeout;
    auto server = RelayServer::Start(options, registry_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    bound_ = server_->bound().front();
  }
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<RelayServer> server_;
  std::string bound_;
};

TEST_F(RelayServerTest, CompletesAHandshakeOverTcpAndCountsIt) {
  StartRelay();
  EXPECT_EQ(Count(*registry_, "ok"), 0);  // every result series exists from the start
  const absl::Status handshake = Handshake(bound_);
  EXPECT_TRUE(handshake.ok()) << handshake;
  EXPECT_EQ(WaitForCount(*registry_, "ok", 1), 1);
}

TEST_F(RelayServerTest, GarbageGetsNoReplyAndIsCountedAsInvalidGroup) {
  StartRelay();
  const int fd = Connect(bound_);
  Bytes zeros(handshake::kHelloSize, 0);
  send(fd, zeros.data(), zeros.size(), MSG_NOSIGNAL);
  EXPECT_TRUE(ReadBytes(fd, 1, absl::Seconds(2)).empty());  // closed, no reply
  close(fd);
  EXPECT_EQ(WaitForCount(*registry_, "invalid_group", 1), 1);
}

TEST_F(RelayServerTest, TruncatedHelloIsCountedAsTruncated) {
  StartRelay();
  const int fd = Connect(bound_);
  Bytes some(100, 7);
  send(fd, some.data(), some.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  EXPECT_TRUE(ReadBytes(fd, 1, absl::Seconds(2)).empty());
  close(fd);
  EXPECT_EQ(WaitForCount(*registry_, "truncated", 1), 1);
}

TEST_F(RelayServerTest, SilentClientIsDroppedAtTheDeadline) {
  StartRelay(absl::Milliseconds(300));
  const int fd = Connect(bound_);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(ReadBytes(fd, 1, absl::Seconds(3)).empty());
  const absl::Duration held = absl::Now() - start;
  close(fd);
  EXPECT_GE(held, absl::Milliseconds(250));
  EXPECT_LT(held, absl::Milliseconds(1500));
  EXPECT_EQ(WaitForCount(*registry_, "timeout", 1), 1);
}

TEST_F(RelayServerTest, ServesFiftyConcurrentClients) {
  StartRelay();
  constexpr int kClients = 50;
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      if (Handshake(bound_).ok()) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 50);
  EXPECT_EQ(WaitForCount(*registry_, "ok", 50), 50);
}

TEST_F(RelayServerTest, ShutdownIsPromptAndIdempotent) {
  StartRelay();
  const absl::Time start = absl::Now();
  server_->Shutdown();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(RelayServer, UnbindableAddressIsAClearError) {
  RelayOptions options;
  options.listen = {"192.0.2.1:8200"};  // TEST-NET-1: not ours, cannot bind
  auto server = RelayServer::Start(options, nullptr);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(server.status().message()), ::testing::HasSubstr("192.0.2.1:8200"));
}

TEST(ParseHostPort, AcceptsIpv4AndBracketedIpv6AndRejectsTheRest) {
  EXPECT_EQ(ParseHostPort("127.0.0.1:8200")->second, 8200);
  EXPECT_EQ(ParseHostPort("[::1]:443")->first, "::1");
  EXPECT_FALSE(ParseHostPort("::1:443").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseHostPort(":80").ok());
}

}  // namespace
}  // namespace relayscope::relay
