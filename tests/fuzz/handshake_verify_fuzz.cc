// Complete handshake replies (R2 || MAC, and anything after): the R2 range
// and subgroup checks and the key-confirmation MAC. The first byte says how
// the read ended; when its high bit is set the rest is XORed onto a
// genuine reply from a real relay (Server::Accept), so mutations explore
// "almost right" replies too (a flipped MAC byte, a truncated R2).
#include <vector>

#include "tests/fuzz/handshake_fuzz.h"

namespace {

const std::vector<uint8_t>& GenuineReply() {
  static const std::vector<uint8_t> reply = [] {
    auto server = relayscope::handshake::Server::Accept(relayscope::fuzz::TheClient().Hello());
    FUZZ_CHECK(server.ok());
    return (*server)->Reply();
  }();
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto end = static_cast<relayscope::agent::ReadEnd>((data[0] & 0x7f) % 3);
  std::vector<uint8_t> received(data + 1, data + size);
  if (data[0] & 0x80) {
    const std::vector<uint8_t>& genuine = GenuineReply();
    std::vector<uint8_t> mixed = genuine;
    for (size_t i = 0; i < received.size() && i < mixed.size(); ++i) mixed[i] ^= received[i];
    // Extra bytes cut or extend the genuine reply.
    if (received.size() > mixed.size()) {
      mixed.insert(mixed.end(), received.begin() + static_cast<long>(mixed.size()), received.end());
    } else if (!received.empty() && received.back() == 0xff) {
      mixed.resize(received.size());
    }
    // An unchanged genuine reply is the relay: OK, with a confirmation.
    if (mixed.size() >= genuine.size() &&
        std::equal(genuine.begin(), genuine.end(), mixed.begin())) {
      const auto c = relayscope::agent::ClassifyReply(relayscope::fuzz::TheClient(), mixed, end);
      FUZZ_CHECK(c.outcome == relayscope::v1::OUTCOME_OK);
      FUZZ_CHECK(c.confirmation.size() == relayscope::handshake::kConfirmSize);
      return 0;
    }
    received = std::move(mixed);
  }
  relayscope::fuzz::ClassifyAndCheck(received, end);
  return 0;
}
