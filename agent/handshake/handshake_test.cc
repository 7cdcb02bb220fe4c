#include "agent/handshake/handshake.h"

#include <openssl/bn.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::handshake {
namespace {

using ::testing::HasSubstr;

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A hello with Y replaced by `y` (P and R1 kept).
Bytes HelloWithY(const Bytes& hello, BIGNUM* y) {
  Bytes out = hello;
  BN_bn2binpad(y, out.data(), kFieldSize);
  return out;
}

TEST(Handshake, ClientAndRelayAgreeAndConfirmEachOther) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ((*client)->Hello().size(), kHelloSize);
  Server::Error error;
  auto server = Server::Accept((*client)->Hello(), &error);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(error, Server::Error::kNone);
  ASSERT_EQ(server->Reply().size(), kReplySize);

  Classification c = ClassifyReply(**client, server->Reply(), ReadEnd::kComplete);
  ASSERT_EQ(c.outcome, v1::OUTCOME_OK) << c.detail;
  EXPECT_TRUE(server->VerifyConfirmation(c.confirmation));
  Bytes forged = c.confirmation;
  forged[0] ^= 1;
  EXPECT_FALSE(server->VerifyConfirmation(forged));
}

TEST(Handshake, EachSessionUsesFreshRandomness) {
  auto a = Client::Create();
  auto b = Client::Create();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->Hello(), (*b)->Hello());
  // P is the same RFC 3526 group in both.
  EXPECT_TRUE(std::equal((*a)->Hello().begin() + kFieldSize, (*a)->Hello().begin() + 2 * kFieldSize,
                         (*b)->Hello().begin() + kFieldSize));
}

TEST(Handshake, EverySingleBitFlipInTheReplyIsDetected) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Server::Error error;
  auto server = Server::Accept((*client)->Hello(), &error);
  ASSERT_NE(server, nullptr);
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

TEST(Handshake, TruncatedReplyAtEveryLengthIsInvalidNeverOk) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Server::Error error;
  auto server = Server::Accept((*client)->Hello(), &error);
  ASSERT_NE(server, nullptr);
  for (size_t n = 0; n < kReplySize; ++n) {
    Classification c = ClassifyReply(
        **client, absl::MakeConstSpan(server->Reply()).subspan(0, n), ReadEnd::kEof);
    ASSERT_NE(c.outcome, v1::OUTCOME_OK) << n;
    // Random R2 bytes may by chance look like text only if long; a real
    // relay prefix is never classified as a timeout after EOF.
    EXPECT_TRUE(c.outcome == v1::OUTCOME_HANDSHAKE_INVALID ||
                c.outcome == v1::OUTCOME_PROTOCOL_INTERFERENCE)
        << n;
  }
  Classification empty = ClassifyReply(**client, {}, ReadEnd::kEof);
  EXPECT_EQ(empty.detail, "the connection closed without a reply");
  Classification partial = ClassifyReply(
      **client, absl::MakeConstSpan(server->Reply()).subspan(0, 100), ReadEnd::kEof);
  EXPECT_EQ(partial.detail, "truncated: the connection closed after 100 of 288 reply bytes");
}

TEST(Handshake, SilenceUntilTheDeadlineIsAHandshakeTimeout) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(ClassifyReply(**client, {}, ReadEnd::kTimeout).outcome, v1::OUTCOME_HANDSHAKE_TIMEOUT);
}

TEST(Handshake, RelayRejectsAnyOtherGroup) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Bytes hello = (*client)->Hello();
  hello[kFieldSize + kFieldSize - 1] ^= 0x02;  // a different (attacker-chosen) P
  Server::Error error;
  EXPECT_EQ(Server::Accept(hello, &error), nullptr);
  EXPECT_EQ(error, Server::Error::kInvalidGroup);
}

// The subgroup check is the Legendre symbol (Euler's criterion for the safe
// prime P); it must agree with the definition, v^q == 1 (mod P), on squares
// (always members), their negatives (never: -1 is a non-residue since
// P = 3 mod 4) and random values (about half each).
TEST(Handshake, SubgroupCheckAgreesWithTheExponentiationDefinition) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  BIGNUM* p = BN_get_rfc3526_prime_2048(nullptr);
  BIGNUM* q = BN_dup(p);
  BN_sub_word(q, 1);
  BN_rshift1(q, q);
  BN_CTX* ctx = BN_CTX_new();
  BIGNUM* r = BN_new();
  BIGNUM* v = BN_new();
  BIGNUM* power = BN_new();
  int members = 0, outsiders = 0;
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(BN_rand_range(r, p));
    for (int form = 0; form < 3; ++form) {
      if (form == 0) BN_mod_sqr(v, r, p, ctx);         // a square
      if (form == 1) BN_sub(v, p, v);                  // minus that square
      if (form == 2) BN_copy(v, r);                    // anything
      if (BN_cmp(v, BN_value_one()) <= 0) continue;    // out of range: another check
      ASSERT_TRUE(BN_mod_exp(power, v, q, p, ctx));
      const bool member = BN_is_one(power);
      if (form == 0) {
        EXPECT_TRUE(member);
      } else if (form == 1) {
        EXPECT_FALSE(member);
      }
      Server::Error error;
      const auto server = Server::Accept(HelloWithY((*client)->Hello(), v), &error);
      EXPECT_EQ(server != nullptr, member) << "form " << form << " round " << i;
      EXPECT_EQ(error, member ? Server::Error::kNone : Server::Error::kBadY);
      ++(member ? members : outsiders);
    }
  }
  // Random values land on both sides.
  EXPECT_GT(members, 70);
  EXPECT_GT(outsiders, 70);
  for (BIGNUM* bn : {p, q, r, v, power}) BN_free(bn);
  BN_CTX_free(ctx);
}

TEST(Handshake, RelayRejectsSmallSubgroupAndOutOfRangeY) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  BIGNUM* p = BN_get_rfc3526_prime_2048(nullptr);
  BIGNUM* v = BN_new();
  auto expect_bad_y = [&](const char* what) {
    Server::Error error;
    EXPECT_EQ(Server::Accept(HelloWithY((*client)->Hello(), v), &error), nullptr) << what;
    EXPECT_EQ(error, Server::Error::kBadY) << what;
  };
  BN_zero(v);
  expect_bad_y("Y = 0");
  BN_one(v);
  expect_bad_y("Y = 1");
  BN_copy(v, p);
  BN_sub_word(v, 1);
  expect_bad_y("Y = P - 1");
  BN_copy(v, p);
  expect_bad_y("Y = P");
  // In range but outside the prime-order subgroup: P - 2 = -2 is a quadratic
  // non-residue because P = 7 (mod 8), as RFC 3526 primes are.
  BN_copy(v, p);
  BN_sub_word(v, 2);
  expect_bad_y("Y = P - 2 (not in the subgroup)");
  Bytes short_hello((*client)->Hello().begin(), (*client)->Hello().begin() + 500);
  Server::Error error;
  EXPECT_EQ(Server::Accept(short_hello, &error), nullptr);
  BN_free(v);
  BN_free(p);
}

TEST(Handshake, ClientRejectsOutOfRangeR2) {
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

TEST(Handshake, SeedsTransparentProxyReplyIsInterferenceWithStatusAndTitle) {
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

TEST(Handshake, TitleIsFoundInAnyCaseAndKeptAsBoundedText) {
  auto evidence = ExtractEvidence(
      ToBytes("HTTP/1.1 403 Forbidden\r\n\r\n<html><head><title> <script>alert(1)</script>"
              "</TiTlE></head>"));
  // Escaping for HTML is the renderer's job; here it stays text.
  EXPECT_EQ(evidence.page_title(), "<script>alert(1)</script>");
  auto long_title = ExtractEvidence(ToBytes("HTTP/1.1 200 OK\r\n\r\n<title>" + std::string(1000, 'A')));
  EXPECT_EQ(long_title.page_title().size(), 256u);
}

TEST(Handshake, OtherForeignProtocolsAreInterference) {
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

TEST(Handshake, HugeForeignReplyKeepsBoundedEvidence) {
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
}  // namespace relayscope::handshake
