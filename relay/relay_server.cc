#include "relay/relay_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errno_text.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "protocol/handshake/handshake.h"

namespace relayscope::relay {
namespace {

using handshake::Bytes;

std::string FormatSockaddr(const sockaddr_storage& storage) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
  inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(v4->sin_port));
}

enum class ReadResult { kOk, kEof, kTimeout, kError };

// Reads exactly `n` bytes before `deadline`.
ReadResult ReadFull(int fd, size_t n, absl::Time deadline, Bytes* out) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      out->resize(got);
      return ReadResult::kTimeout;
    }
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
    if (rc < 0 && errno != EINTR) return ReadResult::kError;
    if (rc <= 0) continue;
    const ssize_t r = recv(fd, out->data() + got, n - got, 0);
    if (r == 0) {
      out->resize(got);
      return ReadResult::kEof;
    }
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      out->resize(got);
      return ReadResult::kError;
    }
    got += static_cast<size_t>(r);
  }
  return ReadResult::kOk;
}

bool WriteFull(int fd, const Bytes& data, absl::Time deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1000))) <= 0) continue;
    const ssize_t w = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}

// Every result a handshake can end with; the metric has all of them from
// the start so dashboards see zeros rather than missing series.
constexpr const char* kResults[] = {
    "ok",         "truncated",        "timeout",         "invalid_group",
    "bad_y",      "bad_confirmation", "no_confirmation", "io_error",
    "overloaded", "internal"};

}  // namespace

struct RelayServer::Metrics {
  std::map<std::string, prometheus::Counter*> results;
  prometheus::Histogram* duration = nullptr;
  void Count(const std::string& result, absl::Duration elapsed) {
    if (auto it = results.find(result); it != results.end()) it->second->Increment();
    if (duration != nullptr) duration->Observe(absl::ToDoubleSeconds(elapsed));
  }
};

absl::StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(absl::string_view text) {
  std::string host;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": expected [v6-address]:port"));
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": expected host:port"));
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (host.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": bad host or port"));
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

absl::StatusOr<std::unique_ptr<RelayServer>> RelayServer::Start(
    const RelayOptions& options, const std::shared_ptr<prometheus::Registry>& registry) {
  if (options.listen.empty()) return absl::InvalidArgumentError("no address to listen on");
  std::unique_ptr<RelayServer> server(new RelayServer());
  server->options_ = options;
  server->metrics_ = std::make_unique<Metrics>();
  if (registry != nullptr) {
    auto& counters = prometheus::BuildCounter()
                         .Name("relayscope_relay_handshakes_total")
                         .Help("Relay handshakes by result.")
                         .Register(*registry);
    for (const char* result : kResults) {
      server->metrics_->results[result] = &counters.Add({{"result", result}});
    }
    server->metrics_->duration =
        &prometheus::BuildHistogram()
             .Name("relayscope_relay_handshake_duration_seconds")
             .Help("Time from accept to the end of the handshake.")
             .Register(*registry)
             .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                              0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  }
  for (const std::string& address : options.listen) {
    auto host_port = ParseHostPort(address);
    if (!host_port.ok()) return host_port.status();
    sockaddr_storage storage{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, host_port->first.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(host_port->second);
      len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host_port->first.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(host_port->second);
      len = sizeof(sockaddr_in6);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("\"", address, "\": not an IP literal"));
    }
    const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
        listen(fd, 512) != 0) {
      const int err = errno;
      if (fd >= 0) close(fd);
      for (int open_fd : server->listeners_) close(open_fd);
      server->listeners_.clear();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", address, ": ", ErrnoText(err)));
    }
    socklen_t bound_len = sizeof(storage);
    getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &bound_len);
    server->listeners_.push_back(fd);
    server->bound_.push_back(FormatSockaddr(storage));
  }
  RelayServer* raw = server.get();
  server->accept_thread_ = std::thread([raw] { raw->AcceptLoop(); });
  for (int i = 0; i < std::max(1, options.workers); ++i) {
    server->workers_.emplace_back([raw] { raw->WorkerLoop(); });
  }
  return server;
}

RelayServer::~RelayServer() { Shutdown(); }

void RelayServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    absl::MutexLock lock(&mu_);
    for (int fd : pending_) close(fd);
    pending_.clear();
  }
  for (std::thread& worker : workers_) worker.join();
  for (int fd : listeners_) close(fd);
}

void RelayServer::AcceptLoop() {
  std::vector<pollfd> polls;
  for (int fd : listeners_) polls.push_back({fd, POLLIN, 0});
  while (!stopping_.load()) {
    if (poll(polls.data(), polls.size(), 100) <= 0) continue;
    for (const pollfd& p : polls) {
      if (!(p.revents & POLLIN)) continue;
      const int client = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      absl::MutexLock lock(&mu_);
      if (static_cast<int>(pending_.size()) >= options_.max_pending) {
        close(client);
        metrics_->Count("overloaded", absl::ZeroDuration());
        continue;
      }
      pending_.push_back(client);
    }
  }
}

void RelayServer::WorkerLoop() {
  for (;;) {
    int fd = -1;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !pending_.empty() || stopping_.load();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
      if (pending_.empty()) {
        if (stopping_.load()) return;
        continue;
      }
      fd = pending_.front();
      pending_.pop_front();
    }
    Handle(fd);
    close(fd);
  }
}

void RelayServer::Handle(int fd) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.handshake_timeout;
  sockaddr_storage peer{}, local{};
  socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);

  std::string result;
  Bytes hello;
  switch (ReadFull(fd, handshake::kHelloSize, deadline, &hello)) {
    case ReadResult::kEof:
      result = "truncated";
      break;
    case ReadResult::kTimeout:
      result = "timeout";
      break;
    case ReadResult::kError:
      result = "io_error";
      break;
    case ReadResult::kOk:
      break;
  }
  if (result.empty()) {
    auto session = handshake::Server::Accept(hello);
    if (!session.ok()) {
      const handshake::Server::Error error = handshake::Server::ErrorOf(session.status());
      result = error == handshake::Server::Error::kInvalidGroup ? "invalid_group"
               : error == handshake::Server::Error::kBadY       ? "bad_y"
                                                                : "internal";
    } else if (!WriteFull(fd, (*session)->Reply(), deadline)) {
      result = "io_error";
    } else {
      Bytes confirmation;
      const ReadResult r = ReadFull(fd, handshake::kConfirmSize, deadline, &confirmation);
      result = r != ReadResult::kOk                           ? "no_confirmation"
               : (*session)->VerifyConfirmation(confirmation) ? "ok"
                                                              : "bad_confirmation";
    }
  }
  const absl::Duration elapsed = absl::Now() - start;
  metrics_->Count(result, elapsed);
  const std::string line =
      absl::StrCat("event=handshake peer=", FormatSockaddr(peer), " local=", FormatSockaddr(local),
                   " result=", result, " duration_ms=", absl::ToInt64Milliseconds(elapsed), "\n");
  absl::MutexLock lock(&log_mu_);
  std::fputs(line.c_str(), stderr);
}

}  // namespace relayscope::relay
