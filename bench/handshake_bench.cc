// The relay handshake's CPU cost (protocol/handshake), per side and per kind
// of hello. The baseline, measured in the same run, is the subgroup check
// by its definition (v^q mod P, a 2047-bit exponentiation); the handshake
// checks membership by the Legendre symbol instead. The ratios are
// recorded in bench/README.md.
//
// What the relay pays matters most: anyone who can reach a relay port can
// make it run Server::Accept, so BM_RelayRefusesGarbageY is its cost per
// hostile hello and BM_RelayAccept per genuine one.
#include <benchmark/benchmark.h>
#include <openssl/bn.h>

#include <memory>
#include <vector>

#include "protocol/handshake/handshake.h"

namespace relayscope::handshake {
namespace {

struct Numbers {
  BIGNUM* p = BN_get_rfc3526_prime_2048(nullptr);
  BIGNUM* q = BN_new();
  BIGNUM* v = BN_new();
  BIGNUM* out = BN_new();
  BN_CTX* ctx = BN_CTX_new();
  Numbers() {
    BN_rshift1(q, p);  // (P - 1) / 2: P is odd
    BN_rand_range(v, p);
  }
  ~Numbers() {
    for (BIGNUM* bn : {p, q, v, out}) BN_free(bn);
    BN_CTX_free(ctx);
  }
};

void BM_SubgroupCheckByExponentiation(benchmark::State& state) {
  Numbers n;
  for (auto _ : state) {
    benchmark::DoNotOptimize(BN_mod_exp(n.out, n.v, n.q, n.p, n.ctx));
  }
}

void BM_SubgroupCheckByLegendreSymbol(benchmark::State& state) {
  Numbers n;
  for (auto _ : state) {
    benchmark::DoNotOptimize(BN_kronecker(n.v, n.p, n.ctx));
  }
}

// Hellos whose Y is a random quadratic non-residue (minus a random
// square): in range, outside the subgroup, so they pass every cheaper
// check. (A special value such as P - 2 is refused faster.)
void BM_RelayRefusesGarbageY(benchmark::State& state) {
  auto client = Client::Create();
  Numbers n;
  std::vector<Bytes> hellos;
  for (int i = 0; i < 64; ++i) {
    BN_rand_range(n.v, n.p);
    BN_mod_sqr(n.out, n.v, n.p, n.ctx);
    BN_sub(n.out, n.p, n.out);
    hellos.push_back((*client)->Hello());
    BN_bn2binpad(n.out, hellos.back().data(), kFieldSize);
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto refused = Server::Accept(hellos[i++ % hellos.size()]);
    benchmark::DoNotOptimize(refused);
    if (Server::ErrorOf(refused.status()) != Server::Error::kBadY) {
      state.SkipWithError("a non-residue Y was accepted");
    }
  }
}

void BM_RelayAccept(benchmark::State& state) {
  auto client = Client::Create();
  for (auto _ : state) {
    benchmark::DoNotOptimize(Server::Accept((*client)->Hello()));
  }
}

// The agent's side: a hello (one exponentiation) and verifying the reply.
void BM_AgentHandshake(benchmark::State& state) {
  for (auto _ : state) {
    auto client = Client::Create();
    const auto server = Server::Accept((*client)->Hello());
    state.PauseTiming();  // the relay's share is BM_RelayAccept
    const Bytes reply = (*server)->Reply();
    state.ResumeTiming();
    benchmark::DoNotOptimize((*client)->VerifyReply(reply));
  }
}

BENCHMARK(BM_SubgroupCheckByExponentiation)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SubgroupCheckByLegendreSymbol)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RelayRefusesGarbageY)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RelayAccept)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AgentHandshake)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace relayscope::handshake

BENCHMARK_MAIN();
