// The relay handshake, both sides, without sockets.
//
// Seed-shaped framing with a real key exchange: the client sends Y, P and R1
// as three 256-byte fields (finite-field Diffie-Hellman over the RFC 3526
// 2048-bit MODP group, Y = 2^x mod P, R1 a random nonce); the relay answers
// R2 (its public value) and a key-confirmation MAC over the transcript; the
// client answers its own MAC. Any middlebox that answers, truncates or alters
// bytes is detected: see PROTOCOL.md beside this file for the wire format.
// Both the agent and the reference relay build on this library; what the
// agent concludes from a reply that is not the relay's lives in
// agent/attempt/reply_classifier.h.
#ifndef PROTOCOL_HANDSHAKE_HANDSHAKE_H_
#define PROTOCOL_HANDSHAKE_HANDSHAKE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace relayscope::handshake {

inline constexpr size_t kFieldSize = 256;                    // Y, P, R1, R2
inline constexpr size_t kHelloSize = 3 * kFieldSize;         // client -> relay
inline constexpr size_t kMacSize = 32;                       // HMAC-SHA256
inline constexpr size_t kReplySize = kFieldSize + kMacSize;  // relay -> client
inline constexpr size_t kConfirmSize = kMacSize;             // client -> relay

using Bytes = std::vector<uint8_t>;

// The client side of one handshake.
class Client {
 public:
  // Draws x and R1 from OpenSSL's CSPRNG. INTERNAL if OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<Client>> Create();
  ~Client();

  // The 768 bytes to send: Y || P || R1.
  const Bytes& Hello() const { return hello_; }

  // Verifies a complete 288-byte reply (R2 || MAC). On success returns the
  // 32-byte confirmation to send back. INVALID_ARGUMENT naming what failed:
  // "R2 out of range", "R2 not in the group", "key confirmation failed".
  absl::StatusOr<Bytes> VerifyReply(absl::Span<const uint8_t> reply);

 private:
  Client() = default;
  struct Secret;
  std::unique_ptr<Secret> secret_;
  Bytes hello_;
};

// The relay side of one handshake.
class Server {
 public:
  // What went wrong with a hello; the relay logs it as `result=`.
  enum class Error { kNone, kInvalidGroup, kBadY, kInternal };

  // Validates the client's 768-byte hello (P must be the RFC 3526 group;
  // 2 <= Y <= P-2 and Y in the prime-order subgroup) and computes the
  // 288-byte reply. A bad hello is INVALID_ARGUMENT (ErrorOf: kInvalidGroup
  // or kBadY, a short one included); INTERNAL (kInternal) if OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<Server>> Accept(absl::Span<const uint8_t> hello);
  // Which Error a status returned by Accept stands for: kNone for OK.
  static Error ErrorOf(const absl::Status& status);
  ~Server();

  const Bytes& Reply() const { return reply_; }
  // Checks the client's 32-byte confirmation in constant time.
  bool VerifyConfirmation(absl::Span<const uint8_t> confirmation) const;

 private:
  Server() = default;
  Bytes reply_;
  std::array<uint8_t, kMacSize> expected_confirmation_{};
};

}  // namespace relayscope::handshake

#endif  // PROTOCOL_HANDSHAKE_HANDSHAKE_H_
