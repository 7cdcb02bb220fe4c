// relayscope-middlebox: what a relay client meets on a port when something
// other than the relay is in the way, for the local demo and for rehearsing
// alerts and runbooks. Needs no root and touches no firewall.
//
//   --mode=intercept  a transparent HTTP proxy: whatever arrives is answered
//                     "HTTP/1.0 400 Bad Request" with a page titled
//                     "Request Error" (as the seed site's proxy did), then
//                     the connection is closed.
//   --mode=blackhole  a dropped port: the listening socket's accept queue is
//                     kept full and never drained, so the kernel drops every
//                     new SYN and clients time out, as behind a DROP rule.
//   --mode=tls        a TLS server (the demo's plugin download server): the
//                     handshake with --cert/--key (OpenSSL), a one-line
//                     HTTP answer, close. Give it a genuine certificate, or
//                     one from another CA to rehearse TLS interception.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/errno_text.h"
#include "common/files.h"

ABSL_FLAG(std::string, listen, "", "address:port to listen on (IPv4), e.g. 127.0.73.1:8080");
ABSL_FLAG(std::string, mode, "intercept", "intercept | blackhole | tls");
ABSL_FLAG(std::string, cert, "", "--mode=tls: the certificate chain (PEM, leaf first)");
ABSL_FLAG(std::string, key, "", "--mode=tls: the certificate's private key (PEM)");
ABSL_FLAG(std::string, ready_file, "", "Written once listening: listen=<address:port>");

namespace {

constexpr char kPage[] =
    "<html><head><title>Request Error</title></head><body><h1>Request Error</h1>"
    "<p>Your request could not be processed. Request could not be handled.</p>"
    "<p>This could be caused by a misconfiguration, or possibly a malformed request.</p>"
    "</body></html>\n";
constexpr int kMaxConnections = 64;

std::atomic<int> open_connections{0};

int Fail(const std::string& message) {
  fprintf(stderr, "relayscope-middlebox: %s\n", message.c_str());
  return 1;
}

// Reads what the client sends (at most 4 KiB, at most 1 s), answers the
// proxy's error page, closes.
void Intercept(int fd) {
  char buffer[4096];
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 1000) > 0) (void)!read(fd, buffer, sizeof(buffer));
  const std::string reply = absl::StrCat(
      "HTTP/1.0 400 Bad Request\r\nServer: middlebox\r\nContent-Type: text/html\r\n"
      "Content-Length: ",
      sizeof(kPage) - 1, "\r\nConnection: close\r\n\r\n", kPage);
  (void)!send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  close(fd);
  --open_connections;
}

// The TLS handshake (at most 2 s of waiting for the client), a one-line
// answer, close.
void ServeTls(SSL_CTX* ctx, int fd) {
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  SSL* ssl = SSL_new(ctx);
  if (ssl != nullptr && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
    static constexpr char kAnswer[] =
        "HTTP/1.1 200 OK\r\nServer: middlebox\r\nContent-Length: 7\r\n"
        "Connection: close\r\n\r\nplugin\n";
    (void)SSL_write(ssl, kAnswer, sizeof(kAnswer) - 1);
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  close(fd);
  --open_connections;
}

}  // namespace

int main(int argc, char** argv) {
  relayscope::ParseCommandLine(
      argc, argv,
      "Simulates an intercepting proxy or a dropped port on one address:port (demo and "
      "rehearsal tool; see the comment at the top of relay/middlebox.cc)");
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "intercept" && mode != "blackhole" && mode != "tls") {
    return Fail("--mode must be intercept, blackhole or tls, not \"" + mode + "\"");
  }
  SSL_CTX* tls = nullptr;
  if (mode == "tls") {
    tls = SSL_CTX_new(TLS_server_method());
    const std::string cert = absl::GetFlag(FLAGS_cert);
    const std::string key = absl::GetFlag(FLAGS_key);
    if (tls == nullptr || SSL_CTX_use_certificate_chain_file(tls, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      char reason[256];
      ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
      return Fail(absl::StrCat("--mode=tls: cannot use --cert=\"", cert, "\" and --key=\"", key,
                               "\": ", reason));
    }
  }
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535 || inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return Fail("--listen must be an IPv4 address:port, not \"" + listen + "\"");
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Fail(absl::StrCat("cannot bind ", listen, ": ", relayscope::ErrnoText(errno)));
  }
  socklen_t len = sizeof(addr);
  if (getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fail(absl::StrCat("getsockname: ", relayscope::ErrnoText(errno)));
  }
  char host[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));  // inet_ntoa shares a buffer
  const std::string bound = absl::StrCat(host, ":", ntohs(addr.sin_port));
  std::vector<int> fillers;
  if (mode == "blackhole") {
    // A backlog of 0 queues one connection; two of our own fill the queue
    // (the kernel lets it overflow by one) and nothing is ever accepted.
    if (::listen(server, 0) != 0)
      return Fail(absl::StrCat("listen: ", relayscope::ErrnoText(errno)));
    for (int i = 0; i < 2; ++i) {
      const int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      // Non-blocking: EINPROGRESS is the expected answer.
      if (connect(filler, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
          errno != EINPROGRESS) {
        return Fail(absl::StrCat("connect: ", relayscope::ErrnoText(errno)));
      }
      fillers.push_back(filler);
    }
    usleep(200 * 1000);  // both handshakes complete on loopback at once
  } else if (::listen(server, 64) != 0) {
    return Fail(absl::StrCat("listen: ", relayscope::ErrnoText(errno)));
  }
  const std::string ready_file = absl::GetFlag(FLAGS_ready_file);
  if (!ready_file.empty()) {
    if (absl::Status s = relayscope::WriteFileAtomically(ready_file, "listen=" + bound + "\n");
        !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  fprintf(stderr, "relayscope-middlebox: %s on %s\n", mode.c_str(), bound.c_str());
  signal(SIGPIPE, SIG_IGN);
  // SIGTERM / SIGINT end the process (default action); connections in
  // flight are bounded by kMaxConnections and by Intercept's 1 s read.
  for (;;) {
    if (mode == "blackhole") {
      pause();
      continue;
    }
    const int client = accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      return Fail(absl::StrCat("accept: ", relayscope::ErrnoText(errno)));
    }
    if (open_connections.load() >= kMaxConnections) {
      close(client);
      continue;
    }
    ++open_connections;
    if (tls != nullptr) {
      std::thread(ServeTls, tls, client).detach();
    } else {
      std::thread(Intercept, client).detach();
    }
  }
}
