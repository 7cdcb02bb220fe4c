// The relay's handshake reply as the agent sees it: whatever bytes came
// back over the route, and how the read ended. Shared by the fast target
// (classification and evidence, replies shorter than R2 + MAC) and the
// slow one (complete replies, verified: R2 range and subgroup checks, the
// key-confirmation MAC).
#ifndef TESTS_FUZZ_HANDSHAKE_FUZZ_H_
#define TESTS_FUZZ_HANDSHAKE_FUZZ_H_

#include <cstdint>
#include <memory>

#include "agent/attempt/reply_classifier.h"
#include "protocol/handshake/handshake.h"
#include "tests/fuzz/fuzz_check.h"

namespace relayscope::fuzz {

inline void CheckEvidenceField(const std::string& field) {
  FUZZ_CHECK(field.size() <= 256);
  for (unsigned char c : field) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

inline void CheckEvidence(const v1::InterferenceEvidence& evidence) {
  CheckEvidenceField(evidence.status_line());
  CheckEvidenceField(evidence.page_title());
  CheckEvidenceField(evidence.server());
  CheckEvidenceField(evidence.excerpt());
}

// One client for the whole run: its Diffie-Hellman exponent costs a
// modular exponentiation, and VerifyReply does not change it.
inline handshake::Client& TheClient() {
  static handshake::Client* client = handshake::Client::Create()->release();
  return *client;
}

inline void ClassifyAndCheck(absl::Span<const uint8_t> received, relayscope::agent::ReadEnd end) {
  const size_t wanted = relayscope::agent::ReplyBytesWanted(received);
  FUZZ_CHECK(wanted == handshake::kReplySize || wanted == relayscope::agent::kMaxEvidenceBytes);
  const relayscope::agent::Classification c =
      relayscope::agent::ClassifyReply(TheClient(), received, end);
  // Nobody but the relay holding the shared key answers OK.
  FUZZ_CHECK(c.outcome == v1::OUTCOME_PROTOCOL_INTERFERENCE ||
             c.outcome == v1::OUTCOME_HANDSHAKE_INVALID ||
             c.outcome == v1::OUTCOME_HANDSHAKE_TIMEOUT);
  FUZZ_CHECK(!c.detail.empty());
  FUZZ_CHECK(c.confirmation.empty());
  if (c.outcome == v1::OUTCOME_HANDSHAKE_TIMEOUT) {
    FUZZ_CHECK(end == relayscope::agent::ReadEnd::kTimeout);
    FUZZ_CHECK(received.size() < handshake::kReplySize);
  }
  if (c.outcome == v1::OUTCOME_PROTOCOL_INTERFERENCE) CheckEvidence(c.evidence);
}

}  // namespace relayscope::fuzz

#endif  // TESTS_FUZZ_HANDSHAKE_FUZZ_H_
