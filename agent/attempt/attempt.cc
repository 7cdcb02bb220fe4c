#include "agent/attempt/attempt.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "agent/attempt/reply_classifier.h"
#include "common/proto_time.h"
#include "common/socket.h"

namespace relayscope::agent {
namespace {

// "3f a2 ... 07" for the first 16 bytes.
std::string Hex(const uint8_t* data, size_t size) {
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(size, 16); ++i) {
    absl::StrAppend(&out, i ? " " : "", absl::Hex(data[i], absl::kZeroPad2));
  }
  if (size > 16) absl::StrAppend(&out, " ...");
  return out;
}

}  // namespace

v1::Attempt NewAttempt(const Destination& destination, const ProxyUrl& proxy, absl::Time start) {
  v1::Attempt attempt;
  *attempt.mutable_start_time() = ToProtoTimestamp(start);
  attempt.set_address(destination.host);
  attempt.set_port(destination.port);
  attempt.set_route_kind(proxy.direct() ? v1::ROUTE_KIND_DIRECT : proxy.kind);
  return attempt;
}

void RecordOpen(OpenResult& open, v1::Attempt* attempt) {
  for (v1::PhaseTiming& phase : open.phases) *attempt->add_phases() = std::move(phase);
  attempt->set_proxy_status(open.proxy_status);
  attempt->set_os_error(open.os_error);
  attempt->set_os_error_name(SocketErrorName(open.os_error));
  if (open.proxy_reply.ByteSizeLong() > 0) *attempt->mutable_proxy_reply() = open.proxy_reply;
  if (open.proxy_auth.ByteSizeLong() > 0) *attempt->mutable_proxy_auth() = open.proxy_auth;
  if (open.proxy_certificate.ByteSizeLong() > 0) {
    *attempt->mutable_proxy_certificate() = open.proxy_certificate;
  }
}

v1::Attempt RunAttempt(const Destination& destination, const ProxyUrl& proxy, absl::Time deadline,
                       Transport& transport, AttemptTrace* trace) {
  Clock& clock = transport.clock();
  const absl::Time start = clock.Now();
  v1::Attempt attempt = NewAttempt(destination, proxy, start);
  attempt.set_target(v1::TARGET_RELAY);
  auto finish = [&](v1::Outcome outcome, v1::Phase failed_phase, std::string detail) {
    attempt.set_outcome(outcome);
    attempt.set_failed_phase(outcome == v1::OUTCOME_OK ? v1::PHASE_UNSPECIFIED : failed_phase);
    attempt.set_detail(std::move(detail));
    *attempt.mutable_total_duration() = ToProtoDuration(clock.Now() - start);
    return attempt;
  };

  OpenResult open = transport.Open(destination, proxy, deadline);
  RecordOpen(open, &attempt);
  if (open.tunnel == nullptr) return finish(open.outcome, open.failed_phase, open.detail);

  // The relay handshake over the open route.
  attempt.set_os_error(0);
  attempt.set_os_error_name("");
  const absl::Time handshake_start = clock.Now();
  auto record_handshake = [&](bool completed) {
    v1::PhaseTiming* phase = attempt.add_phases();
    phase->set_phase(v1::PHASE_HANDSHAKE);
    *phase->mutable_duration() = ToProtoDuration(clock.Now() - handshake_start);
    phase->set_completed(completed);
  };
  auto client = handshake::Client::Create();
  if (!client.ok()) {
    record_handshake(false);
    return finish(v1::OUTCOME_HANDSHAKE_INVALID, v1::PHASE_HANDSHAKE,
                  std::string(client.status().message()));
  }
  const auto& hello = (*client)->Hello();
  if (auto sent = open.tunnel->Send(hello, deadline); !sent.ok()) {
    const TunnelFailure failure = TunnelFailureOf(sent.status());
    record_handshake(false);
    attempt.set_os_error(failure.os_error);
    attempt.set_os_error_name(SocketErrorName(failure.os_error));
    return finish(failure.outcome, v1::PHASE_HANDSHAKE,
                  absl::StrCat("sending the handshake: ", sent.status().message()));
  }
  attempt.set_bytes_sent(hello.size());
  if (trace != nullptr) {
    trace->y_hex = Hex(hello.data(), handshake::kFieldSize);
    trace->r1_hex = Hex(hello.data() + 2 * handshake::kFieldSize, handshake::kFieldSize);
  }

  handshake::Bytes received;
  ReadEnd end = ReadEnd::kComplete;
  bool reset = false;
  for (;;) {
    const size_t wanted = ReplyBytesWanted(received);
    if (received.size() >= wanted) break;
    uint8_t buffer[4096];
    const size_t chunk = std::min(sizeof(buffer), wanted - received.size());
    auto n = open.tunnel->Recv(absl::MakeSpan(buffer, chunk), deadline);
    if (!n.ok()) {
      if (TunnelFailureOf(n.status()).outcome == v1::OUTCOME_CONNECTION_RESET) {
        reset = true;
        end = ReadEnd::kEof;
      } else {
        end = ReadEnd::kTimeout;
      }
      break;
    }
    if (*n == 0) {
      end = ReadEnd::kEof;
      break;
    }
    received.insert(received.end(), buffer, buffer + *n);
  }
  attempt.set_bytes_received(received.size());
  if (trace != nullptr) {
    trace->reply_hex = Hex(received.data(), received.size());
    trace->reply_bytes = received.size();
  }
  // A reset with nothing read is the path cutting the connection; after a
  // foreign reply it is just how that middlebox closes.
  if (reset && received.empty()) {
    record_handshake(false);
    attempt.set_os_error(ECONNRESET);
    attempt.set_os_error_name(SocketErrorName(ECONNRESET));
    return finish(v1::OUTCOME_CONNECTION_RESET, v1::PHASE_HANDSHAKE,
                  "the connection was reset during the handshake");
  }
  Classification c = ClassifyReply(**client, received, end);
  if (c.outcome == v1::OUTCOME_OK) {
    // Key confirmation back to the relay; the verdict does not depend on it.
    if (open.tunnel->Send(c.confirmation, deadline).ok()) {
      attempt.set_bytes_sent(attempt.bytes_sent() + c.confirmation.size());
    }
  }
  if (c.outcome == v1::OUTCOME_PROTOCOL_INTERFERENCE) {
    *attempt.mutable_interference() = c.evidence;
  }
  record_handshake(c.outcome == v1::OUTCOME_OK);
  return finish(c.outcome, v1::PHASE_HANDSHAKE, c.detail);
}

}  // namespace relayscope::agent
