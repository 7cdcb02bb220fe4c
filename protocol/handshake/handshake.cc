#include "protocol/handshake/handshake.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace relayscope::handshake {
namespace {

constexpr char kKdfInfo[] = "relayscope handshake v1";
constexpr int kExponentBits = 256;  // >= 2 x 112-bit security for group 14

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
struct CtxDeleter {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using CtxPtr = std::unique_ptr<BN_CTX, CtxDeleter>;

// The group: RFC 3526 2048-bit MODP (group 14), generator 2, with
// q = (P-1)/2 prime.
struct Group {
  BnPtr p, q, g, p_minus_1;
  Bytes p_bytes;
  Group() {
    p.reset(BN_get_rfc3526_prime_2048(nullptr));
    g.reset(BN_new());
    BN_set_word(g.get(), 2);
    p_minus_1.reset(BN_dup(p.get()));
    BN_sub_word(p_minus_1.get(), 1);
    q.reset(BN_dup(p_minus_1.get()));
    BN_rshift1(q.get(), q.get());
    p_bytes.resize(kFieldSize);
    BN_bn2binpad(p.get(), p_bytes.data(), kFieldSize);
  }
};

const Group& TheGroup() {
  static const Group* group = new Group();
  return *group;
}

Bytes ToField(const BIGNUM* bn) {
  Bytes out(kFieldSize);
  BN_bn2binpad(bn, out.data(), kFieldSize);
  return out;
}

// 2 <= v <= P-2 and v in the prime-order subgroup, which rules out the
// small-subgroup values 0, 1 and P-1. P = 2q + 1 is a safe prime, so the
// subgroup of order q is exactly the quadratic residues mod P and, by
// Euler's criterion, v^q == (v | P) (mod P): the Legendre symbol answers
// the same question as the exponentiation v^q for a few percent of its
// cost. It matters at the relay, which pays it for every hello anyone on
// the internet sends (a garbage Y is now refused without an exponentiation).
// v is public, so a computation that is not constant-time is fine.
bool InGroup(const BIGNUM* v, BN_CTX* ctx, std::string* why) {
  const Group& group = TheGroup();
  if (BN_cmp(v, BN_value_one()) <= 0 || BN_cmp(v, group.p_minus_1.get()) >= 0) {
    *why = "out of range";
    return false;
  }
  if (BN_kronecker(v, group.p.get(), ctx) != 1) {  // -1: a non-residue; -2: error
    *why = "not in the group";
    return false;
  }
  return true;
}

// HKDF-SHA256(shared secret, salt = R1) -> 32-byte key.
bool DeriveKey(const Bytes& shared, absl::Span<const uint8_t> r1,
               std::array<uint8_t, kMacSize>* key) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  size_t len = key->size();
  const bool ok =
      ctx != nullptr && EVP_PKEY_derive_init(ctx) > 0 &&
      EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
      EVP_PKEY_CTX_set1_hkdf_salt(ctx, r1.data(), static_cast<int>(r1.size())) > 0 &&
      EVP_PKEY_CTX_set1_hkdf_key(ctx, shared.data(), static_cast<int>(shared.size())) > 0 &&
      EVP_PKEY_CTX_add1_hkdf_info(ctx, reinterpret_cast<const unsigned char*>(kKdfInfo),
                                  static_cast<int>(sizeof(kKdfInfo) - 1)) > 0 &&
      EVP_PKEY_derive(ctx, key->data(), &len) > 0 && len == key->size();
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

// HMAC-SHA256(key, role || Y || P || R1 || R2).
std::array<uint8_t, kMacSize> TranscriptMac(const std::array<uint8_t, kMacSize>& key,
                                            absl::string_view role, absl::Span<const uint8_t> hello,
                                            absl::Span<const uint8_t> r2) {
  Bytes message(role.begin(), role.end());
  message.insert(message.end(), hello.begin(), hello.end());
  message.insert(message.end(), r2.begin(), r2.end());
  std::array<uint8_t, kMacSize> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(), message.size(),
       mac.data(), &len);
  return mac;
}

bool RandomExponent(BIGNUM* x) {
  if (!BN_rand(x, kExponentBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY)) return false;
  BN_set_flags(x, BN_FLG_CONSTTIME);
  return true;
}

}  // namespace

struct Client::Secret {
  BnPtr x;
  Bytes r1;
};

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create() {
  const Group& group = TheGroup();
  std::unique_ptr<Client> client(new Client());
  client->secret_ = std::make_unique<Secret>();
  Secret& s = *client->secret_;
  s.x.reset(BN_secure_new());
  CtxPtr ctx(BN_CTX_new());
  BnPtr y(BN_new());
  s.r1.resize(kFieldSize);
  if (!s.x || !ctx || !RandomExponent(s.x.get()) ||
      !BN_mod_exp(y.get(), group.g.get(), s.x.get(), group.p.get(), ctx.get()) ||
      RAND_bytes(s.r1.data(), static_cast<int>(s.r1.size())) != 1) {
    return absl::InternalError("OpenSSL could not generate the client's key");
  }
  client->hello_ = ToField(y.get());
  client->hello_.insert(client->hello_.end(), group.p_bytes.begin(), group.p_bytes.end());
  client->hello_.insert(client->hello_.end(), s.r1.begin(), s.r1.end());
  return client;
}

absl::StatusOr<Bytes> Client::VerifyReply(absl::Span<const uint8_t> reply) {
  if (reply.size() != kReplySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("reply is ", reply.size(), " bytes, not ", kReplySize));
  }
  const Group& group = TheGroup();
  CtxPtr ctx(BN_CTX_new());
  BnPtr r2(BN_bin2bn(reply.data(), kFieldSize, nullptr));
  std::string why;
  if (!InGroup(r2.get(), ctx.get(), &why)) {
    return absl::InvalidArgumentError(absl::StrCat("R2 ", why));
  }
  BnPtr shared(BN_new());
  std::array<uint8_t, kMacSize> key{};
  if (!BN_mod_exp(shared.get(), r2.get(), secret_->x.get(), group.p.get(), ctx.get()) ||
      !DeriveKey(ToField(shared.get()), secret_->r1, &key)) {
    return absl::InternalError("OpenSSL could not derive the key");
  }
  const auto r2_bytes = reply.subspan(0, kFieldSize);
  const auto expected = TranscriptMac(key, "relay", hello_, r2_bytes);
  if (CRYPTO_memcmp(expected.data(), reply.data() + kFieldSize, kMacSize) != 0) {
    return absl::InvalidArgumentError("key confirmation failed: the reply was altered in transit");
  }
  const auto confirmation = TranscriptMac(key, "agent", hello_, r2_bytes);
  OPENSSL_cleanse(key.data(), key.size());
  return Bytes(confirmation.begin(), confirmation.end());
}

Server::~Server() { OPENSSL_cleanse(expected_confirmation_.data(), kMacSize); }

namespace {

// The payload that tells Accept's refusals apart (both are INVALID_ARGUMENT).
constexpr char kErrorPayload[] = "relayscope.dev/handshake.Server.Error";

absl::Status Refusal(Server::Error error, absl::string_view message) {
  absl::Status status = error == Server::Error::kInternal ? absl::InternalError(message)
                                                          : absl::InvalidArgumentError(message);
  status.SetPayload(kErrorPayload,
                    absl::Cord(error == Server::Error::kInvalidGroup ? "invalid_group"
                               : error == Server::Error::kBadY       ? "bad_y"
                                                                     : "internal"));
  return status;
}

}  // namespace

Server::Error Server::ErrorOf(const absl::Status& status) {
  if (status.ok()) return Error::kNone;
  const auto payload = status.GetPayload(kErrorPayload);
  if (payload == "invalid_group") return Error::kInvalidGroup;
  if (payload == "bad_y") return Error::kBadY;
  return Error::kInternal;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Accept(absl::Span<const uint8_t> hello) {
  const Group& group = TheGroup();
  if (hello.size() != kHelloSize) {
    return Refusal(Error::kBadY,
                   absl::StrCat("a hello is ", kHelloSize, " bytes, not ", hello.size()));
  }
  // Only the one group: a client (or attacker) never chooses the group.
  if (CRYPTO_memcmp(hello.data() + kFieldSize, group.p_bytes.data(), kFieldSize) != 0) {
    return Refusal(Error::kInvalidGroup, "P is not the RFC 3526 2048-bit MODP group");
  }
  CtxPtr ctx(BN_CTX_new());
  BnPtr y(BN_bin2bn(hello.data(), kFieldSize, nullptr));
  std::string why;
  if (!ctx || !y || !InGroup(y.get(), ctx.get(), &why)) {
    return Refusal(Error::kBadY, absl::StrCat("Y ", why.empty() ? "is not usable" : why));
  }
  BnPtr z(BN_new()), r2(BN_new()), shared(BN_new());
  std::array<uint8_t, kMacSize> key{};
  const auto r1 = hello.subspan(2 * kFieldSize, kFieldSize);
  if (!RandomExponent(z.get()) ||
      !BN_mod_exp(r2.get(), group.g.get(), z.get(), group.p.get(), ctx.get()) ||
      !BN_mod_exp(shared.get(), y.get(), z.get(), group.p.get(), ctx.get()) ||
      !DeriveKey(ToField(shared.get()), r1, &key)) {
    return Refusal(Error::kInternal, "OpenSSL could not compute the reply");
  }
  std::unique_ptr<Server> server(new Server());
  const Bytes r2_bytes = ToField(r2.get());
  const auto mac = TranscriptMac(key, "relay", hello, r2_bytes);
  server->reply_ = r2_bytes;
  server->reply_.insert(server->reply_.end(), mac.begin(), mac.end());
  server->expected_confirmation_ = TranscriptMac(key, "agent", hello, r2_bytes);
  OPENSSL_cleanse(key.data(), key.size());
  return server;
}

bool Server::VerifyConfirmation(absl::Span<const uint8_t> confirmation) const {
  return confirmation.size() == kConfirmSize &&
         CRYPTO_memcmp(confirmation.data(), expected_confirmation_.data(), kMacSize) == 0;
}

}  // namespace relayscope::handshake
