// A peer that has already answered: a loopback TCP connection made and
// accepted by the calling thread, whose accepted end holds a canned reply
// and then end of stream. For CurlTransport's FirstHopConnector: a proxy's
// reply reaches libcurl with no listener thread, no poll loop and no
// context switch (the fuzz targets for proxy replies run twice as fast as
// with a served listener, and unit tests need no fixture).
//
// What the client sends stays unread in the accepted end's receive buffer
// (a CONNECT request or a SOCKS greeting is far smaller than it); the
// kernel delivers the rest of a reply larger than the client's window as
// the client reads. Header-only: the fuzz build links no rig library.
#ifndef TESTS_RIG_CANNED_PEER_H_
#define TESTS_RIG_CANNED_PEER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace relayscope::rig {

class CannedPeer {
 public:
  // Replies past this are cut: libcurl reads at most 100 KiB of CONNECT
  // headers, and the whole reply must fit in the send buffer at once.
  static constexpr size_t kMaxReply = 128 << 10;

  static absl::StatusOr<std::unique_ptr<CannedPeer>> Create(absl::string_view reply) {
    static const int listener = OpenListener();
    static const sockaddr_in address = ListenerAddress(listener);
    if (listener < 0) return Failure("listen on 127.0.0.1");
    reply = reply.substr(0, kMaxReply);
    auto peer = std::unique_ptr<CannedPeer>(new CannedPeer());
    // Non-blocking, like CurlTransport's own connect: libcurl then calls
    // connect() again, which reports the completed connect (0) once; after
    // a blocking connect() it would fail with EISCONN.
    peer->client_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (peer->client_ < 0) return Failure("socket");
    if (connect(peer->client_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
        errno != EINPROGRESS) {
      return Failure("connect to 127.0.0.1");
    }
    peer->server_ = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (peer->server_ < 0) return Failure("accept");
    constexpr int kBuffer = 1 << 20;
    setsockopt(peer->server_, SOL_SOCKET, SO_SNDBUF, &kBuffer, sizeof(kBuffer));
    for (size_t sent = 0; sent < reply.size();) {
      const ssize_t n = send(peer->server_, reply.data() + sent, reply.size() - sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) return Failure("send the reply");
      sent += static_cast<size_t>(n);
    }
    if (shutdown(peer->server_, SHUT_WR) != 0) return Failure("shutdown");
    return peer;
  }

  ~CannedPeer() {
    if (client_ >= 0) close(client_);
    if (server_ >= 0) close(server_);
  }
  CannedPeer(const CannedPeer&) = delete;
  CannedPeer& operator=(const CannedPeer&) = delete;

  // The client's end, handed over once (a FirstHopConnector's answer);
  // whoever takes it closes it. A second call fails with ECONNREFUSED.
  int TakeClientEnd() {
    const int fd = client_;
    client_ = -1;
    if (fd < 0) errno = ECONNREFUSED;
    return fd;
  }

 private:
  CannedPeer() = default;

  static absl::Status Failure(absl::string_view what) {
    return absl::InternalError(absl::StrCat("canned peer: ", what, ": ", std::strerror(errno)));
  }

  // 127.0.0.1:<ephemeral>, for the life of the process; a connect to it
  // completes into the backlog at once, so the same thread accepts it.
  static int OpenListener() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd, 16) != 0) {
      if (fd >= 0) close(fd);
      return -1;
    }
    return fd;
  }

  static sockaddr_in ListenerAddress(int listener) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    if (listener >= 0) getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    return address;
  }

  int client_ = -1;
  int server_ = -1;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_CANNED_PEER_H_
