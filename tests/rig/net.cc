#include "tests/rig/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace relayscope::rig {
namespace {

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(name ? name : "E?", ": ", std::strerror(err));
}

int MillisUntil(absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

}  // namespace

absl::Status EnterPrivateNetworkNamespace() {
  if (unshare(CLONE_NEWNET) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("unshare(CLONE_NEWNET): ", ErrnoText(errno), " (needs root)"));
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  const int err = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("bringing lo up: ", ErrnoText(err)));
  return absl::OkStatus();
}

absl::StatusOr<socklen_t> ToSockaddr(absl::string_view address, uint16_t port,
                                     sockaddr_storage* storage) {
  *storage = {};
  const std::string text(address);
  auto* v4 = reinterpret_cast<sockaddr_in*>(storage);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return static_cast<socklen_t>(sizeof(sockaddr_in));
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(storage);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return static_cast<socklen_t>(sizeof(sockaddr_in6));
  }
  return absl::InvalidArgumentError(absl::StrCat("not an IP literal: ", address));
}

absl::StatusOr<int> ConnectWithDeadline(absl::string_view address, uint16_t port,
                                        absl::Time deadline) {
  sockaddr_storage storage;
  auto len = ToSockaddr(address, port, &storage);
  if (!len.ok()) return len.status();
  const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&storage), *len);
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = poll(&p, 1, MillisUntil(deadline));
    if (rc == 0) {
      close(fd);
      return absl::DeadlineExceededError(
          absl::StrCat("connect to ", address, ":", port, " timed out"));
    }
    socklen_t err_len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  }
  if (err != 0) {
    close(fd);
    return absl::UnavailableError(
        absl::StrCat(ErrnoText(err), " connecting to ", address, ":", port));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string ReadUpTo(int fd, size_t want, absl::Time deadline) {
  std::string out;
  char buf[4096];
  while (out.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, MillisUntil(deadline)) <= 0) break;
    const ssize_t n = read(fd, buf, std::min(sizeof(buf), want - out.size()));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Start(absl::string_view address, uint16_t port,
                                                          Handler handler, int max_connections) {
  sockaddr_storage storage;
  auto len = ToSockaddr(address, port, &storage);
  if (!len.ok()) return len.status();
  const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), *len) != 0 || listen(fd, 128) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ":", port, ": ", ErrnoText(err)));
  }
  socklen_t bound_len = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &bound_len);
  const uint16_t bound =
      ntohs(storage.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return std::unique_ptr<Listener>(
      new Listener(fd, std::string(address), bound, std::move(handler), max_connections));
}

Listener::Listener(int fd, std::string address, uint16_t port, Handler handler, int max_connections)
    : fd_(fd),
      address_(std::move(address)),
      port_(port),
      handler_(std::move(handler)),
      max_connections_(max_connections) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

Listener::~Listener() { Stop(); }

void Listener::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++accepted_;
    absl::MutexLock lock(&mu_);
    if (active_ >= max_connections_) {
      close(client);
      continue;
    }
    ++active_;
    handlers_.emplace_back([this, client] {
      handler_(client, stopping_);
      close(client);
      absl::MutexLock done(&mu_);
      --active_;
    });
  }
}

void Listener::Stop() {
  if (stopping_.exchange(true)) return;
  accept_thread_.join();
  close(fd_);
  std::vector<std::thread> handlers;
  {
    absl::MutexLock lock(&mu_);
    handlers.swap(handlers_);
  }
  for (std::thread& t : handlers) t.join();
}

absl::StatusOr<std::unique_ptr<Listener>> StartEchoListener(absl::string_view address,
                                                            uint16_t port) {
  return Listener::Start(address, port, [](int fd, const std::atomic<bool>& stopping) {
    char buf[4096];
    while (!stopping.load()) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0 || !WriteAll(fd, absl::string_view(buf, static_cast<size_t>(n)))) return;
    }
  });
}

}  // namespace relayscope::rig
