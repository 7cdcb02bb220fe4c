#include <cerrno>
#include <mutex>

#include "common/socket.h"

namespace relayscope {
namespace {

// Winsock's error codes as the errno values of the same meaning, which the
// outcomes (ConnectFailureOutcome) and texts (SocketErrorName) are written for.
int ToErrno(int wsa) {
  switch (wsa) {
    case WSAECONNREFUSED:
      return ECONNREFUSED;
    case WSAECONNRESET:
      return ECONNRESET;
    case WSAECONNABORTED:
      return ECONNABORTED;
    case WSAETIMEDOUT:
      return ETIMEDOUT;
    case WSAEHOSTUNREACH:
    case WSAEHOSTDOWN:
      return EHOSTUNREACH;
    case WSAENETUNREACH:
    case WSAENETDOWN:
      return ENETUNREACH;
    case WSAEWOULDBLOCK:
    case WSAEINPROGRESS:
      return EINPROGRESS;
    case WSAEALREADY:
      return EALREADY;
    case WSAEISCONN:
      return EISCONN;
    case WSAEADDRNOTAVAIL:
      return EADDRNOTAVAIL;
    case WSAEAFNOSUPPORT:
      return EAFNOSUPPORT;
    case WSAEACCES:
      return EACCES;
    case WSAEINTR:
      return EINTR;
    case WSAEMFILE:
      return EMFILE;
    case WSAENOBUFS:
      return ENOBUFS;
    default:
      return wsa;  // no errno of that meaning: Winsock's own number
  }
}

}  // namespace

void StartSockets() {
  static std::once_flag once;
  std::call_once(once, [] {
    WSADATA data;
    WSAStartup(MAKEWORD(2, 2), &data);
  });
}

Socket OpenNonBlockingSocket(int family, int type, int protocol, int* error) {
  StartSockets();
  // WSA_FLAG_NO_HANDLE_INHERIT: the PAC sandbox child must not get it.
  const Socket s = WSASocketW(family, type, protocol, nullptr, 0,
                              WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    *error = ToErrno(WSAGetLastError());
    return s;
  }
  u_long non_blocking = 1;
  if (ioctlsocket(s, FIONBIO, &non_blocking) != 0) {
    *error = ToErrno(WSAGetLastError());
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

int StartConnect(Socket socket, const sockaddr* address, int length) {
  if (::connect(socket, address, length) == 0) return 0;
  return ToErrno(WSAGetLastError());
}

bool WaitSocket(Socket socket, bool for_write, int64_t timeout_ms) {
  // select, not WSAPoll: before Windows 10 2004 WSAPoll never reports a
  // connect that failed. A failed connect is in the exception set.
  fd_set ready;
  fd_set failed;
  FD_ZERO(&ready);
  FD_ZERO(&failed);
  FD_SET(socket, &ready);
  FD_SET(socket, &failed);
  timeval timeout{static_cast<long>(timeout_ms / 1000),
                  static_cast<long>(timeout_ms % 1000) * 1000};
  const int rc =
      ::select(0, for_write ? nullptr : &ready, for_write ? &ready : nullptr, &failed, &timeout);
  return rc != 0;
}

int PendingSocketError(Socket socket) {
  int err = 0;
  int length = sizeof(err);
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &length) != 0) {
    return ToErrno(WSAGetLastError());
  }
  return ToErrno(err);
}

void CloseSocket(Socket socket) { closesocket(socket); }

int LastSocketError() { return ToErrno(WSAGetLastError()); }

}  // namespace relayscope
