#include "agent/attempt/transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/host_port.h"
#include "common/proto_time.h"

namespace relayscope::agent {
namespace {

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

long RemainingMs(Clock& clock, absl::Time deadline) {
  int64_t ms = absl::ToInt64Milliseconds(deadline - clock.Now());
  // libcurl treats 0 as "no timeout": never hand it a zero.
  return ms < 1 ? 1 : static_cast<long>(ms);
}

// Waits for `events` on `fd` until `deadline`. True when ready.
bool WaitFor(Clock& clock, int fd, short events, absl::Time deadline) {
  for (;;) {
    int64_t ms = absl::ToInt64Milliseconds(deadline - clock.Now());
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, static_cast<int>(ms));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let the caller see the error
  }
}

v1::PhaseTiming Timing(v1::Phase phase, curl_off_t micros, bool completed) {
  v1::PhaseTiming timing;
  timing.set_phase(phase);
  *timing.mutable_duration() =
      ToProtoDuration(absl::Microseconds(micros < 0 ? 0 : static_cast<int64_t>(micros)));
  timing.set_completed(completed);
  return timing;
}

class CurlTunnel final : public Tunnel {
 public:
  CurlTunnel(Clock& clock, CURL* handle, curl_socket_t socket)
      : clock_(clock), handle_(handle), socket_(socket) {}
  ~CurlTunnel() override { curl_easy_cleanup(handle_); }
  CurlTunnel(const CurlTunnel&) = delete;
  CurlTunnel& operator=(const CurlTunnel&) = delete;

  absl::StatusOr<size_t> Send(absl::Span<const uint8_t> data, absl::Time deadline) override {
    size_t total = 0;
    while (total < data.size()) {
      size_t n = 0;
      CURLcode rc = curl_easy_send(handle_, data.data() + total, data.size() - total, &n);
      if (rc == CURLE_OK) {
        total += n;
        continue;
      }
      if (rc == CURLE_AGAIN) {
        if (!WaitFor(clock_, socket_, POLLOUT, deadline)) {
          return absl::DeadlineExceededError("send timed out");
        }
        continue;
      }
      return absl::UnavailableError(absl::StrCat("send failed: ", curl_easy_strerror(rc)));
    }
    return total;
  }

  absl::StatusOr<size_t> Recv(absl::Span<uint8_t> buffer, absl::Time deadline) override {
    for (;;) {
      size_t n = 0;
      CURLcode rc = curl_easy_recv(handle_, buffer.data(), buffer.size(), &n);
      if (rc == CURLE_OK) return n;  // n == 0: end of stream
      if (rc == CURLE_AGAIN) {
        if (!WaitFor(clock_, socket_, POLLIN, deadline)) {
          return absl::DeadlineExceededError("no reply before the deadline");
        }
        continue;
      }
      return absl::UnavailableError(absl::StrCat("receive failed: ", curl_easy_strerror(rc)));
    }
  }

 private:
  Clock& clock_;
  CURL* handle_;
  curl_socket_t socket_;
};

curl_proxytype CurlProxyType(const ProxyUrl& proxy) {
  switch (proxy.kind) {
    case v1::ROUTE_KIND_HTTPS_PROXY:
      return CURLPROXY_HTTPS;
    case v1::ROUTE_KIND_SOCKS4:
      return CURLPROXY_SOCKS4;
    case v1::ROUTE_KIND_SOCKS4A:
      return CURLPROXY_SOCKS4A;
    case v1::ROUTE_KIND_SOCKS5:
      return proxy.remote_dns ? CURLPROXY_SOCKS5_HOSTNAME : CURLPROXY_SOCKS5;
    default:
      return CURLPROXY_HTTP;
  }
}

bool IsSocks(v1::RouteKind kind) {
  return kind == v1::ROUTE_KIND_SOCKS4 || kind == v1::ROUTE_KIND_SOCKS4A ||
         kind == v1::ROUTE_KIND_SOCKS5;
}

// The TCP connect to the first hop (relay or proxy) is done here rather
// than inside libcurl, through CURLOPT_OPENSOCKETFUNCTION: libcurl 7.88
// records its connect time only once a proxy tunnel is up, so it cannot
// tell "the proxy did not accept the connection" from "the proxy accepted
// it and never answered CONNECT". Here the TCP phase is timed exactly and
// its errno kept; everything after it is proxy negotiation.
struct ConnectRecord {
  Clock* clock = nullptr;
  absl::Time deadline;
  absl::Time started;
  absl::Time connected;
  bool attempted = false;
  bool succeeded = false;
  int os_error = 0;
  // Replaces the connect when set (CurlTransport::Options).
  const FirstHopConnector* connector = nullptr;
};

curl_socket_t OpenConnectedSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* record = static_cast<ConnectRecord*>(clientp);
  if (record->connector != nullptr) {
    record->attempted = true;
    record->started = record->clock->Now();
    const int fd = (*record->connector)();  // non-blocking, see AlreadyConnected
    if (fd < 0) {
      record->os_error = errno;
      return CURL_SOCKET_BAD;
    }
    record->connected = record->clock->Now();
    record->succeeded = true;
    return fd;
  }
  const int fd =
      socket(address->family, address->socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address->protocol);
  if (fd < 0) {
    record->os_error = errno;
    return CURL_SOCKET_BAD;
  }
  record->attempted = true;
  record->started = record->clock->Now();
  int err = 0;
  if (connect(fd, &address->addr, address->addrlen) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      if (!WaitFor(*record->clock, fd, POLLOUT, record->deadline)) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
  }
  if (err != 0) {
    record->os_error = err;
    close(fd);
    return CURL_SOCKET_BAD;
  }
  record->connected = record->clock->Now();
  record->succeeded = true;
  record->os_error = 0;
  return fd;
}

// libcurl 7.88 calls connect() on the socket anyway, whatever this says;
// it succeeds because the socket's connect was non-blocking: the kernel
// reports the completed connect (0) to the next connect() once. On a
// socket connected by a blocking connect() it would fail with EISCONN.
int AlreadyConnected(void*, curl_socket_t, curlsocktype) { return CURL_SOCKOPT_ALREADY_CONNECTED; }

v1::PhaseTiming TimingOf(v1::Phase phase, absl::Duration duration, bool completed) {
  return Timing(phase, absl::ToInt64Microseconds(duration), completed);
}

// SOCKS replies: the reply code as the proxy status, and the outcome it
// means for the relay behind the proxy.
void ClassifySocks(long proxy_error, bool has_credentials, OpenResult* result) {
  result->failed_phase = v1::PHASE_PROXY_NEGOTIATION;
  switch (proxy_error) {
    case CURLPX_REPLY_CONNECTION_REFUSED:
      result->outcome = v1::OUTCOME_CONNECTION_REFUSED;
      result->proxy_status = 5;
      return;
    case CURLPX_REPLY_HOST_UNREACHABLE:
      result->outcome = v1::OUTCOME_HOST_UNREACHABLE;
      result->proxy_status = 4;
      return;
    case CURLPX_REPLY_NETWORK_UNREACHABLE:
      result->outcome = v1::OUTCOME_NETWORK_UNREACHABLE;
      result->proxy_status = 3;
      return;
    case CURLPX_REPLY_TTL_EXPIRED:
      result->outcome = v1::OUTCOME_CONNECT_TIMEOUT;
      result->proxy_status = 6;
      return;
    case CURLPX_REPLY_GENERAL_SERVER_FAILURE:
      result->proxy_status = 1;
      break;
    case CURLPX_REPLY_NOT_ALLOWED:
      result->proxy_status = 2;
      break;
    case CURLPX_REPLY_COMMAND_NOT_SUPPORTED:
      result->proxy_status = 7;
      break;
    case CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED:
      result->proxy_status = 8;
      break;
    case CURLPX_REQUEST_FAILED:  // SOCKS4 reply 91
      result->proxy_status = 91;
      break;
    case CURLPX_RESOLVE_HOST:
      result->outcome = v1::OUTCOME_DNS_FAILURE;
      return;
    case CURLPX_NO_AUTH:
    case CURLPX_USER_REJECTED:
    case CURLPX_RECV_AUTH:
      result->outcome =
          has_credentials ? v1::OUTCOME_PROXY_AUTH_FAILED : v1::OUTCOME_PROXY_AUTH_REQUIRED;
      return;
    default:
      break;
  }
  result->outcome = v1::OUTCOME_PROXY_ERROR;
}

}  // namespace

TunnelFailure TunnelFailureOf(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return {v1::OUTCOME_HANDSHAKE_TIMEOUT, ETIMEDOUT};
  }
  return {v1::OUTCOME_CONNECTION_RESET, ECONNRESET};
}

v1::Outcome ConnectFailureOutcome(int os_error) {
  switch (os_error) {
    case ECONNREFUSED:
      return v1::OUTCOME_CONNECTION_REFUSED;
    case EHOSTUNREACH:
      return v1::OUTCOME_HOST_UNREACHABLE;
    case ENETUNREACH:
      return v1::OUTCOME_NETWORK_UNREACHABLE;
    case ECONNRESET:
      return v1::OUTCOME_CONNECTION_RESET;
    case ETIMEDOUT:
      return v1::OUTCOME_CONNECT_TIMEOUT;
    default:
      return v1::OUTCOME_CONNECTION_REFUSED;
  }
}

void ClassifyConnectStatus(long status, bool has_credentials, absl::string_view hop,
                           OpenResult* result) {
  result->failed_phase = v1::PHASE_PROXY_NEGOTIATION;
  if (status == 407) {
    result->outcome =
        has_credentials ? v1::OUTCOME_PROXY_AUTH_FAILED : v1::OUTCOME_PROXY_AUTH_REQUIRED;
    result->detail = has_credentials ? absl::StrCat(hop, " rejected the credentials (407)")
                                     : absl::StrCat(hop, " requires authentication (407)");
  } else {
    result->outcome = v1::OUTCOME_PROXY_ERROR;
    result->detail = absl::StrCat(hop, " refused CONNECT with HTTP ", status);
  }
}

std::string FirstHopName(const Destination& destination, const ProxyUrl& proxy) {
  return proxy.direct() ? HostPort(destination.host, destination.port)
                        : absl::StrCat("proxy ", HostPort(proxy.host, proxy.port));
}

std::string ErrnoName(int os_error) {
  if (os_error == 0) return "";
  const char* name = strerrorname_np(os_error);
  return name != nullptr ? name : absl::StrCat("E", os_error);
}

CurlTransport::CurlTransport(Options options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()) {}

Transport& RealTransport() {
  static Transport* const transport = new CurlTransport();
  return *transport;
}

OpenResult CurlTransport::Open(const Destination& destination, const ProxyUrl& proxy,
                               absl::Time deadline) {
  EnsureCurlInitialized();
  OpenResult result;
  CURL* handle = curl_easy_init();
  if (handle == nullptr) {
    result.outcome = v1::OUTCOME_CONNECTION_RESET;
    result.detail = "libcurl could not allocate a handle";
    return result;
  }
  const bool proxied = !proxy.direct();
  const bool has_credentials = !proxy.username.empty();
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string url =
      absl::StrCat("http://", UrlHost(destination.host), ":", destination.port, "/");
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, RemainingMs(clock_, deadline));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, RemainingMs(clock_, deadline));
  // A diagnosis must test exactly the route it names, so libcurl never picks
  // up a proxy from the environment (CURLOPT_PROXY is always set below).
  // Every attempt has its own handle, so no connection is ever reused; do
  // not set CURLOPT_FORBID_REUSE: with CONNECT_ONLY it closes the
  // connection right after connecting.
  if (proxied) {
    const std::string proxy_url = HostPort(proxy.host, proxy.port);
    curl_easy_setopt(handle, CURLOPT_PROXY, proxy_url.c_str());
    curl_easy_setopt(handle, CURLOPT_PROXYTYPE, static_cast<long>(CurlProxyType(proxy)));
    curl_easy_setopt(handle, CURLOPT_NOPROXY, "");
    if (!IsSocks(proxy.kind)) curl_easy_setopt(handle, CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (has_credentials) {
      curl_easy_setopt(handle, CURLOPT_PROXYUSERNAME, proxy.username.c_str());
      curl_easy_setopt(handle, CURLOPT_PROXYPASSWORD, proxy.password.c_str());
      curl_easy_setopt(handle, CURLOPT_PROXYAUTH, static_cast<long>(CURLAUTH_ANY));
    }
    if (!options_.proxy_ca_file.empty()) {
      curl_easy_setopt(handle, CURLOPT_PROXY_CAINFO, options_.proxy_ca_file.c_str());
    }
  } else {
    curl_easy_setopt(handle, CURLOPT_PROXY, "");
  }

  ConnectRecord record;
  record.clock = &clock_;
  record.deadline = deadline;
  if (options_.connect_first_hop) record.connector = &options_.connect_first_hop;
  curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, OpenConnectedSocket);
  curl_easy_setopt(handle, CURLOPT_OPENSOCKETDATA, &record);
  curl_easy_setopt(handle, CURLOPT_SOCKOPTFUNCTION, AlreadyConnected);

  const absl::Time perform_start = clock_.Now();
  const CURLcode rc = curl_easy_perform(handle);
  const absl::Time perform_end = clock_.Now();

  long connect_code = 0, os_errno = 0, proxy_error = 0;
  curl_off_t lookup_us = 0, appconnect_us = 0;
  curl_easy_getinfo(handle, CURLINFO_HTTP_CONNECTCODE, &connect_code);
  curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_getinfo(handle, CURLINFO_PROXY_ERROR, &proxy_error);
  curl_easy_getinfo(handle, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us);
  curl_easy_getinfo(handle, CURLINFO_APPCONNECT_TIME_T, &appconnect_us);

  // libcurl reports whatever number the status line held ("HTTP/1.0 2000
  // OK" gives 2000); only a real HTTP status is kept, since the collector
  // refuses an attempt whose proxy_status is not one.
  result.proxy_status =
      connect_code >= 100 && connect_code <= 999 ? static_cast<uint32_t>(connect_code) : 0;
  result.os_error = record.attempted ? record.os_error : static_cast<int>(os_errno);
  const bool connected = record.succeeded;
  const std::string& first_hop = proxied ? proxy.host : destination.host;
  const bool tls_proxy = proxy.kind == v1::ROUTE_KIND_HTTPS_PROXY;
  const bool tls_done = appconnect_us > 0;

  // Phase timings; the last phase is where the attempt ended.
  if (!IsIpLiteral(first_hop)) {
    result.phases.push_back(Timing(v1::PHASE_DNS, lookup_us, record.attempted));
  }
  if (record.attempted) {
    result.phases.push_back(TimingOf(v1::PHASE_TCP_CONNECT,
                                     (connected ? record.connected : perform_end) - record.started,
                                     connected));
  }
  if (connected && proxied) {
    // TLS to an HTTPS proxy, then CONNECT/SOCKS, both inside libcurl: TLS
    // ends at libcurl's app-connect time, negotiation takes the rest.
    absl::Time negotiation_start = record.connected;
    if (tls_proxy) {
      const absl::Time tls_end =
          tls_done ? perform_start + absl::Microseconds(appconnect_us) : perform_end;
      result.phases.push_back(TimingOf(
          v1::PHASE_TLS, std::max(absl::ZeroDuration(), tls_end - record.connected), tls_done));
      negotiation_start = std::max(record.connected, tls_end);
    }
    if (!tls_proxy || tls_done) {
      result.phases.push_back(
          TimingOf(v1::PHASE_PROXY_NEGOTIATION, perform_end - negotiation_start, rc == CURLE_OK));
    }
  }

  if (rc == CURLE_OK) {
    curl_socket_t socket = CURL_SOCKET_BAD;
    curl_easy_getinfo(handle, CURLINFO_ACTIVESOCKET, &socket);
    result.outcome = v1::OUTCOME_OK;
    result.proxy_status = proxied && !IsSocks(proxy.kind) ? 200 : 0;
    // error_buffer lives on this stack frame: libcurl must not write to it
    // after we return (a failing curl_easy_recv would smash the caller's
    // stack).
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
    result.tunnel = std::make_unique<CurlTunnel>(clock_, handle, socket);
    return result;
  }

  std::string curl_message = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
  const std::string hop = FirstHopName(destination, proxy);

  if (connect_code != 0 && connect_code != 200) {
    ClassifyConnectStatus(connect_code, has_credentials, hop, &result);
  } else {
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        result.outcome = v1::OUTCOME_DNS_FAILURE;
        result.failed_phase = v1::PHASE_DNS;
        break;
      case CURLE_COULDNT_CONNECT:
      case CURLE_OPERATION_TIMEDOUT:
        if (!connected) {
          result.outcome = rc == CURLE_OPERATION_TIMEDOUT && result.os_error == 0
                               ? v1::OUTCOME_CONNECT_TIMEOUT
                               : ConnectFailureOutcome(result.os_error);
          result.failed_phase = v1::PHASE_TCP_CONNECT;
        } else {
          // Connected to the proxy, which then did not complete in time
          // (for example because it cannot reach the relay itself).
          result.outcome = v1::OUTCOME_CONNECT_TIMEOUT;
          result.failed_phase =
              tls_proxy && !tls_done ? v1::PHASE_TLS : v1::PHASE_PROXY_NEGOTIATION;
        }
        if (result.outcome == v1::OUTCOME_CONNECT_TIMEOUT) result.os_error = ETIMEDOUT;
        break;
      case CURLE_PROXY:
        ClassifySocks(proxy_error, has_credentials, &result);
        break;
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
        result.outcome = v1::OUTCOME_TLS_FAILURE;
        result.failed_phase = v1::PHASE_TLS;
        break;
      default:
        // The proxy (or relay) closed, reset or sent something that is not
        // a valid proxy reply.
        result.outcome = result.os_error == ECONNRESET ? v1::OUTCOME_CONNECTION_RESET
                         : proxied                     ? v1::OUTCOME_PROXY_ERROR
                                                       : v1::OUTCOME_CONNECTION_RESET;
        result.failed_phase =
            proxied && connected ? v1::PHASE_PROXY_NEGOTIATION : v1::PHASE_TCP_CONNECT;
        break;
    }
    if (record.attempted && !connected && result.os_error != 0) {
      // Our own connect failed: its errno says more than libcurl's text.
      result.detail = absl::StrCat(hop, ": ", ErrnoName(result.os_error), " (",
                                   std::strerror(result.os_error), ")");
    } else {
      result.detail = absl::StrCat(hop, ": ", curl_message);
    }
  }
  // libcurl's messages never contain the password, but a proxy's error text
  // could echo what it was sent: scrub it unconditionally.
  if (!proxy.password.empty()) {
    absl::StrReplaceAll({{proxy.password, "****"}}, &result.detail);
  }
  curl_easy_cleanup(handle);
  return result;
}

}  // namespace relayscope::agent
