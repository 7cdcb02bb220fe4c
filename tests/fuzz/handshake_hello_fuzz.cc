// The relay's side: a client hello (Y || P || R1, 768 bytes) as anyone on
// the internet can send it to a relay port (Server::Accept), then the
// client's 32-byte confirmation (VerifyConfirmation). Bytes past 768 are
// the confirmation. When the first byte's high bit is set, the hello is a
// genuine client's XORed with the input, so mutations explore near-valid
// hellos (a flipped bit of P, a Y of 0, 1 or P-1). Slow like
// handshake_verify: a hello with a plausible Y costs a 2048-bit subgroup
// check and two more modular exponentiations.
#include <algorithm>
#include <vector>

#include "tests/fuzz/handshake_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace handshake = relayscope::handshake;
  if (size == 0) return 0;
  std::vector<uint8_t> input(data + 1, data + size);
  const handshake::Bytes& genuine = relayscope::fuzz::TheClient().Hello();
  if (data[0] & 0x80) {
    std::vector<uint8_t> mixed = genuine;
    for (size_t i = 0; i < input.size() && i < mixed.size(); ++i) mixed[i] ^= input[i];
    if (input.size() > mixed.size()) {
      mixed.insert(mixed.end(), input.begin() + static_cast<long>(mixed.size()), input.end());
    }
    input = std::move(mixed);
  }
  const absl::Span<const uint8_t> hello =
      absl::MakeConstSpan(input).subspan(0, std::min(input.size(), handshake::kHelloSize));
  const absl::Span<const uint8_t> confirmation = absl::MakeConstSpan(input).subspan(hello.size());
  const auto accepted = handshake::Server::Accept(hello);
  const handshake::Server::Error error = handshake::Server::ErrorOf(accepted.status());
  if (!accepted.ok()) {
    FUZZ_CHECK(error == handshake::Server::Error::kInvalidGroup ||
               error == handshake::Server::Error::kBadY);
    // A short hello, or one whose P is not the group, never passes.
    return 0;
  }
  FUZZ_CHECK(error == handshake::Server::Error::kNone);
  const auto& server = *accepted;
  FUZZ_CHECK(hello.size() == handshake::kHelloSize);
  // P is the group's, byte for byte: the genuine client's.
  FUZZ_CHECK(std::equal(hello.begin() + handshake::kFieldSize,
                        hello.begin() + 2 * handshake::kFieldSize,
                        genuine.begin() + handshake::kFieldSize));
  FUZZ_CHECK(server->Reply().size() == handshake::kReplySize);
  // Only the client holding x can confirm: the genuine client, for its own
  // unaltered hello.
  const bool confirmed = server->VerifyConfirmation(confirmation);
  if (confirmed) FUZZ_CHECK(std::equal(hello.begin(), hello.end(), genuine.begin()));
  if (std::equal(hello.begin(), hello.end(), genuine.begin())) {
    const auto c = relayscope::agent::ClassifyReply(relayscope::fuzz::TheClient(), server->Reply(),
                                                    relayscope::agent::ReadEnd::kComplete);
    FUZZ_CHECK(c.outcome == relayscope::v1::OUTCOME_OK);
    FUZZ_CHECK(server->VerifyConfirmation(c.confirmation));
  }
  return 0;
}
