// The ingest pipeline for one batch, without gRPC: validate the envelope,
// rate-limit the agent and its token holder, validate and fold each
// attempt, commit to the store (which de-duplicates), count what was new in
// the metrics, and build the ack. IngestService adapts it to the Upload
// stream; tests and tools call it directly.
#ifndef COLLECTOR_INGEST_INGESTOR_H_
#define COLLECTOR_INGEST_INGESTOR_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/ingest/ingest_metrics.h"
#include "collector/ingest/rate_limiter.h"
#include "collector/ingest/validator.h"
#include "collector/store/store.h"
#include "relayscope/v1/ingest.pb.h"

namespace relayscope::collector {

// Who sent a batch, as authentication established it.
struct Caller {
  // The token holder's name (from the token file; "" when unauthenticated
  // callers are allowed). Used for the per-holder limit and in logs only.
  std::string holder;
};

class Ingestor {
 public:
  using Done = std::function<void(absl::StatusOr<v1::UploadResponse>)>;

  // All pointers must outlive the Ingestor. `agent_limiter` is per agent
  // id; `holder_limiter`, if set, is per token holder, which bounds a flood
  // spread over made-up agent ids under one token. An agent over its own
  // rate is refused before it spends its holder's budget. `now` is the
  // clock for rate limits, attempt ages and the site windows.
  Ingestor(
      Store* store, const Validator* validator, IngestMetrics* metrics, RateLimiter* agent_limiter,
      RateLimiter* holder_limiter = nullptr,
      std::function<absl::Time()> now = [] { return absl::Now(); });

  // Ingests one batch and calls `done` exactly once: from this thread when
  // the batch is refused before the store, else from the store's committer
  // thread once the batch is durable. `done` receives the ack (batch id,
  // accepted, duplicates, rejected attempts by field) or the error that
  // ends the agent's stream: INVALID_ARGUMENT naming the envelope field,
  // RESOURCE_EXHAUSTED when the agent or its token holder is over its rate
  // or the store is full, or the store's error (UNAVAILABLE on I/O errors),
  // after which nothing of the batch is stored or counted.
  //
  // Fields this collector does not know (a newer agent's, or a hostile
  // one's padding) are discarded: only what was validated is stored.
  void IngestAsync(const Caller& caller, v1::UploadRequest request, Done done);

  // IngestAsync, waiting for the result.
  absl::StatusOr<v1::UploadResponse> Ingest(const Caller& caller, v1::UploadRequest request);

  // Counts a stream refused for its credentials (before any batch), so
  // every refusal shows in relayscope_ingest_batches_total.
  void CountUnauthenticated();

 private:
  Store* store_;
  const Validator* validator_;
  IngestMetrics* metrics_;
  RateLimiter* agent_limiter_;
  RateLimiter* holder_limiter_;
  std::function<absl::Time()> now_;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_INGESTOR_H_
