// gRPC's wire format over plain HTTP/2 (the gRPC "PROTOCOL-HTTP2" spec),
// for a client that is not gRPC C++: the agent's uploader speaks it over
// libcurl. Messages are length-prefixed (1 byte compressed flag, 4 bytes
// big-endian length, the bytes); the call's status comes last, as the
// trailers grpc-status / grpc-message, or alone in the headers
// (Trailers-Only) when the server refuses the call outright.
//
//   body += FrameMessage(request.SerializeAsString());
//   GrpcResponse response;
//   response.AddHeaderLine(line);            // from libcurl's header callback
//   RETURN_IF_ERROR(response.AddData(bytes)); // from its write callback
//   while (auto message = response.NextMessage()) ...;
//   absl::Status status = response.Finish();  // the call's status
#ifndef AGENT_UPLOAD_GRPC_WIRE_H_
#define AGENT_UPLOAD_GRPC_WIRE_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace relayscope::agent {

// gRPC C++'s default bound on a received message; a length prefix beyond
// it is refused before any of the message is buffered.
inline constexpr size_t kMaxGrpcMessageBytes = size_t{4} << 20;

// One uncompressed length-prefixed message.
std::string FrameMessage(absl::string_view message);

// grpc-message as sent: percent-encoded (%XX), decoded; a malformed escape
// is kept as it is.
std::string DecodeGrpcMessage(absl::string_view encoded);

// The status the gRPC spec assigns to an HTTP status when no grpc-status
// came with it (400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
// 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, others UNKNOWN).
absl::StatusCode StatusCodeForHttpStatus(int http_status);

// What one call's response says, fed as it arrives. Not thread-safe.
class GrpcResponse {
 public:
  explicit GrpcResponse(size_t max_message_bytes = kMaxGrpcMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  // One header or trailer line as libcurl hands it ("HTTP/2 200\r\n",
  // "grpc-status: 0\r\n", "\r\n"). A new status line starts the headers
  // over (an interim response).
  void AddHeaderLine(absl::string_view line);

  // Whether a status line has arrived: the server (not a hop before it)
  // answered.
  bool answered() const { return http_status_ != 0; }
  // Whether the answer is gRPC's: HTTP/2, status 200, content-type
  // application/grpc (or application/grpc+proto, ...).
  bool is_grpc() const;
  int http_status() const { return http_status_; }
  bool has_grpc_status() const { return grpc_status_.has_value(); }

  // Body bytes. INTERNAL naming the problem, and nothing buffered beyond
  // the bad prefix, when the answer is not gRPC, a message is compressed
  // (this client never asks for compression) or longer than the bound.
  absl::Status AddData(absl::string_view data);

  // The next complete message, in order, if one has arrived.
  std::optional<std::string> NextMessage();

  // The call's status once the response is complete: grpc-status with its
  // decoded grpc-message; else what is wrong with the response as gRPC
  // (HTTP/1.x, an HTTP status other than 200, a foreign content-type, no
  // grpc-status, a message cut short), with the code a gRPC client gives
  // it. FAILED_PRECONDITION when nothing was answered at all.
  absl::Status Finish() const;

 private:
  size_t max_message_bytes_;
  int http_major_ = 0;
  int http_status_ = 0;
  std::string content_type_;
  std::optional<int> grpc_status_;
  std::string grpc_message_;
  std::string buffer_;  // bytes of messages not yet taken
  size_t taken_ = 0;    // of buffer_, already handed out
};

}  // namespace relayscope::agent

#endif  // AGENT_UPLOAD_GRPC_WIRE_H_
