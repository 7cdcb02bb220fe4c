// One attempt: open a route to a relay address and port, run the relay
// handshake over it, and record what happened as a telemetry Attempt.
//
// Never fails as a function: every network failure is an outcome from the
// closed set, with the phase it happened in, timings, and evidence.
#ifndef AGENT_ATTEMPT_ATTEMPT_H_
#define AGENT_ATTEMPT_ATTEMPT_H_

#include <string>

#include "absl/time/time.h"
#include "agent/attempt/transport.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// What went over the wire, for the seed-style text log only (public
// values; never uploaded). Hex of the first bytes of each field.
struct AttemptTrace {
  std::string y_hex;      // our public value
  std::string r1_hex;     // our nonce
  std::string reply_hex;  // what came back (R2 and MAC, or foreign bytes)
  size_t reply_bytes = 0;
};

// Runs the attempt over `transport` before `deadline` (on the transport's
// clock, which also times the attempt). Fills start_time, address, port,
// route_kind, phases, total_duration, outcome, failed_phase, proxy_status,
// os_error(_name), interference, bytes and detail; the caller adds the
// session, sequence, region, relay and proxy description.
// When `trace` is given it receives the hexdumps.
// Starts the record of an attempt at `start`: start_time, address, port
// and route_kind.
v1::Attempt NewAttempt(const Destination& destination, const ProxyUrl& proxy, absl::Time start);

// Records what opening the route found: its phases, the proxy's status,
// the OS error and the proxy's evidence (kept on every outcome, so a verdict
// can quote the proxy that refused and name the one that let a blocked
// route through). Moves the phases out of `open`.
void RecordOpen(OpenResult& open, v1::Attempt* attempt);

v1::Attempt RunAttempt(const Destination& destination, const ProxyUrl& proxy, absl::Time deadline,
                       Transport& transport = RealTransport(), AttemptTrace* trace = nullptr);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_ATTEMPT_H_
