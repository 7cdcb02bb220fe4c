// Delivering a session's telemetry to the collector, at least once.
//
// The session is cut into batches and sent on the Ingest stream; a batch is
// done only when the collector acks it (after its durable commit). Whatever
// is not acked - collector down, network cut, deadline - goes to a bounded
// disk spool and is delivered first, in order, the next time. The collector
// de-duplicates by (agent, session, sequence), so resending is always safe.
#ifndef AGENT_UPLOAD_UPLOADER_H_
#define AGENT_UPLOAD_UPLOADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "relayscope/v1/ingest.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

struct UploadOptions {
  // Collector address, host:port.
  std::string target;
  // Plain text instead of TLS (local demo and tests only).
  bool insecure = false;
  // PEM CA bundle for the collector's certificate; empty: system roots.
  std::string ca_file;
  // Bearer token (a secret: never logged).
  std::string token;
  // Where unacknowledged batches wait; empty disables the spool.
  std::string spool_dir;
  // The spool never grows beyond this; the oldest batches go first.
  uint64_t spool_max_bytes = 64 << 20;
  int attempts_per_batch = 500;
  // The whole upload, retries included, ends by then.
  absl::Duration deadline = absl::Seconds(10);
  int max_tries = 4;
  // What the deadline and the backoff between tries are measured on;
  // nullptr: the system clock.
  Clock* clock = nullptr;
};

struct UploadResult {
  uint64_t delivered_batches = 0;
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t delivered_from_spool = 0;  // batches of earlier sessions
  uint64_t spooled = 0;               // batches left for next time
  uint64_t dropped = 0;               // spooled batches dropped to stay in bounds
  // Why delivery stopped, if it did ("collector unreachable: ...").
  std::string error;
};

// Splits a session into ingest batches: every batch carries the agent and
// session id; the first also carries the proxies and the verdict.
std::vector<v1::UploadRequest> MakeBatches(const v1::SessionReport& report, int per_batch);

// Delivers the spool, then `report`. Never throws, never blocks longer than
// options.deadline; failures end up in the result and the spool.
UploadResult Upload(const v1::SessionReport& report, const UploadOptions& options);

}  // namespace relayscope::agent

#endif  // AGENT_UPLOAD_UPLOADER_H_
