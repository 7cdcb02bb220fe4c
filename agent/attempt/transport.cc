#include "agent/attempt/transport.h"

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/attempt/certificate.h"
#include "agent/attempt/proxy_evidence.h"
#include "agent/attempt/reply_classifier.h"
#include "agent/proxy/curl_proxy.h"
#include "common/host_port.h"
#include "common/proto_time.h"
#include "common/socket.h"

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

// Waits until `socket` can be written (`for_write`) or read, until
// `deadline`. True when ready (or failed: the caller's next call says how).
bool WaitFor(Clock& clock, Socket socket, bool for_write, absl::Time deadline) {
  for (;;) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - clock.Now());
    if (ms <= 0) return false;
    if (WaitSocket(socket, for_write, ms)) return true;
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
        if (!WaitFor(clock_, socket_, /*for_write=*/true, deadline)) {
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
        if (!WaitFor(clock_, socket_, /*for_write=*/false, deadline)) {
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
    return static_cast<curl_socket_t>(fd);
  }
  int err = 0;
  const Socket fd =
      OpenNonBlockingSocket(address->family, address->socktype, address->protocol, &err);
  if (fd == kNoSocket) {
    record->os_error = err;
    return CURL_SOCKET_BAD;
  }
  record->attempted = true;
  record->started = record->clock->Now();
  err = StartConnect(fd, &address->addr, static_cast<int>(address->addrlen));
  if (err == EINPROGRESS) {
    err = WaitFor(*record->clock, fd, /*for_write=*/true, record->deadline) ? PendingSocketError(fd)
                                                                            : ETIMEDOUT;
  }
  if (err != 0) {
    record->os_error = err;
    CloseSocket(fd);
    return CURL_SOCKET_BAD;
  }
  record->connected = record->clock->Now();
  record->succeeded = true;
  record->os_error = 0;
  return fd;
}

// libcurl then skips its own connect() (libcurl 7.88.x calls it anyway,
// curl issue #10626, fixed in 8.0: on Linux that second connect() of a
// non-blocking socket returns the completed connect's 0 once; Winsock
// fails it with WSAEISCONN, so the Windows agent's libcurl carries the
// upstream fix, deploy/dev/patches/).
int AlreadyConnected(void*, curl_socket_t, curlsocktype) { return CURL_SOCKOPT_ALREADY_CONNECTED; }

v1::PhaseTiming TimingOf(v1::Phase phase, absl::Duration duration, bool completed) {
  return Timing(phase, absl::ToInt64Microseconds(duration), completed);
}

// SOCKS replies: the reply code as the proxy status, its meaning as the
// proxy's words, and the outcome it means for the relay behind the proxy.
// `version` is 4 (SOCKS4/4a) or 5.
void ClassifySocks(long proxy_error, int version, bool has_credentials, OpenResult* result) {
  result->failed_phase = v1::PHASE_PROXY_NEGOTIATION;
  result->outcome = v1::OUTCOME_PROXY_ERROR;
  auto reply = [&](int code) { ClassifySocksReply(version, code, result); };
  // The proxy chose RFC 1929 user/password: it offered that method, and
  // the credentials (if any) were sent with it.
  auto chose_userpass = [&] {
    result->proxy_auth.add_offered(v1::PROXY_AUTH_SCHEME_SOCKS_USERPASS);
    if (has_credentials) result->proxy_auth.set_used(v1::PROXY_AUTH_SCHEME_SOCKS_USERPASS);
  };
  const v1::Outcome auth_outcome =
      has_credentials ? v1::OUTCOME_PROXY_AUTH_FAILED : v1::OUTCOME_PROXY_AUTH_REQUIRED;
  switch (proxy_error) {
    case CURLPX_REPLY_CONNECTION_REFUSED:
      return reply(5);
    case CURLPX_REPLY_HOST_UNREACHABLE:
      return reply(4);
    case CURLPX_REPLY_NETWORK_UNREACHABLE:
      return reply(3);
    case CURLPX_REPLY_TTL_EXPIRED:
      return reply(6);
    case CURLPX_REPLY_GENERAL_SERVER_FAILURE:
      return reply(1);
    case CURLPX_REPLY_NOT_ALLOWED:
      return reply(2);
    case CURLPX_REPLY_COMMAND_NOT_SUPPORTED:
      return reply(7);
    case CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED:
      return reply(8);
    case CURLPX_REPLY_UNASSIGNED:
      // libcurl does not say which code: the status stays 0.
      result->proxy_reply.set_socks_reply("SOCKS5 reply with an unassigned code");
      return;
    case CURLPX_REQUEST_FAILED:
      return reply(91);
    case CURLPX_IDENTD:
      return reply(92);
    case CURLPX_IDENTD_DIFFER:
      return reply(93);
    case CURLPX_RESOLVE_HOST:
      result->outcome = v1::OUTCOME_DNS_FAILURE;
      return;
    case CURLPX_NO_AUTH:
      // Method 0xFF: none of what libcurl offered (no authentication, and
      // user/password when it has credentials) is acceptable.
      result->proxy_reply.set_socks_reply(kSocks5NoAcceptableMethod);
      result->outcome = auth_outcome;
      return;
    case CURLPX_USER_REJECTED:
      result->proxy_reply.set_socks_reply(kSocks5UserRejected);
      chose_userpass();
      result->outcome = auth_outcome;
      return;
    case CURLPX_RECV_AUTH:
    case CURLPX_SEND_AUTH:
      result->proxy_reply.set_socks_reply(
          "SOCKS5: the user/password exchange broke off before the proxy answered");
      chose_userpass();
      result->outcome = auth_outcome;
      return;
    case CURLPX_UNKNOWN_MODE:
      result->proxy_reply.set_socks_reply(
          "SOCKS5: the proxy chose an authentication method that was not offered");
      return;
    default:
      return;
  }
}

// The scheme libcurl answered the proxy's challenge with: PasswordSchemeFor
// over the schemes libcurl itself understood (CURLINFO_PROXYAUTH_AVAIL),
// or over those parsed from the headers when libcurl reports none.
v1::ProxyAuthScheme SchemeLibcurlAnswers(const v1::ProxyAuthEvidence& auth, long avail) {
  if (avail == 0) return PasswordSchemeFor(auth);
  // libcurl's own parse of the challenges, when it has one, decides.
  v1::ProxyAuthEvidence understood;
  for (const auto& [bit, scheme] : {std::pair{CURLAUTH_DIGEST, v1::PROXY_AUTH_SCHEME_DIGEST},
                                    std::pair{CURLAUTH_NTLM, v1::PROXY_AUTH_SCHEME_NTLM},
                                    std::pair{CURLAUTH_BASIC, v1::PROXY_AUTH_SCHEME_BASIC}}) {
    if ((static_cast<unsigned long>(avail) & bit) != 0) understood.add_offered(scheme);
  }
  return PasswordSchemeFor(understood);
}

size_t RecordHeaderLine(char* data, size_t size, size_t count, void* userdata) {
  const size_t length = size * count;
  static_cast<ConnectReplyEvidence*>(userdata)->AddHeaderLine(absl::string_view(data, length));
  return length;
}

// The HTTPS proxy's certificate, recorded from inside OpenSSL's
// verification: libcurl's OpenSSL backend hands the TLS context of the
// proxy connection to CURLOPT_SSL_CTX_FUNCTION, which installs
// RecordVerify as the verify callback. RecordVerify only looks: it returns
// OpenSSL's own verdict, so libcurl's verification is unchanged.
struct CertificateRecord {
  bool seen = false;
  bool failed = false;
  v1::CertificateEvidence evidence;
};

int CertificateRecordIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int RecordVerify(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return preverify_ok;
  auto* record = static_cast<CertificateRecord*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CertificateRecordIndex()));
  if (record == nullptr) return preverify_ok;
  return RecordChain(preverify_ok, store, &record->seen, &record->failed, &record->evidence);
}

CURLcode InstallVerifyRecorder(CURL*, void* ssl_ctx, void* userdata) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_ex_data(ctx, CertificateRecordIndex(), userdata);
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordVerify);
  return CURLE_OK;
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

void ClassifySocksReply(int version, int code, OpenResult* result) {
  result->failed_phase = v1::PHASE_PROXY_NEGOTIATION;
  result->proxy_status = static_cast<uint32_t>(code);
  result->proxy_reply.set_socks_reply(SocksReplyMeaning(version, code));
  switch (version == 5 ? code : 0) {
    case 5:
      result->outcome = v1::OUTCOME_CONNECTION_REFUSED;
      break;
    case 4:
      result->outcome = v1::OUTCOME_HOST_UNREACHABLE;
      break;
    case 3:
      result->outcome = v1::OUTCOME_NETWORK_UNREACHABLE;
      break;
    case 6:
      result->outcome = v1::OUTCOME_CONNECT_TIMEOUT;
      break;
    default:
      result->outcome = v1::OUTCOME_PROXY_ERROR;
      break;
  }
}

// libcurl has no CURLINFO_PROXYAUTH_USED before 8.12 (Debian 12 has
// 7.88), so this repeats its choice (pickoneauth in lib/http.c: the most
// secure allowed scheme offered) over the schemes CurlTransport allows.
v1::ProxyAuthScheme PasswordSchemeFor(const v1::ProxyAuthEvidence& auth) {
  static const bool ntlm_built =
      (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_NTLM) != 0;
  auto offered = [&](v1::ProxyAuthScheme scheme) {
    return std::find(auth.offered().begin(), auth.offered().end(), scheme) != auth.offered().end();
  };
  if (offered(v1::PROXY_AUTH_SCHEME_DIGEST)) return v1::PROXY_AUTH_SCHEME_DIGEST;
  if (ntlm_built && offered(v1::PROXY_AUTH_SCHEME_NTLM)) return v1::PROXY_AUTH_SCHEME_NTLM;
  if (offered(v1::PROXY_AUTH_SCHEME_BASIC)) return v1::PROXY_AUTH_SCHEME_BASIC;
  return v1::PROXY_AUTH_SCHEME_UNSPECIFIED;
}

std::string FirstHopName(const Destination& destination, const ProxyUrl& proxy) {
  return proxy.direct() ? HostPort(destination.host, destination.port)
                        : absl::StrCat("proxy ", HostPort(proxy.host, proxy.port));
}

std::string ConnectFailureDetail(absl::string_view hop, int os_error) {
  return absl::StrCat(hop, ": ", SocketErrorName(os_error), " (", SocketErrorText(os_error), ")");
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
    curl_easy_setopt(handle, CURLOPT_NOPROXY, "");
    UseCurlProxy(handle, proxy, proxy_url);
    TrustCurlRoots(handle, CURLOPT_PROXY_CAINFO, CURLOPT_PROXY_SSL_OPTIONS, options_.proxy_ca_file);
  } else {
    curl_easy_setopt(handle, CURLOPT_PROXY, "");
  }
  // The CONNECT reply's headers reach the header callback as long as
  // CURLOPT_SUPPRESS_CONNECT_HEADERS stays off (CONNECT_ONLY sends no
  // request to the relay, so nothing else does).
  ConnectReplyEvidence connect_reply;
  if (proxied && !IsSocks(proxy.kind)) {
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, RecordHeaderLine);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &connect_reply);
  }
  CertificateRecord certificate;
  if (proxy.kind == v1::ROUTE_KIND_HTTPS_PROXY && proxied) {
    curl_easy_setopt(handle, CURLOPT_SSL_CTX_FUNCTION, InstallVerifyRecorder);
    curl_easy_setopt(handle, CURLOPT_SSL_CTX_DATA, &certificate);
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

  long connect_code = 0, os_errno = 0, proxy_error = 0, auth_avail = 0;
  curl_off_t lookup_us = 0, appconnect_us = 0;
  curl_easy_getinfo(handle, CURLINFO_HTTP_CONNECTCODE, &connect_code);
  curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_getinfo(handle, CURLINFO_PROXY_ERROR, &proxy_error);
  curl_easy_getinfo(handle, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us);
  curl_easy_getinfo(handle, CURLINFO_APPCONNECT_TIME_T, &appconnect_us);
  curl_easy_getinfo(handle, CURLINFO_PROXYAUTH_AVAIL, &auth_avail);

  // The proxy's own words, whatever the outcome.
  if (proxied && !IsSocks(proxy.kind)) {
    result.proxy_reply = connect_reply.reply();
    result.proxy_auth = connect_reply.auth();
    if (result.proxy_auth.offered_size() == 0) {
      // No challenge parsed from the headers (none, or one too mangled for
      // the parser) but libcurl understood one: its schemes, in a fixed
      // order since the proxy's is lost.
      for (const auto& [bit, scheme] :
           {std::pair{CURLAUTH_NEGOTIATE, v1::PROXY_AUTH_SCHEME_NEGOTIATE},
            std::pair{CURLAUTH_DIGEST, v1::PROXY_AUTH_SCHEME_DIGEST},
            std::pair{CURLAUTH_NTLM, v1::PROXY_AUTH_SCHEME_NTLM},
            std::pair{CURLAUTH_BASIC, v1::PROXY_AUTH_SCHEME_BASIC}}) {
        if ((static_cast<unsigned long>(auth_avail) & bit) != 0)
          result.proxy_auth.add_offered(scheme);
      }
    }
    // Credentials go out only in answer to a challenge (several schemes
    // allowed: libcurl asks first without), with the scheme libcurl picks.
    if (has_credentials && result.proxy_auth.offered_size() > 0) {
      result.proxy_auth.set_used(SchemeLibcurlAnswers(result.proxy_auth, auth_avail));
    }
  }
  if (certificate.seen) {
    result.proxy_certificate = certificate.evidence;
    result.proxy_certificate.set_trusted(!certificate.failed);
    result.proxy_certificate.set_custom_ca(!options_.proxy_ca_file.empty());
  }
  // A proxy could echo what it was sent into its headers: the password
  // never goes into evidence either.
  if (!proxy.password.empty()) {
    for (std::string* field :
         {result.proxy_reply.mutable_status_line(), result.proxy_reply.mutable_server(),
          result.proxy_reply.mutable_via(), result.proxy_auth.mutable_realm()}) {
      absl::StrReplaceAll({{proxy.password, "****"}}, field);
    }
  }

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
    if (connect_code == 407 && !has_credentials && kLogonCredentials &&
        (static_cast<unsigned long>(auth_avail) & kLogonSchemes) != 0) {
      // Still "required": the user is asked for a password next.
      result.detail = absl::StrCat(hop, " did not accept this Windows logon (407)");
    }
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
        ClassifySocks(proxy_error, proxy.kind == v1::ROUTE_KIND_SOCKS5 ? 5 : 4, has_credentials,
                      &result);
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
      result.detail = ConnectFailureDetail(hop, result.os_error);
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
