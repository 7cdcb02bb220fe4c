// A scripted network for unit tests, in front of RunAttempt and Diagnose
// where CurlTransport would be: routes that open or fail as told, and a far
// end that runs the real relay handshake (handshake::Server), answers an
// intercepting proxy's HTTP page, truncates, resets or stays silent.
//
// Every step costs a fixed latency on a FakeClock (SleepUntil; with
// FakeClock::AdvanceOnSleep(true) time moves by itself), and waiting for
// what never comes costs exactly the time to the deadline, so timings and
// timeouts in a test are exact. Failures are named through the same
// functions the real transport uses (ConnectFailureOutcome,
// ClassifyConnectStatus, FirstHopName).
#ifndef AGENT_ATTEMPT_FAKE_TRANSPORT_H_
#define AGENT_ATTEMPT_FAKE_TRANSPORT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/attempt/transport.h"
#include "common/fake_clock.h"

namespace relayscope::agent {

// The transparent proxy's answer in the seed's best-known failure.
inline constexpr char kInterceptorPage[] =
    "HTTP/1.0 400 Bad Request\r\nServer: squid/2.7\r\nContent-Type: text/html\r\n\r\n"
    "<HTML><HEAD><TITLE>Request Error</TITLE></HEAD><BODY>Bad request</BODY></HTML>\r\n";

class FakeTransport final : public Transport {
 public:
  // How opening a route goes.
  struct Connect {
    enum class Kind {
      kOpen,         // the first hop accepts (a proxy answers 200)
      kRefused,      // ECONNREFUSED at the TCP connect
      kTimeout,      // no answer to the SYN: the deadline passes
      kReset,        // ECONNRESET at the TCP connect
      kDnsFailure,   // the first hop's name does not resolve
      kProxyStatus,  // the proxy answers CONNECT with `proxy_status`
      kProxyAuth,    // 407 (Proxy-Authenticate: Basic) until sent `user`/`password`
      kSocksReply,   // the SOCKS proxy answers with reply code `proxy_status`
      kTlsFailure,   // the HTTPS proxy's certificate does not verify
    };
    Kind kind = Kind::kOpen;
    int proxy_status = 0;
    std::string user;
    std::string password;
    // What the proxy says, as CurlTransport records it. An HTTP proxy's
    // status line defaults to "HTTP/1.1 <status> <reason>"; kProxyAuth
    // offers Basic unless told otherwise; kSocksReply names its code with
    // SocksReplyMeaning. `proxy_auth.used` is filled in as libcurl would
    // (PasswordSchemeFor) when credentials are sent to a challenge.
    v1::ProxyReply proxy_reply;
    v1::ProxyAuthEvidence proxy_auth;
    // HTTPS proxies: the certificate presented, on success and on
    // kTlsFailure (trusted is set by the kind: false for kTlsFailure).
    v1::CertificateEvidence proxy_certificate;

    // "Server: squid/5.7", "Via: ..." on the reply.
    Connect& Says(std::string server, std::string via = "") {
      proxy_reply.set_server(std::move(server));
      proxy_reply.set_via(std::move(via));
      return *this;
    }
    // Proxy-Authenticate challenges, in order, and a realm.
    Connect& Offers(std::vector<v1::ProxyAuthScheme> schemes, std::string realm = "") {
      proxy_auth.clear_offered();
      for (v1::ProxyAuthScheme scheme : schemes) proxy_auth.add_offered(scheme);
      proxy_auth.set_realm(std::move(realm));
      return *this;
    }
    // The certificate an HTTPS proxy presents.
    Connect& Presents(std::string subject, std::string issuer, std::string verify_error = "") {
      proxy_certificate.set_subject(std::move(subject));
      proxy_certificate.set_issuer(std::move(issuer));
      proxy_certificate.set_root(proxy_certificate.issuer());
      proxy_certificate.set_verify_error(std::move(verify_error));
      return *this;
    }

    static Connect Open() { return Connect(); }
    static Connect Refused() { return Of(Kind::kRefused); }
    static Connect Timeout() { return Of(Kind::kTimeout); }
    static Connect Reset() { return Of(Kind::kReset); }
    static Connect DnsFailure() { return Of(Kind::kDnsFailure); }
    static Connect ProxyStatus(int status) {
      Connect connect = Of(Kind::kProxyStatus);
      connect.proxy_status = status;
      return connect;
    }
    static Connect ProxyAuth(std::string user, std::string password) {
      Connect connect = Of(Kind::kProxyAuth);
      connect.user = std::move(user);
      connect.password = std::move(password);
      return connect;
    }
    static Connect SocksReply(int code) {
      Connect connect = Of(Kind::kSocksReply);
      connect.proxy_status = code;
      return connect;
    }
    // An untrusted certificate issued by `issuer` ("CN=Example Inspection
    // CA"), failing with OpenSSL's "unable to get local issuer certificate".
    static Connect UntrustedCertificate(std::string issuer) {
      Connect connect = Of(Kind::kTlsFailure);
      connect.Presents("CN=proxy.corp", std::move(issuer),
                       "unable to get local issuer certificate");
      return connect;
    }
    static Connect Of(Kind kind) {
      Connect connect;
      connect.kind = kind;
      return connect;
    }
  };

  // What the far end of an open tunnel does once the hello arrives.
  enum class Peer {
    kRelay,      // the real relay handshake, verifying the confirmation
    kHttpPage,   // kInterceptorPage, then end of stream
    kTruncated,  // the first kTruncatedBytes of a genuine reply, then end of stream
    kSilent,     // nothing, ever
    kReset,      // the connection is reset
  };
  static constexpr size_t kTruncatedBytes = 100;

  // The fixed cost of each step.
  struct Latency {
    absl::Duration dns = absl::Milliseconds(1);
    absl::Duration connect = absl::Milliseconds(10);
    absl::Duration tls = absl::Milliseconds(5);
    absl::Duration proxy = absl::Milliseconds(5);
    absl::Duration round_trip = absl::Milliseconds(20);
  };

  explicit FakeTransport(FakeClock* clock) : FakeTransport(clock, Latency()) {}
  FakeTransport(FakeClock* clock, Latency latency) : clock_(clock), latency_(latency) {}

  // Scripts the route to `destination` over `proxy` (its kind, host and
  // port; ProxyUrl::Direct() for DIRECT). An unscripted route is refused.
  void Script(const Destination& destination, const ProxyUrl& proxy, Connect connect,
              Peer peer = Peer::kRelay);

  OpenResult Open(const Destination& destination, const ProxyUrl& proxy,
                  absl::Time deadline) override;
  Clock& clock() override { return *clock_; }

  // Every Open so far, in call order, with the proxy as given (credentials
  // included: they are the test's own).
  struct Opened {
    Destination destination;
    ProxyUrl proxy;
    absl::Time at;
  };
  std::vector<Opened> opened();
  // How many key confirmations the scripted relays verified.
  int confirmations();

 private:
  class FakeTunnel;
  struct Route {
    Connect connect;
    Peer peer = Peer::kRelay;
  };
  static std::string Key(const Destination& destination, const ProxyUrl& proxy);
  void Confirmed();

  FakeClock* const clock_;
  const Latency latency_;
  absl::Mutex mu_;
  std::map<std::string, Route> routes_ ABSL_GUARDED_BY(mu_);
  std::vector<Opened> opened_ ABSL_GUARDED_BY(mu_);
  int confirmations_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_FAKE_TRANSPORT_H_
