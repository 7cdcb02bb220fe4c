#include "agent/attempt/reply_classifier.h"

#include <algorithm>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace relayscope::agent {
namespace {

std::string Escape(absl::Span<const uint8_t> bytes, size_t max_out) {
  return EscapeEvidence(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), max_out);
}

bool LooksForeign(absl::Span<const uint8_t> r) {
  auto starts = [&](absl::string_view prefix) {
    return r.size() >= prefix.size() && std::memcmp(r.data(), prefix.data(), prefix.size()) == 0;
  };
  if (starts("HTTP/") || starts("SSH-")) return true;
  // A TLS record header: content type 20-23, version 3.x.
  if (r.size() >= 3 && r[0] >= 0x14 && r[0] <= 0x17 && r[1] == 0x03 && r[2] <= 0x04) return true;
  // Text: the first 16 bytes all printable or whitespace. A 2048-bit R2
  // does that with probability (98/256)^16, about 2e-7; a verified MAC
  // always wins over this guess (see ClassifyReply).
  if (r.size() < 16) return false;
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t c = r[i];
    if (!((c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n' || c == '\t')) return false;
  }
  return true;
}

}  // namespace

std::string EscapeEvidence(absl::string_view bytes, size_t max_bytes) {
  std::string out;
  for (const char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    std::string piece =
        (c >= 0x20 && c < 0x7f && c != '\\') ? std::string(1, ch) : absl::StrFormat("\\x%02x", c);
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
  }
  return out;
}

size_t ReplyBytesWanted(absl::Span<const uint8_t> received) {
  return LooksForeign(received) ? kMaxEvidenceBytes : handshake::kReplySize;
}

v1::InterferenceEvidence ExtractEvidence(absl::Span<const uint8_t> received) {
  v1::InterferenceEvidence evidence;
  const absl::string_view text(reinterpret_cast<const char*>(received.data()), received.size());
  const size_t eol = text.find_first_of("\r\n");
  const absl::string_view first_line = text.substr(0, eol);
  evidence.set_status_line(Escape(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(first_line.data()), first_line.size()),
      256));
  const std::string lower = absl::AsciiStrToLower(text);
  // <title ...>...</title>, case-insensitive, bounded by what was received.
  if (size_t open = lower.find("<title"); open != std::string::npos) {
    if (size_t start = lower.find('>', open); start != std::string::npos) {
      ++start;
      const size_t end = lower.find("</title", start);
      absl::string_view title = absl::StripAsciiWhitespace(
          text.substr(start, end == std::string::npos ? std::string::npos : end - start));
      evidence.set_page_title(Escape(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(title.data()), title.size()), 256));
    }
  }
  // Server: or Via: among the headers.
  const size_t headers_end = lower.find("\r\n\r\n");
  const absl::string_view headers = absl::string_view(lower).substr(0, headers_end);
  for (absl::string_view name : {"\nserver:", "\nvia:"}) {
    const size_t at = headers.find(name);
    if (at == absl::string_view::npos) continue;
    const size_t value_start = at + name.size();
    const size_t value_end = lower.find_first_of("\r\n", value_start);
    absl::string_view value = absl::StripAsciiWhitespace(text.substr(
        value_start, value_end == std::string::npos ? std::string::npos : value_end - value_start));
    evidence.set_server(Escape(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(value.data()), value.size()), 256));
    break;
  }
  evidence.set_excerpt(Escape(received.subspan(0, std::min<size_t>(received.size(), 256)), 256));
  return evidence;
}

Classification ClassifyReply(handshake::Client& client, absl::Span<const uint8_t> received,
                             ReadEnd end) {
  Classification result;
  absl::StatusOr<handshake::Bytes> verified = absl::UnknownError("not verified");
  if (received.size() >= handshake::kReplySize) {
    // A verified reply is the relay, whatever its bytes look like.
    verified = client.VerifyReply(received.subspan(0, handshake::kReplySize));
    if (verified.ok()) {
      result.outcome = v1::OUTCOME_OK;
      result.confirmation = *std::move(verified);
      result.detail = "handshake verified";
      return result;
    }
  }
  if (LooksForeign(received)) {
    result.outcome = v1::OUTCOME_PROTOCOL_INTERFERENCE;
    result.evidence = ExtractEvidence(received);
    result.detail =
        absl::StrCat("something other than the relay answered: ", result.evidence.status_line());
    return result;
  }
  if (received.size() >= handshake::kReplySize) {
    result.outcome = v1::OUTCOME_HANDSHAKE_INVALID;
    result.detail = std::string(verified.status().message());
    return result;
  }
  if (end == ReadEnd::kTimeout) {
    result.outcome = v1::OUTCOME_HANDSHAKE_TIMEOUT;
    result.detail = received.empty()
                        ? "no reply before the deadline"
                        : absl::StrCat("only ", received.size(), " of ", handshake::kReplySize,
                                       " reply bytes before the deadline");
    return result;
  }
  result.outcome = v1::OUTCOME_HANDSHAKE_INVALID;
  result.detail = received.empty()
                      ? "the connection closed without a reply"
                      : absl::StrCat("truncated: the connection closed after ", received.size(),
                                     " of ", handshake::kReplySize, " reply bytes");
  return result;
}

}  // namespace relayscope::agent
