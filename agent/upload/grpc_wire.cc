#include "agent/upload/grpc_wire.h"

#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace relayscope::agent {
namespace {

constexpr size_t kPrefixBytes = 5;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The bytes a server (or an impostor) said, shown safely in an error.
std::string Shown(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    out += absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return out;
}

}  // namespace

std::string FrameMessage(absl::string_view message) {
  const auto length = static_cast<uint32_t>(message.size());
  std::string frame;
  frame.reserve(kPrefixBytes + message.size());
  frame.push_back('\0');  // not compressed
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  frame.append(message.data(), message.size());
  return frame;
}

std::string DecodeGrpcMessage(absl::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      const int high = HexValue(encoded[i + 1]);
      const int low = HexValue(encoded[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(encoded[i]);
  }
  return out;
}

absl::StatusCode StatusCodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInternal;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

void GrpcResponse::AddHeaderLine(absl::string_view line) {
  line = absl::StripTrailingAsciiWhitespace(line);
  if (line.empty()) return;
  if (absl::StartsWith(line, "HTTP/")) {
    // "HTTP/2 200", "HTTP/1.1 200 OK": a (new) response.
    http_major_ = 0;
    http_status_ = 0;
    content_type_.clear();
    grpc_status_.reset();
    grpc_message_.clear();
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    const absl::string_view version = line.substr(5);  // after "HTTP/"
    http_major_ = version.empty() ? 0 : version[0] - '0';
    int status = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &status) && status > 0) {
      http_status_ = status;
    } else {
      http_status_ = -1;  // answered, but not with a status we can read
    }
    return;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return;
  const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (name == "content-type") {
    content_type_ = absl::AsciiStrToLower(value);
  } else if (name == "grpc-status") {
    int code = 0;
    // A value that is not a code is a status all the same: UNKNOWN.
    grpc_status_ = absl::SimpleAtoi(value, &code) && code >= 0 && code <= 16 ? code : 2;
  } else if (name == "grpc-message") {
    grpc_message_ = DecodeGrpcMessage(value);
  }
}

bool GrpcResponse::is_grpc() const {
  const bool grpc_type = content_type_ == "application/grpc" ||
                         absl::StartsWith(content_type_, "application/grpc+") ||
                         absl::StartsWith(content_type_, "application/grpc;");
  return http_major_ == 2 && http_status_ == 200 && grpc_type;
}

absl::Status GrpcResponse::AddData(absl::string_view data) {
  if (!is_grpc()) {
    // Not ours to parse (an HTML error page...): Finish says what it is.
    return Finish().ok() ? absl::InternalError("a body that is not gRPC's") : Finish();
  }
  buffer_.append(data.data(), data.size());
  // Check every complete prefix now, so a hostile length is refused
  // before its bytes are waited for or kept.
  size_t at = taken_;
  while (buffer_.size() - at >= kPrefixBytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + at);
    if (p[0] != 0) {
      return absl::InternalError(absl::StrCat("the collector sent a compressed message (flag ",
                                              p[0], ") though none was asked for"));
    }
    const uint64_t length =
        (uint64_t{p[1]} << 24) | (uint64_t{p[2]} << 16) | (uint64_t{p[3]} << 8) | uint64_t{p[4]};
    if (length > max_message_bytes_) {
      return absl::InternalError(absl::StrCat("the collector announced a ", length,
                                              "-byte message, beyond the bound of ",
                                              max_message_bytes_, " bytes"));
    }
    if (buffer_.size() - at - kPrefixBytes < length) break;
    at += kPrefixBytes + length;
  }
  return absl::OkStatus();
}

std::optional<std::string> GrpcResponse::NextMessage() {
  if (buffer_.size() - taken_ < kPrefixBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + taken_);
  const size_t length = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
  if (p[0] != 0 || length > max_message_bytes_ || buffer_.size() - taken_ - kPrefixBytes < length) {
    return std::nullopt;
  }
  std::string message = buffer_.substr(taken_ + kPrefixBytes, length);
  taken_ += kPrefixBytes + length;
  if (taken_ == buffer_.size()) {
    buffer_.clear();
    taken_ = 0;
  }
  return message;
}

absl::Status GrpcResponse::Finish() const {
  if (http_status_ == 0) return absl::FailedPreconditionError("no response");
  if (http_status_ < 0) return absl::UnavailableError("an unreadable HTTP status line");
  if (http_major_ != 2) {
    return absl::UnavailableError(
        absl::StrCat("the server answered HTTP/1.x (status ", http_status_,
                     "), not HTTP/2: not a gRPC endpoint, or TLS without ALPN h2 on the way"));
  }
  if (http_status_ != 200) {
    if (grpc_status_) {
      return absl::Status(static_cast<absl::StatusCode>(*grpc_status_),
                          absl::StrCat(grpc_message_, " (HTTP status ", http_status_, ")"));
    }
    return absl::Status(StatusCodeForHttpStatus(http_status_),
                        absl::StrCat("HTTP status ", http_status_, ", not a gRPC answer"));
  }
  if (!is_grpc()) {
    return absl::UnknownError(absl::StrCat("content-type \"", Shown(content_type_),
                                           "\", not application/grpc: not a gRPC answer"));
  }
  if (!grpc_status_) {
    return absl::InternalError("the response ended without a grpc-status");
  }
  if (*grpc_status_ == 0 && buffer_.size() > taken_) {
    return absl::InternalError(absl::StrCat("a message cut short (", buffer_.size() - taken_,
                                            " bytes of a length-prefixed message)"));
  }
  if (*grpc_status_ == 0) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(*grpc_status_),
                      grpc_message_.empty() ? "no grpc-message" : grpc_message_);
}

}  // namespace relayscope::agent
