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
    };
    Kind kind = Kind::kOpen;
    int proxy_status = 0;
    std::string user;
    std::string password;

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
