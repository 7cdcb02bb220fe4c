#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "common/socket.h"

namespace relayscope {

void StartSockets() {}

Socket OpenNonBlockingSocket(int family, int type, int protocol, int* error) {
  const Socket s = ::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (s < 0) *error = errno;
  return s;
}

int StartConnect(Socket socket, const sockaddr* address, int length) {
  if (::connect(socket, address, static_cast<socklen_t>(length)) == 0) return 0;
  return errno;
}

bool WaitSocket(Socket socket, bool for_write, int64_t timeout_ms) {
  pollfd p{socket, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  const int rc = ::poll(&p, 1, static_cast<int>(timeout_ms));
  return rc > 0 || (rc < 0 && errno != EINTR);
}

int PendingSocketError(Socket socket) {
  int err = 0;
  socklen_t length = sizeof(err);
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, &err, &length) != 0) return errno;
  return err;
}

void CloseSocket(Socket socket) { ::close(socket); }

int LastSocketError() { return errno; }

}  // namespace relayscope
