// The reply classifier against the real handshake: a genuine relay reply,
// every alteration and truncation of it, and the foreign protocols that
// answer in a relay's place.
#include "agent/attempt/reply_classifier.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/handshake/handshake.h"

namespace relayscope::agent {
namespace {

using handshake::Bytes;
using handshake::Client;
using handshake::kFieldSize;
using handshake::kReplySize;
using handshake::Server;
using ::testing::HasSubstr;

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// The protocol's own test (handshake_test.cc) checks sizes and the server
// side; here the classifier must call a genuine reply OK and hand back the
// confirmation the relay accepts.
TEST(ReplyClassifier, AGenuineRelayReplyIsOkWithTheConfirmationTheRelayAccepts) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok()) << client.status();
  auto accepted = Server::Accept((*client)->Hello());
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  const Server& server = **accepted;

  Classification c = ClassifyReply(**client, server.Reply(), ReadEnd::kComplete);
  ASSERT_EQ(c.outcome, v1::OUTCOME_OK) << c.detail;
  EXPECT_TRUE(server.VerifyConfirmation(c.confirmation));
  Bytes forged = c.confirmation;
  forged[0] ^= 1;
  EXPECT_FALSE(server.VerifyConfirmation(forged));
}

TEST(ReplyClassifier, EverySingleBitFlipInTheReplyIsDetected) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  auto accepted = Server::Accept((*client)->Hello());
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  const std::unique_ptr<Server>& server = *accepted;
  int detected = 0;
  // Every bit of the MAC and a spread of R2 bits (all 2304 would take long
  // because each R2 check is a 2048-bit exponentiation).
  std::vector<size_t> bits;
  for (size_t bit = kFieldSize * 8; bit < kReplySize * 8; ++bit) bits.push_back(bit);
  for (size_t bit = 0; bit < kFieldSize * 8; bit += 61) bits.push_back(bit);
  for (size_t bit : bits) {
    Bytes altered = server->Reply();
    altered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Classification c = ClassifyReply(**client, altered, ReadEnd::kComplete);
    if (c.outcome == v1::OUTCOME_HANDSHAKE_INVALID) ++detected;
  }
  EXPECT_EQ(detected, static_cast<int>(bits.size()));
}

TEST(ReplyClassifier, TruncatedReplyAtEveryLengthIsInvalidNeverOk) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  auto accepted = Server::Accept((*client)->Hello());
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  const std::unique_ptr<Server>& server = *accepted;
  for (size_t n = 0; n < kReplySize; ++n) {
    Classification c =
        ClassifyReply(**client, absl::MakeConstSpan(server->Reply()).subspan(0, n), ReadEnd::kEof);
    ASSERT_NE(c.outcome, v1::OUTCOME_OK) << n;
    // Random R2 bytes may by chance look like text only if long; a real
    // relay prefix is never classified as a timeout after EOF.
    EXPECT_TRUE(c.outcome == v1::OUTCOME_HANDSHAKE_INVALID ||
                c.outcome == v1::OUTCOME_PROTOCOL_INTERFERENCE)
        << n;
  }
  Classification empty = ClassifyReply(**client, {}, ReadEnd::kEof);
  EXPECT_EQ(empty.detail, "the connection closed without a reply");
  Classification partial =
      ClassifyReply(**client, absl::MakeConstSpan(server->Reply()).subspan(0, 100), ReadEnd::kEof);
  EXPECT_EQ(partial.detail, "truncated: the connection closed after 100 of 288 reply bytes");
}

TEST(ReplyClassifier, SilenceUntilTheDeadlineIsAHandshakeTimeout) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(ClassifyReply(**client, {}, ReadEnd::kTimeout).outcome, v1::OUTCOME_HANDSHAKE_TIMEOUT);
}

TEST(ReplyClassifier, ClientRejectsOutOfRangeR2) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Bytes reply(kReplySize, 0);
  reply[kFieldSize - 1] = 1;  // R2 = 1
  Classification c = ClassifyReply(**client, reply, ReadEnd::kComplete);
  EXPECT_EQ(c.outcome, v1::OUTCOME_HANDSHAKE_INVALID);
  EXPECT_EQ(c.detail, "R2 out of range");
}

const char kSeedReply[] =
    "HTTP/1.0 400 Bad Request\r\nServer: squid/2.5\r\nContent-Type: text/html\r\n"
    "Connection: close\r\n\r\n<HTML><HEAD>\n<TITLE>Request Error</TITLE>\n</HEAD><BODY>\n"
    "<H1>Request Error</H1>\nYour request could not be processed.\n</BODY></HTML>\n";

TEST(ReplyClassifier, SeedsTransparentProxyReplyIsInterferenceWithStatusAndTitle) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Bytes reply = ToBytes(kSeedReply);
  EXPECT_EQ(ReplyBytesWanted(absl::MakeConstSpan(reply).subspan(0, 8)), kMaxEvidenceBytes);
  for (ReadEnd end : {ReadEnd::kEof, ReadEnd::kTimeout, ReadEnd::kComplete}) {
    Classification c = ClassifyReply(**client, reply, end);
    ASSERT_EQ(c.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
    EXPECT_EQ(c.evidence.status_line(), "HTTP/1.0 400 Bad Request");
    EXPECT_EQ(c.evidence.page_title(), "Request Error");
    EXPECT_EQ(c.evidence.server(), "squid/2.5");
    EXPECT_THAT(c.evidence.excerpt(), HasSubstr("HTTP/1.0 400 Bad Request\\x0d\\x0aServer"));
  }
  // Only the first 60 bytes arrived: still recognised, without a title.
  Classification partial =
      ClassifyReply(**client, absl::MakeConstSpan(reply).subspan(0, 60), ReadEnd::kEof);
  EXPECT_EQ(partial.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(partial.evidence.status_line(), "HTTP/1.0 400 Bad Request");
}

TEST(ReplyClassifier, TitleIsFoundInAnyCaseAndKeptAsBoundedText) {
  auto evidence = ExtractEvidence(
      ToBytes("HTTP/1.1 403 Forbidden\r\n\r\n<html><head><title> <script>alert(1)</script>"
              "</TiTlE></head>"));
  // Escaping for HTML is the renderer's job; here it stays text.
  EXPECT_EQ(evidence.page_title(), "<script>alert(1)</script>");
  auto long_title =
      ExtractEvidence(ToBytes("HTTP/1.1 200 OK\r\n\r\n<title>" + std::string(1000, 'A')));
  EXPECT_EQ(long_title.page_title().size(), 256u);
}

TEST(ReplyClassifier, OtherForeignProtocolsAreInterference) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Classification ssh = ClassifyReply(**client, ToBytes("SSH-2.0-OpenSSH_9.2\r\n"), ReadEnd::kEof);
  EXPECT_EQ(ssh.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(ssh.evidence.status_line(), "SSH-2.0-OpenSSH_9.2");
  const Bytes tls_alert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
  Classification tls = ClassifyReply(**client, tls_alert, ReadEnd::kEof);
  EXPECT_EQ(tls.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_EQ(tls.evidence.excerpt(), "\\x15\\x03\\x03\\x00\\x02\\x02(");
  Classification banner =
      ClassifyReply(**client, ToBytes("220 mail.example ESMTP ready\r\n"), ReadEnd::kTimeout);
  EXPECT_EQ(banner.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
}

TEST(ReplyClassifier, HugeForeignReplyKeepsBoundedEvidence) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(1 << 20, 'x');
  Classification c = ClassifyReply(**client, ToBytes(huge), ReadEnd::kComplete);
  EXPECT_EQ(c.outcome, v1::OUTCOME_PROTOCOL_INTERFERENCE);
  EXPECT_LE(c.evidence.status_line().size(), 256u);
  EXPECT_LE(c.evidence.excerpt().size(), 256u);
  EXPECT_EQ(ReplyBytesWanted(ToBytes(huge)), kMaxEvidenceBytes);
}

}  // namespace
}  // namespace relayscope::agent
