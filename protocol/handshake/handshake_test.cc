#include "protocol/handshake/handshake.h"

#include <openssl/bn.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::handshake {
namespace {

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
  auto accepted = Server::Accept((*client)->Hello());
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(Server::ErrorOf(accepted.status()), Server::Error::kNone);
  const std::unique_ptr<Server>& server = *accepted;
  ASSERT_EQ(server->Reply().size(), kReplySize);

  absl::StatusOr<Bytes> confirmation = (*client)->VerifyReply(server->Reply());
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  EXPECT_TRUE(server->VerifyConfirmation(*confirmation));
  Bytes forged = *confirmation;
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

TEST(Handshake, RelayRejectsAnyOtherGroup) {
  auto client = Client::Create();
  ASSERT_TRUE(client.ok());
  Bytes hello = (*client)->Hello();
  hello[kFieldSize + kFieldSize - 1] ^= 0x02;  // a different (attacker-chosen) P
  const auto refused = Server::Accept(hello);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Server::ErrorOf(refused.status()), Server::Error::kInvalidGroup);
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
      if (form == 0) BN_mod_sqr(v, r, p, ctx);       // a square
      if (form == 1) BN_sub(v, p, v);                // minus that square
      if (form == 2) BN_copy(v, r);                  // anything
      if (BN_cmp(v, BN_value_one()) <= 0) continue;  // out of range: another check
      ASSERT_TRUE(BN_mod_exp(power, v, q, p, ctx));
      const bool member = BN_is_one(power);
      if (form == 0) {
        EXPECT_TRUE(member);
      } else if (form == 1) {
        EXPECT_FALSE(member);
      }
      const auto server = Server::Accept(HelloWithY((*client)->Hello(), v));
      EXPECT_EQ(server.ok(), member) << "form " << form << " round " << i;
      EXPECT_EQ(Server::ErrorOf(server.status()),
                member ? Server::Error::kNone : Server::Error::kBadY);
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
    const auto refused = Server::Accept(HelloWithY((*client)->Hello(), v));
    EXPECT_FALSE(refused.ok()) << what;
    EXPECT_EQ(Server::ErrorOf(refused.status()), Server::Error::kBadY) << what;
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
  const auto short_refused = Server::Accept(short_hello);
  EXPECT_FALSE(short_refused.ok());
  EXPECT_EQ(Server::ErrorOf(short_refused.status()), Server::Error::kBadY);
  BN_free(v);
  BN_free(p);
}

}  // namespace
}  // namespace relayscope::handshake
