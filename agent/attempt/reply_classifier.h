// What came back on a relay connection, as the agent judges it: the relay
// (verified by the handshake), a foreign protocol that answered in its place
// (an intercepting proxy's HTTP page, a TLS record, an SSH banner), or a
// truncated or silent reply. Used by the attempt after the hello is sent.
#ifndef AGENT_ATTEMPT_REPLY_CLASSIFIER_H_
#define AGENT_ATTEMPT_REPLY_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "protocol/handshake/handshake.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// How much of a foreign (non-relay) reply the client keeps as evidence.
inline constexpr size_t kMaxEvidenceBytes = 4096;

// How a client's read of the relay's reply ended.
enum class ReadEnd {
  kComplete,  // ReplyBytesWanted() reached
  kEof,       // the peer closed
  kTimeout,   // the deadline passed
};

// How many bytes the client should read in total, given what it has so far:
// kReplySize for a relay reply; more (up to kMaxEvidenceBytes, or until the
// peer closes) once the first bytes show a foreign protocol, so its status
// line and page title can be captured as evidence.
size_t ReplyBytesWanted(absl::Span<const uint8_t> received);

// The verdict on what came back.
struct Classification {
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  // Set for OUTCOME_PROTOCOL_INTERFERENCE.
  v1::InterferenceEvidence evidence;
  // One line for people.
  std::string detail;
  // For OUTCOME_OK: the confirmation to send to the relay.
  handshake::Bytes confirmation;
};

// Classifies the bytes read back, verifying them with `client` when they
// look like a relay reply: OK, PROTOCOL_INTERFERENCE (an HTTP reply, text, a
// TLS record, an SSH banner, with evidence), HANDSHAKE_INVALID (truncated,
// out of range, MAC mismatch) or HANDSHAKE_TIMEOUT.
Classification ClassifyReply(handshake::Client& client, absl::Span<const uint8_t> received,
                             ReadEnd end);

// Untrusted bytes as evidence text: printable ASCII kept, anything else
// (and the backslash) as \xNN; cut before the piece that would make it
// longer than `max_bytes`. Every evidence string the agent records from
// the network goes through this.
std::string EscapeEvidence(absl::string_view bytes, size_t max_bytes);

// Evidence from a foreign reply: status line, <title>, Server/Via header and
// a printable excerpt, each at most 256 bytes, non-printables as \xNN.
v1::InterferenceEvidence ExtractEvidence(absl::Span<const uint8_t> received);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_REPLY_CLASSIFIER_H_
