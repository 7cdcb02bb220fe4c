// gRPC's wire format on its own: framing, the response as libcurl hands it
// (headers, body in pieces, trailers, Trailers-Only), and every way a
// response can be wrong, each named.
#include "agent/upload/grpc_wire.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;

void GrpcHeaders(GrpcResponse* response) {
  response->AddHeaderLine("HTTP/2 200\r\n");
  response->AddHeaderLine("content-type: application/grpc\r\n");
  response->AddHeaderLine("\r\n");
}

TEST(FrameMessage, PrefixesFlagAndBigEndianLength) {
  const std::string frame = FrameMessage(std::string(258, 'x'));
  ASSERT_EQ(frame.size(), 263u);
  EXPECT_EQ(frame.substr(0, 5), std::string("\0\0\0\x01\x02", 5));
  EXPECT_EQ(FrameMessage(""), std::string(5, '\0'));
}

TEST(DecodeGrpcMessage, DecodesPercentEscapesAndKeepsMalformedOnes) {
  EXPECT_EQ(DecodeGrpcMessage("bad%20token%3A%20x"), "bad token: x");
  EXPECT_EQ(DecodeGrpcMessage("100%"), "100%");
  EXPECT_EQ(DecodeGrpcMessage("%zz%4"), "%zz%4");
  EXPECT_EQ(DecodeGrpcMessage("caf%C3%A9"), "caf\xC3\xA9");
}

TEST(GrpcResponse, MessagesSplitAcrossWritesComeOutWholeAndInOrder) {
  GrpcResponse response;
  GrpcHeaders(&response);
  const std::string body = FrameMessage("first") + FrameMessage("") + FrameMessage("third");
  for (char c : body) ASSERT_TRUE(response.AddData(std::string(1, c)).ok());
  EXPECT_EQ(response.NextMessage(), "first");
  EXPECT_EQ(response.NextMessage(), "");
  EXPECT_EQ(response.NextMessage(), "third");
  EXPECT_EQ(response.NextMessage(), std::nullopt);
  response.AddHeaderLine("grpc-status: 0\r\n");
  EXPECT_TRUE(response.Finish().ok()) << response.Finish();
}

TEST(GrpcResponse, PartialMessageIsNotHandedOutAndIsTruncatedAtTheEnd) {
  GrpcResponse response;
  GrpcHeaders(&response);
  const std::string frame = FrameMessage("an ack");
  ASSERT_TRUE(response.AddData(frame.substr(0, 7)).ok());
  EXPECT_EQ(response.NextMessage(), std::nullopt);
  response.AddHeaderLine("grpc-status: 0\r\n");
  EXPECT_EQ(response.Finish().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(response.Finish().message(), HasSubstr("cut short"));
}

TEST(GrpcResponse, LengthBeyondTheBoundIsRefusedFromItsPrefix) {
  GrpcResponse response(1024);
  GrpcHeaders(&response);
  absl::Status status = response.AddData(std::string("\0\0\0\x04\x01", 5));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("1025-byte message, beyond the bound of 1024"));
  GrpcResponse big;
  GrpcHeaders(&big);
  EXPECT_THAT(big.AddData(std::string("\0\xff\xff\xff\xff", 5)).message(),
              HasSubstr("4294967295-byte"));
}

TEST(GrpcResponse, CompressedMessageIsRefused) {
  GrpcResponse response;
  GrpcHeaders(&response);
  EXPECT_THAT(response.AddData(std::string("\x01\0\0\0\0", 5)).message(), HasSubstr("compressed"));
}

TEST(GrpcResponse, TrailersGiveTheStatusWithItsDecodedMessage) {
  GrpcResponse response;
  GrpcHeaders(&response);
  response.AddHeaderLine("grpc-status: 8\r\n");
  response.AddHeaderLine("grpc-message: rate%20exceeded\r\n");
  EXPECT_EQ(response.Finish(), absl::ResourceExhaustedError("rate exceeded"));
}

TEST(GrpcResponse, TrailersOnlyResponseCarriesTheStatusInItsHeaders) {
  GrpcResponse response;
  response.AddHeaderLine("HTTP/2 200\r\n");
  response.AddHeaderLine("Content-Type: application/grpc\r\n");
  response.AddHeaderLine("Grpc-Status: 16\r\n");
  response.AddHeaderLine("grpc-message: invalid%20token\r\n");
  response.AddHeaderLine("\r\n");
  EXPECT_TRUE(response.is_grpc());
  EXPECT_EQ(response.Finish(), absl::UnauthenticatedError("invalid token"));
}

TEST(GrpcResponse, MissingGrpcStatusIsAnError) {
  GrpcResponse response;
  GrpcHeaders(&response);
  EXPECT_EQ(response.Finish().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(response.Finish().message(), HasSubstr("without a grpc-status"));
}

TEST(GrpcResponse, HttpStatusOtherThan200IsMappedAsGrpcDoes) {
  GrpcResponse response;
  response.AddHeaderLine("HTTP/2 503\r\n");
  response.AddHeaderLine("content-type: text/html\r\n");
  EXPECT_FALSE(response.is_grpc());
  EXPECT_EQ(response.Finish().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.Finish().message(), HasSubstr("HTTP status 503"));
  EXPECT_FALSE(response.AddData("<html>").ok());  // a page is not parsed as messages
  EXPECT_EQ(StatusCodeForHttpStatus(404), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(StatusCodeForHttpStatus(401), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusCodeForHttpStatus(418), absl::StatusCode::kUnknown);
}

TEST(GrpcResponse, ForeignContentTypeIsNotGrpc) {
  GrpcResponse response;
  response.AddHeaderLine("HTTP/2 200\r\n");
  response.AddHeaderLine("content-type: text/html; charset=utf-8\r\n");
  EXPECT_FALSE(response.is_grpc());
  EXPECT_THAT(response.Finish().message(), HasSubstr("content-type \"text/html; charset=utf-8\""));
  GrpcResponse proto;
  proto.AddHeaderLine("HTTP/2 200\r\n");
  proto.AddHeaderLine("content-type: application/grpc+proto\r\n");
  EXPECT_TRUE(proto.is_grpc());
}

TEST(GrpcResponse, Http1AnswerIsNamed) {
  GrpcResponse response;
  response.AddHeaderLine("HTTP/1.1 200 OK\r\n");
  response.AddHeaderLine("content-type: application/grpc\r\n");
  EXPECT_TRUE(response.answered());
  EXPECT_FALSE(response.is_grpc());
  EXPECT_THAT(response.Finish().message(), HasSubstr("HTTP/1.x"));
}

TEST(GrpcResponse, NoAnswerAtAll) {
  GrpcResponse response;
  EXPECT_FALSE(response.answered());
  EXPECT_EQ(response.Finish().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(GrpcResponse, InterimResponseStartsTheHeadersOver) {
  GrpcResponse response;
  response.AddHeaderLine("HTTP/1.1 100 Continue\r\n");
  response.AddHeaderLine("grpc-status: 3\r\n");
  response.AddHeaderLine("\r\n");
  GrpcHeaders(&response);
  response.AddHeaderLine("grpc-status: 0\r\n");
  EXPECT_TRUE(response.Finish().ok());
}

}  // namespace
}  // namespace relayscope::agent
