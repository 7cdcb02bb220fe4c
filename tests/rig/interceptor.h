// A middlebox on a relay port: what a relay client meets when something
// other than the relay answers.
//
// The default is the seed's transparent HTTP proxy: whatever bytes arrive,
// it answers "HTTP/1.0 400 Bad Request" with an HTML page titled
// "Request Error" and closes. Other modes: accept and never answer (a
// black hole after the TCP handshake), close at once, or answer fixed bytes
// (a truncated or altered relay reply), reset the connection mid-way (a
// relay killed during the handshake), or answer and then hold the
// connection open in silence (a proxy that opens a tunnel to nowhere).
#ifndef TESTS_RIG_INTERCEPTOR_H_
#define TESTS_RIG_INTERCEPTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/rig/net.h"

namespace relayscope::rig {

class Interceptor {
 public:
  enum class Mode {
    kHttpError,         // read what comes, answer `reply`, close
    kSilent,            // accept, read and discard, never answer
    kCloseImmediately,  // accept and close without reading
    kFixedReply,        // read `read_bytes`, answer `reply` verbatim, close
    kReset,             // read `read_bytes`, then abort with a TCP reset
    kAnswerThenHold,    // read `read_bytes`, answer `reply`, then relay
                        // nothing and keep the connection open (a proxy
                        // that says "200 Connection established" and holds)
  };
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;
    Mode mode = Mode::kHttpError;
    std::string status_line = "HTTP/1.0 400 Bad Request";
    std::string title = "Request Error";
    // kFixedReply: the bytes to answer; kHttpError: built from the above
    // when empty.
    std::string reply;
    // How many bytes to wait for before answering (at most `read_timeout`).
    size_t read_bytes = 1;
    absl::Duration read_timeout = absl::Seconds(2);
  };

  // The seed's 400 page for `status_line` and `title`.
  static std::string HttpErrorPage(absl::string_view status_line, absl::string_view title);

  // Starts listening. UNAVAILABLE if the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Interceptor>> Start(Options options);

  uint16_t port() const { return listener_->port(); }
  int connections() const { return listener_->accepted(); }

 private:
  explicit Interceptor(std::unique_ptr<Listener> listener) : listener_(std::move(listener)) {}
  std::unique_ptr<Listener> listener_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_INTERCEPTOR_H_
