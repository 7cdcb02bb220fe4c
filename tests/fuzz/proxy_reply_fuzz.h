// Proxy replies as the agent meets them: HTTP CONNECT status lines and
// headers, SOCKS4 and SOCKS5 method/auth/connect replies. The agent does
// not parse these bytes itself: libcurl does (CONNECT_ONLY, see
// agent/attempt/transport.h), and OpenRoute turns libcurl's verdict into an
// outcome. So the smallest unit that parses them is OpenRoute itself, run
// against a fake proxy on loopback that answers every connection with the
// fuzz input and then closes its side.
//
// Invariants: the outcome is one of the closed set OpenRoute documents;
// a tunnel exactly when the outcome is OK; a failure names its phase; the
// detail never shows the proxy password, whatever the proxy echoed.
//
// Network-bound: each input is a loopback TCP connection and a libcurl
// handle, so it runs at thousands, not millions, of inputs per second;
// libcurl is Debian's (uninstrumented), so coverage feedback covers
// OpenRoute's classification only.
#ifndef TESTS_FUZZ_PROXY_REPLY_FUZZ_H_
#define TESTS_FUZZ_PROXY_REPLY_FUZZ_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/attempt/transport.h"
#include "tests/fuzz/fuzz_check.h"

namespace relayscope::fuzz {

inline constexpr char kProxyPassword[] = "Fuzz-Pa55word";

// Accepts on 127.0.0.1:<ephemeral>; each connection gets the current reply
// (then a half-close), and what the client sends is drained until it
// closes (so no RST ever discards the reply before it is read), for at
// most 5 s. One thread serves every connection with poll(): a thread per
// connection cost more than the rest of an input (stack mappings, ASan's
// thread bookkeeping) and halved the executions per second.
class FakeProxy {
 public:
  FakeProxy() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    FUZZ_CHECK(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    FUZZ_CHECK(getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    FUZZ_CHECK(listen(listener_, 64) == 0);
    std::thread([this] { Loop(); }).detach();
  }

  uint16_t port() const { return port_; }

  void SetReply(std::string reply) {
    std::lock_guard<std::mutex> lock(mutex_);
    reply_ = std::make_shared<const std::string>(std::move(reply));
  }

  // Waits (at most 5 s) until every connection so far is served and
  // closed, so each input frees what it allocated before the next one
  // (libFuzzer's leak check then stays quiet, and fast).
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait_for(lock, std::chrono::seconds(5), [this] { return serving_ == 0; });
  }

 private:
  struct Connection {
    int fd;
    std::shared_ptr<const std::string> reply;
    size_t sent = 0;
    bool half_closed = false;
    std::chrono::steady_clock::time_point deadline;
  };

  void Loop() {
    std::vector<Connection> connections;
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign(1, pollfd{listener_, POLLIN, 0});
      for (const Connection& c : connections) {
        fds.push_back(pollfd{c.fd, static_cast<short>(c.half_closed ? POLLIN : POLLIN | POLLOUT), 0});
      }
      if (poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR) continue;
      const auto now = std::chrono::steady_clock::now();
      // Serve (or time out) the connections first: fds[i + 1] is connections[i].
      size_t closed = 0;
      for (size_t i = 0; i < connections.size();) {
        Connection& c = connections[i];
        if (Step(c, fds[i + 1].revents) || now > c.deadline) {
          close(c.fd);
          fds.erase(fds.begin() + static_cast<long>(i) + 1);
          connections.erase(connections.begin() + static_cast<long>(i));
          ++closed;
        } else {
          ++i;
        }
      }
      if (fds[0].revents != 0) {
        for (int fd; (fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
          std::lock_guard<std::mutex> lock(mutex_);
          connections.push_back(Connection{fd, reply_, 0, false, now + std::chrono::seconds(5)});
          ++serving_;
        }
      }
      if (closed > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        serving_ -= static_cast<int>(closed);
        idle_.notify_all();
      }
    }
  }

  // Sends what the socket takes, half-closes after the reply, drains; true
  // once the client has closed (or the connection broke).
  static bool Step(Connection& c, short revents) {
    if (revents & (POLLERR | POLLNVAL)) return true;
    while (!c.half_closed) {
      if (c.sent == c.reply->size()) {
        shutdown(c.fd, SHUT_WR);
        c.half_closed = true;
        break;
      }
      const ssize_t n = send(c.fd, c.reply->data() + c.sent, c.reply->size() - c.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return true;
      c.sent += static_cast<size_t>(n);
    }
    char sink[4096];
    for (;;) {
      const ssize_t n = recv(c.fd, sink, sizeof(sink), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      return true;  // EOF, or a reset: the client is done
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable idle_;
  int serving_ = 0;
  std::shared_ptr<const std::string> reply_ = std::make_shared<const std::string>();
};

inline FakeProxy& TheProxy() {
  static FakeProxy* proxy = new FakeProxy();
  return *proxy;
}

inline bool IsOpenRouteOutcome(v1::Outcome outcome) {
  switch (outcome) {
    case v1::OUTCOME_OK:
    case v1::OUTCOME_DNS_FAILURE:
    case v1::OUTCOME_CONNECT_TIMEOUT:
    case v1::OUTCOME_CONNECTION_REFUSED:
    case v1::OUTCOME_HOST_UNREACHABLE:
    case v1::OUTCOME_NETWORK_UNREACHABLE:
    case v1::OUTCOME_CONNECTION_RESET:
    case v1::OUTCOME_PROXY_ERROR:
    case v1::OUTCOME_PROXY_AUTH_REQUIRED:
    case v1::OUTCOME_PROXY_AUTH_FAILED:
    case v1::OUTCOME_TLS_FAILURE:
      return true;
    default:
      return false;
  }
}

// Opens a route to relay.example:443 through the fake proxy, which answers
// `reply`; `with_credentials` adds a user name and kProxyPassword.
inline void OpenThroughFakeProxy(v1::RouteKind kind, bool remote_dns, bool with_credentials,
                                 std::string reply) {
  FakeProxy& proxy = TheProxy();
  proxy.SetReply(std::move(reply));
  agent::ProxyEndpoint endpoint;
  endpoint.kind = kind;
  endpoint.host = "127.0.0.1";
  endpoint.port = proxy.port();
  endpoint.remote_dns = remote_dns;
  if (with_credentials) {
    endpoint.username = "fuzzer";
    endpoint.password = kProxyPassword;
  }
  // The relay is an IP literal unless the proxy resolves names (socks4a,
  // socks5h): no DNS query ever leaves the machine.
  const agent::Destination destination{remote_dns ? "relay.example" : "192.0.2.10", 443};
  agent::OpenResult result =
      agent::OpenRoute(destination, endpoint, absl::Now() + absl::Seconds(2));
  const bool has_tunnel = result.tunnel != nullptr;
  result.tunnel.reset();  // closes the connection: the proxy's side ends
  proxy.WaitIdle();
  FUZZ_CHECK(IsOpenRouteOutcome(result.outcome));
  FUZZ_CHECK((result.outcome == v1::OUTCOME_OK) == has_tunnel);
  if (result.outcome != v1::OUTCOME_OK) {
    FUZZ_CHECK(result.failed_phase != v1::PHASE_UNSPECIFIED);
    FUZZ_CHECK(!result.detail.empty());
  }
  FUZZ_CHECK(result.detail.find(kProxyPassword) == std::string::npos);
  FUZZ_CHECK(result.proxy_status <= 999);
}

}  // namespace relayscope::fuzz

#endif  // TESTS_FUZZ_PROXY_REPLY_FUZZ_H_
