#include "tests/rig/interceptor.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace relayscope::rig {

std::string Interceptor::HttpErrorPage(absl::string_view status_line, absl::string_view title) {
  // Shaped like the reply in the original technote's log.
  const std::string body = absl::StrCat(
      "<HTML><HEAD>\n<TITLE>", title, "</TITLE>\n</HEAD><BODY>\n<H1>", title,
      "</H1>\nYour request could not be processed. Request could not be handled\n"
      "<P>\nThis could be caused by a misconfiguration, or possibly a malformed request.\n"
      "</BODY></HTML>\n");
  return absl::StrCat(status_line, "\r\nServer: relayscope-rig-interceptor\r\n",
                      "Content-Type: text/html\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

absl::StatusOr<std::unique_ptr<Interceptor>> Interceptor::Start(Options options) {
  if (options.mode == Mode::kHttpError && options.reply.empty()) {
    options.reply = HttpErrorPage(options.status_line, options.title);
  }
  auto handler = [options](int fd, const std::atomic<bool>& stopping) {
    switch (options.mode) {
      case Mode::kCloseImmediately:
        return;
      case Mode::kAnswerThenHold:
        ReadUpTo(fd, options.read_bytes, absl::Now() + options.read_timeout);
        WriteAll(fd, options.reply);
        [[fallthrough]];
      case Mode::kSilent: {
        char buf[4096];
        while (!stopping.load()) {
          pollfd p{fd, POLLIN, 0};
          if (poll(&p, 1, 50) <= 0) continue;
          if (read(fd, buf, sizeof(buf)) <= 0) return;
        }
        return;
      }
      case Mode::kReset: {
        ReadUpTo(fd, options.read_bytes, absl::Now() + options.read_timeout);
        // SO_LINGER with a zero timeout turns close() into a RST.
        const linger abort_on_close{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
        return;
      }
      case Mode::kHttpError:
      case Mode::kFixedReply:
        ReadUpTo(fd, options.read_bytes, absl::Now() + options.read_timeout);
        WriteAll(fd, options.reply);
        shutdown(fd, SHUT_WR);
        // Let the peer read the reply before the socket closes (a close with
        // unread input would send RST and could destroy the reply).
        ReadUpTo(fd, 1 << 16, absl::Now() + absl::Milliseconds(200));
        return;
    }
  };
  auto listener = Listener::Start(options.address, options.port, std::move(handler));
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<Interceptor>(new Interceptor(*std::move(listener)));
}

}  // namespace relayscope::rig
