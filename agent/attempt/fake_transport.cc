#include "agent/attempt/fake_transport.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/proto_time.h"
#include "protocol/handshake/handshake.h"

namespace relayscope::agent {
namespace {

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string StatusLine(long status) {
  const char* reason = "";
  switch (status) {
    case 200:
      reason = " Connection established";
      break;
    case 302:
      reason = " Found";
      break;
    case 403:
      reason = " Forbidden";
      break;
    case 407:
      reason = " Proxy Authentication Required";
      break;
    case 502:
      reason = " Bad Gateway";
      break;
    case 503:
      reason = " Service Unavailable";
      break;
    default:
      break;
  }
  return absl::StrCat("HTTP/1.1 ", status, reason);
}

}  // namespace

// The agent's end of a scripted connection; the far end's behaviour runs
// inside Send (it answers what arrives) and Recv (it delivers the answer
// one round trip later). Used by one thread, as a Tunnel is.
class FakeTransport::FakeTunnel final : public Tunnel {
 public:
  FakeTunnel(FakeTransport* owner, Peer peer) : owner_(owner), peer_(peer) {}

  absl::StatusOr<size_t> Send(absl::Span<const uint8_t> data, absl::Time deadline) override {
    if (owner_->clock_->Now() >= deadline) return absl::DeadlineExceededError("send timed out");
    if (reset_) return absl::UnavailableError("send failed: connection reset by peer");
    from_agent_.insert(from_agent_.end(), data.begin(), data.end());
    switch (peer_) {
      case Peer::kRelay:
        if (server_ == nullptr && from_agent_.size() >= handshake::kHelloSize) {
          auto server = handshake::Server::Accept(
              absl::MakeConstSpan(from_agent_).subspan(0, handshake::kHelloSize));
          if (!server.ok()) {
            closed_ = true;  // the relay hangs up on a bad hello
            break;
          }
          server_ = *std::move(server);
          Answer(server_->Reply());
        } else if (server_ != nullptr &&
                   from_agent_.size() >= handshake::kHelloSize + handshake::kConfirmSize &&
                   !confirmed_) {
          confirmed_ = true;
          if (server_->VerifyConfirmation(
                  absl::MakeConstSpan(from_agent_)
                      .subspan(handshake::kHelloSize, handshake::kConfirmSize))) {
            owner_->Confirmed();
          }
        }
        break;
      case Peer::kHttpPage:
        if (to_agent_.empty() && !closed_) {
          Answer(handshake::Bytes(kInterceptorPage, kInterceptorPage + strlen(kInterceptorPage)));
          closed_ = true;
        }
        break;
      case Peer::kTruncated:
        if (from_agent_.size() >= handshake::kHelloSize && !closed_) {
          auto server = handshake::Server::Accept(
              absl::MakeConstSpan(from_agent_).subspan(0, handshake::kHelloSize));
          if (server.ok()) {
            const handshake::Bytes& reply = (*server)->Reply();
            Answer(handshake::Bytes(reply.begin(), reply.begin() + kTruncatedBytes));
          }
          closed_ = true;
        }
        break;
      case Peer::kReset:
        reset_ = true;
        break;
      case Peer::kSilent:
        break;
    }
    return data.size();
  }

  absl::StatusOr<size_t> Recv(absl::Span<uint8_t> buffer, absl::Time deadline) override {
    FakeClock& clock = *owner_->clock_;
    if (!to_agent_.empty()) {
      if (available_at_ > deadline) {
        clock.SleepUntil(deadline);
        return absl::DeadlineExceededError("no reply before the deadline");
      }
      clock.SleepUntil(available_at_);
      const size_t n = std::min(buffer.size(), to_agent_.size());
      std::copy_n(to_agent_.begin(), n, buffer.begin());
      to_agent_.erase(to_agent_.begin(), to_agent_.begin() + static_cast<long>(n));
      return n;
    }
    if (closed_) return 0;
    if (reset_) {
      clock.SleepUntil(std::min(deadline, clock.Now() + owner_->latency_.round_trip));
      return absl::UnavailableError("receive failed: connection reset by peer");
    }
    clock.SleepUntil(deadline);  // silent: only the deadline ends the wait
    return absl::DeadlineExceededError("no reply before the deadline");
  }

 private:
  void Answer(const handshake::Bytes& bytes) {
    to_agent_.insert(to_agent_.end(), bytes.begin(), bytes.end());
    available_at_ = owner_->clock_->Now() + owner_->latency_.round_trip;
  }

  FakeTransport* const owner_;
  const Peer peer_;
  handshake::Bytes from_agent_;
  handshake::Bytes to_agent_;
  absl::Time available_at_;
  std::unique_ptr<handshake::Server> server_;
  bool confirmed_ = false;
  bool closed_ = false;
  bool reset_ = false;
};

std::string FakeTransport::Key(const Destination& destination, const ProxyUrl& proxy) {
  return absl::StrCat(HostPort(destination.host, destination.port), " via ",
                      proxy.direct() ? "DIRECT"
                                     : absl::StrCat(v1::RouteKind_Name(proxy.kind), " ",
                                                    HostPort(proxy.host, proxy.port)));
}

void FakeTransport::Script(const Destination& destination, const ProxyUrl& proxy, Connect connect,
                           Peer peer) {
  absl::MutexLock lock(&mu_);
  routes_[Key(destination, proxy)] = Route{std::move(connect), peer};
}

std::vector<FakeTransport::Opened> FakeTransport::opened() {
  absl::MutexLock lock(&mu_);
  return opened_;
}

int FakeTransport::confirmations() {
  absl::MutexLock lock(&mu_);
  return confirmations_;
}

void FakeTransport::Confirmed() {
  absl::MutexLock lock(&mu_);
  ++confirmations_;
}

OpenResult FakeTransport::Open(const Destination& destination, const ProxyUrl& proxy,
                               absl::Time deadline) {
  Route route;
  route.connect = Connect::Refused();
  {
    absl::MutexLock lock(&mu_);
    opened_.push_back({destination, proxy, clock_->Now()});
    if (auto it = routes_.find(Key(destination, proxy)); it != routes_.end()) route = it->second;
  }
  const Connect& connect = route.connect;
  const bool proxied = !proxy.direct();
  const bool has_credentials = !proxy.username.empty();
  const std::string& first_hop = proxied ? proxy.host : destination.host;
  const std::string hop = FirstHopName(destination, proxy);

  OpenResult result;
  // Spends `cost` of fake time, or what is left before the deadline; adds
  // the phase; false when the deadline came first.
  auto step = [&](v1::Phase phase, absl::Duration cost, bool completed) {
    const absl::Time start = clock_->Now();
    const bool in_time = start + cost <= deadline;
    clock_->SleepUntil(in_time ? start + cost : deadline);
    v1::PhaseTiming* timing = &result.phases.emplace_back();
    timing->set_phase(phase);
    *timing->mutable_duration() = ToProtoDuration(clock_->Now() - start);
    timing->set_completed(completed && in_time);
    return in_time;
  };
  auto fail = [&](v1::Outcome outcome, v1::Phase phase, std::string detail) {
    result.outcome = outcome;
    result.failed_phase = phase;
    result.detail = std::move(detail);
    return std::move(result);
  };
  auto connect_failure = [&](int os_error) {
    result.os_error = os_error;
    return fail(ConnectFailureOutcome(os_error), v1::PHASE_TCP_CONNECT,
                ConnectFailureDetail(hop, os_error));
  };

  const bool dns_fails = connect.kind == Connect::Kind::kDnsFailure;
  if (!IsIpLiteral(first_hop) || dns_fails) {
    step(v1::PHASE_DNS, latency_.dns, !dns_fails);
    if (dns_fails) {
      return fail(v1::OUTCOME_DNS_FAILURE, v1::PHASE_DNS,
                  absl::StrCat(hop, ": Could not resolve host: ", first_hop));
    }
  }
  switch (connect.kind) {
    case Connect::Kind::kRefused:
      step(v1::PHASE_TCP_CONNECT, latency_.connect, false);
      return connect_failure(ECONNREFUSED);
    case Connect::Kind::kReset:
      step(v1::PHASE_TCP_CONNECT, latency_.connect, false);
      return connect_failure(ECONNRESET);
    case Connect::Kind::kTimeout:
      step(v1::PHASE_TCP_CONNECT, absl::InfiniteDuration(), false);
      return connect_failure(ETIMEDOUT);
    default:
      if (!step(v1::PHASE_TCP_CONNECT, latency_.connect, true)) return connect_failure(ETIMEDOUT);
      break;
  }
  if (proxied) {
    if (proxy.kind == v1::ROUTE_KIND_HTTPS_PROXY) {
      const bool tls_ok = connect.kind != Connect::Kind::kTlsFailure;
      step(v1::PHASE_TLS, latency_.tls, tls_ok);
      if (connect.proxy_certificate.ByteSizeLong() > 0) {
        result.proxy_certificate = connect.proxy_certificate;
        result.proxy_certificate.set_trusted(tls_ok);
        if (tls_ok) result.proxy_certificate.clear_verify_error();
      }
      if (!tls_ok) {
        return fail(v1::OUTCOME_TLS_FAILURE, v1::PHASE_TLS,
                    absl::StrCat(hop, ": SSL certificate problem: ",
                                 connect.proxy_certificate.verify_error()));
      }
    }
    if (IsSocks(proxy.kind)) {
      const bool refused = connect.kind == Connect::Kind::kSocksReply;
      step(v1::PHASE_PROXY_NEGOTIATION, latency_.proxy, !refused);
      result.proxy_auth = connect.proxy_auth;
      if (refused) {
        ClassifySocksReply(proxy.kind == v1::ROUTE_KIND_SOCKS5 ? 5 : 4, connect.proxy_status,
                           &result);
        if (!connect.proxy_reply.socks_reply().empty()) result.proxy_reply = connect.proxy_reply;
        result.detail = absl::StrCat(hop, ": ", result.proxy_reply.socks_reply());
        return result;
      }
    } else {
      long status = 200;
      if (connect.kind == Connect::Kind::kProxyStatus) status = connect.proxy_status;
      if (connect.kind == Connect::Kind::kProxyAuth) {
        status = proxy.username == connect.user && proxy.password == connect.password ? 200 : 407;
      }
      step(v1::PHASE_PROXY_NEGOTIATION, latency_.proxy, status == 200);
      result.proxy_reply = connect.proxy_reply;
      if (result.proxy_reply.status_line().empty()) {
        result.proxy_reply.set_status_line(StatusLine(status));
      }
      result.proxy_auth = connect.proxy_auth;
      if (connect.kind == Connect::Kind::kProxyAuth && result.proxy_auth.offered_size() == 0) {
        result.proxy_auth.add_offered(v1::PROXY_AUTH_SCHEME_BASIC);
      }
      if (has_credentials && result.proxy_auth.offered_size() > 0 &&
          result.proxy_auth.used() == v1::PROXY_AUTH_SCHEME_UNSPECIFIED) {
        result.proxy_auth.set_used(PasswordSchemeFor(result.proxy_auth));
      }
      if (status != 200) {
        ClassifyConnectStatus(status, has_credentials, hop, &result);
        result.proxy_status = static_cast<uint32_t>(status);
        return result;
      }
      result.proxy_status = 200;
    }
  }
  result.outcome = v1::OUTCOME_OK;
  result.tunnel = std::make_unique<FakeTunnel>(this, route.peer);
  return result;
}

}  // namespace relayscope::agent
