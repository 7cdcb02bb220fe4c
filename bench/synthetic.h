// A synthetic fleet for the benchmarks: realistic attempts (phases, proxies,
// interference evidence, the closed outcome set), deterministic from an
// index so that a run can be repeated and a generated store reused.
//
// The load generator (P2) and the query benchmark's store (P3) both draw
// from it, so they measure the same kind of rows.
#ifndef BENCH_SYNTHETIC_H_
#define BENCH_SYNTHETIC_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::bench {

// The fleet of the P3 target: 3 regions, 8 relays, 4 ports, 4 routes,
// 14 outcomes, `sites` sites.
struct FleetShape {
  int regions = 3;
  int relays = 8;  // spread over the regions
  int ports = 4;   // every relay listens on all of them
  int routes = 4;  // DIRECT, HTTP CONNECT, HTTPS proxy, SOCKS5
  int sites = 20000;
  // Share of attempts that end OUTCOME_OK; the rest spread over the 13
  // failure outcomes, the common ones more often.
  double ok_share = 0.7;
};

// The catalogue (text format) listing the shape's regions, relays and
// ports, for a collector that should not fold them into "other".
std::string CatalogueText(const FleetShape& shape);

// The shape's names, as the catalogue has them.
std::string RegionName(const FleetShape& shape, int region);
std::string RelayName(const FleetShape& shape, int relay);
int RegionOfRelay(const FleetShape& shape, int relay);
uint32_t PortNumber(int port);
v1::RouteKind RouteOf(int route);

// The `sequence`-th attempt (from 1) of a session whose seed is
// `session_seed`, started at `start`: relay, port and route cycle like a
// diagnosis plan; the outcome, phases and evidence follow from the seed.
// Fills every field a real agent fills.
void FillAttempt(const FleetShape& shape, uint64_t session_seed, uint64_t sequence,
                 const std::string& session_id, absl::Time start, v1::Attempt* attempt);

// A session's metadata as the first batch of a real upload carries it:
// agent (with its site), two discovered proxies and a verdict.
void FillSessionMetadata(const FleetShape& shape, const std::string& agent_id, int site,
                         const std::string& session_id, absl::Time start,
                         v1::SessionReport* session);

// "site-00042".
std::string SiteName(int site);

// SplitMix64: a cheap, well-mixed hash of an index.
uint64_t Mix(uint64_t x);

}  // namespace relayscope::bench

#endif  // BENCH_SYNTHETIC_H_
