// The few socket calls the agent makes itself (the attempt transport's
// first-hop connect, the resolver, the literal-address checks), over BSD
// sockets or Winsock 2. Errors are errno values on both platforms
// (WSAECONNREFUSED arrives as ECONNREFUSED), so the outcomes and texts
// built from them are the same on Linux and Windows. socket_posix.cc and
// socket_windows.cc implement it; CMake compiles the one for the target.
#ifndef COMMON_SOCKET_H_
#define COMMON_SOCKET_H_

#ifdef _WIN32
#include <winsock2.h>  // before windows.h, which would pull in the old winsock.h
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <cstdint>
#include <string>

namespace relayscope {

#ifdef _WIN32
using Socket = SOCKET;
inline constexpr Socket kNoSocket = INVALID_SOCKET;
#else
using Socket = int;
inline constexpr Socket kNoSocket = -1;
#endif

// Winsock needs WSAStartup before any socket or name call: once per process,
// kept for its life. Nothing on POSIX. Every function here calls it.
void StartSockets();

// A non-blocking socket that a child process does not inherit; kNoSocket
// with *error set when the system refuses.
Socket OpenNonBlockingSocket(int family, int type, int protocol, int* error);

// Starts a connect on a non-blocking socket: 0 when it completed at once,
// EINPROGRESS when it is under way, else the error.
int StartConnect(Socket socket, const sockaddr* address, int length);

// Waits up to `timeout_ms` until `socket` can be written (`for_write`) or
// read. True when it can, or when the wait itself failed (the next call on
// the socket then says why); false when the time ran out or a signal
// interrupted the wait.
bool WaitSocket(Socket socket, bool for_write, int64_t timeout_ms);

// The socket's pending error (SO_ERROR): 0 once a connect succeeded.
int PendingSocketError(Socket socket);

void CloseSocket(Socket socket);

// The error of the last socket call on this thread (errno, or Winsock's
// WSAGetLastError as the errno value of the same meaning).
int LastSocketError();

// A socket error's errno name ("ECONNREFUSED") and text ("Connection
// refused"), the same on every platform (the Windows C library knows no
// text for the socket errors); "" for 0.
std::string SocketErrorName(int err);
std::string SocketErrorText(int err);

}  // namespace relayscope

#endif  // COMMON_SOCKET_H_
