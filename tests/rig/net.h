// Network helpers for the test rig: a private network namespace per test,
// bounded TCP connects, and in-process listeners (echo, interceptor).
//
// Tests call EnterPrivateNetworkNamespace() first (RigTest does it), so all
// traffic stays inside a namespace the test created and that dies with it.
#ifndef TESTS_RIG_NET_H_
#define TESTS_RIG_NET_H_

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace relayscope::rig {

// Moves the calling thread (and every process it forks afterwards) into a
// new network namespace with only `lo`, brought up; 127.0.0.0/8 and ::1 work
// there without configuration. Call it before starting threads that must
// live in the namespace: unshare(CLONE_NEWNET) affects the calling thread
// only. PERMISSION_DENIED when not root.
absl::Status EnterPrivateNetworkNamespace();

// Connects to a literal IPv4/IPv6 address before `deadline`. Returns the
// connected (blocking) socket; DEADLINE_EXCEEDED on timeout, UNAVAILABLE
// with the errno name ("ECONNREFUSED: ...") otherwise.
absl::StatusOr<int> ConnectWithDeadline(absl::string_view address, uint16_t port,
                                        absl::Time deadline);

// Fills `storage` from a literal address and port. INVALID_ARGUMENT if the
// address is not a literal.
absl::StatusOr<socklen_t> ToSockaddr(absl::string_view address, uint16_t port,
                                     sockaddr_storage* storage);

// Reads until `want` bytes, EOF or `deadline`; returns what arrived.
std::string ReadUpTo(int fd, size_t want, absl::Time deadline);
// Writes all of `data` (blocking). False on error.
bool WriteAll(int fd, absl::string_view data);

// An in-process TCP listener. Each accepted connection is handed to the
// handler on its own thread (at most `max_connections` at once; more are
// closed at once). The handler owns nothing: the listener closes the socket
// when the handler returns. `stopping` turns true when the listener stops;
// handlers that wait must poll it.
class Listener {
 public:
  using Handler = std::function<void(int fd, const std::atomic<bool>& stopping)>;

  // Binds address:port (port 0 picks a free port). UNAVAILABLE if it
  // cannot bind.
  static absl::StatusOr<std::unique_ptr<Listener>> Start(absl::string_view address, uint16_t port,
                                                         Handler handler, int max_connections = 64);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }
  // Stops accepting, signals handlers and joins them. Idempotent.
  void Stop();

 private:
  Listener(int fd, std::string address, uint16_t port, Handler handler, int max_connections);
  void AcceptLoop();

  int fd_;
  std::string address_;
  uint16_t port_;
  Handler handler_;
  int max_connections_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::vector<std::thread> handlers_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;
};

// A listener that echoes every byte back until the peer closes.
absl::StatusOr<std::unique_ptr<Listener>> StartEchoListener(absl::string_view address,
                                                            uint16_t port = 0);

}  // namespace relayscope::rig

#endif  // TESTS_RIG_NET_H_
