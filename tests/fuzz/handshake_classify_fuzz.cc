// Short or foreign handshake replies: the classifier and the evidence
// extractor (status line, <title>, Server/Via, excerpt). The first byte
// says how the read ended. Evidence is extracted from the whole input (up
// to the 4 KiB the agent keeps); the classifier sees it cut below R2 + MAC
// (288 bytes), so no input pays for a 2048-bit verification:
// handshake_verify covers complete replies.
#include "tests/fuzz/handshake_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto end = static_cast<relayscope::agent::ReadEnd>(data[0] % 3);
  absl::Span<const uint8_t> received(data + 1, size - 1);
  const auto evidence = relayscope::agent::ExtractEvidence(received);
  relayscope::fuzz::CheckEvidence(evidence);
  if (received.size() >= relayscope::handshake::kReplySize) {
    received = received.subspan(0, relayscope::handshake::kReplySize - 1);
  }
  relayscope::fuzz::ClassifyAndCheck(received, end);
  return 0;
}
