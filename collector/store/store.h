// The collector's store: raw attempts (for sessions and drill-down, kept for
// a retention period, appended in arrival order) and rollups per region /
// relay / port / route / outcome (for reachability and failure patterns,
// kept longer), with de-duplication by (agent_id, session_id, sequence),
// recorded in the session's row, so a resent batch never counts twice.
//
// Store is the seam between the collector and its database: SQLite is the
// embedded default; PostgreSQL (for several collectors) implements the same
// interface. Commits are asynchronous and grouped: many ingest streams share
// one transaction and one fsync, and each caller is told when its batch is
// durable.
#ifndef COLLECTOR_STORE_STORE_H_
#define COLLECTOR_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::collector {

// One validated batch of one session (names already folded by the
// validator).
struct IngestBatch {
  v1::AgentInfo agent;
  std::string session_id;
  // Session metadata (proxies, verdict, times); attempts are ignored here.
  // The latest committed metadata of a session wins.
  v1::SessionReport session;
  std::vector<v1::Attempt> attempts;
};

struct CommitResult {
  uint32_t accepted = 0;    // newly stored
  uint32_t duplicates = 0;  // already stored: not counted again
  // Per attempt of the batch, in order: true when it was new. Counters
  // downstream (metrics) count only these, so they are exact too.
  std::vector<bool> is_new;
};

// Latency histogram buckets (upper bounds) kept in rollups, for connect and
// handshake times. The last bucket is +Inf.
inline constexpr int64_t kLatencyBucketsMs[] = {1,   2,   5,    10,   20,   50,   100,
                                                200, 500, 1000, 2000, 5000, 10000};
inline constexpr int kLatencyBuckets = sizeof(kLatencyBucketsMs) / sizeof(int64_t) + 1;

// One rollup row: attempts in one minute for one key.
struct RollupRow {
  absl::Time minute;
  std::string region;
  std::string relay;
  uint32_t port = 0;
  v1::RouteKind route_kind = v1::ROUTE_KIND_UNSPECIFIED;
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  uint64_t attempts = 0;
  std::vector<uint64_t> connect_buckets;    // kLatencyBuckets counts
  std::vector<uint64_t> handshake_buckets;  // kLatencyBuckets counts
};

// Attempts of one interval for one region, relay and port, over every route
// kind and outcome, with how many ended OK: what a reachability matrix that
// groups and filters by nothing else reads (a few dozen rows per interval
// instead of a few hundred).
struct ReachabilityRow {
  absl::Time minute;  // the start of the row's interval
  std::string region;
  std::string relay;
  uint32_t port = 0;
  uint64_t attempts = 0;
  uint64_t ok = 0;
  std::vector<uint64_t> connect_buckets;    // kLatencyBuckets counts
  std::vector<uint64_t> handshake_buckets;  // kLatencyBuckets counts
};

// Restricts the attempt queries below; empty members match everything.
// Time range is half-open [start, end) on the attempt's start time.
struct AttemptFilter {
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();
  std::vector<std::string> regions;
  std::vector<std::string> relays;
  std::vector<uint32_t> ports;
  std::vector<v1::RouteKind> route_kinds;
  std::string site;
};

// Failed attempts sharing outcome, region, relay, port and route kind.
struct FailureGroup {
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  std::string region;
  std::string relay;
  uint32_t port = 0;
  v1::RouteKind route_kind = v1::ROUTE_KIND_UNSPECIFIED;
  uint64_t count = 0;
  uint64_t sites = 0;
  uint64_t agents = 0;
  absl::Time first_seen;
  absl::Time last_seen;
  // The group's most recent attempt (its evidence and proxy status), and
  // the agent that sent it.
  v1::Attempt example;
  std::string example_agent_id;
};

// One site's attempts.
struct SiteRow {
  std::string site;
  uint64_t agents = 0;
  uint64_t sessions = 0;
  uint64_t attempts = 0;
  uint64_t failures = 0;
  absl::Time last_seen;
  // The outcome behind most of its failures (UNSPECIFIED if none failed).
  v1::Outcome top_failure = v1::OUTCOME_UNSPECIFIED;
};

// Distinct agents, sites and sessions with attempts starting in one step.
struct ActivityRow {
  absl::Time time;
  uint64_t agents = 0;
  uint64_t sites = 0;
  uint64_t sessions = 0;
  uint64_t attempts = 0;
};

// A stored session without its attempts.
struct SessionRow {
  std::string agent_id;
  std::string session_id;
  std::string site;
  // When the collector last received metadata for it (or first saw it).
  absl::Time updated;
  // Metadata (agent, verdict, times); attempts not filled.
  v1::SessionReport report;
  uint64_t attempts = 0;
  uint64_t failures = 0;
};

class Store {
 public:
  using CommitCallback = std::function<void(absl::StatusOr<CommitResult>)>;

  virtual ~Store() = default;

  // Queues `batch`; `done` is called (from the committer thread) once it is
  // durably committed, with the counts, or with the error that rolled it
  // back: RESOURCE_EXHAUSTED when the disk is full or the queue is full,
  // UNAVAILABLE on I/O errors. A failed commit stores nothing of the batch.
  virtual void CommitAsync(IngestBatch batch, CommitCallback done) = 0;

  // CommitAsync, waiting for the result.
  absl::StatusOr<CommitResult> Commit(IngestBatch batch);

  // Rollup rows with minute in [start, end), ordered by minute, then
  // region, relay, port, route kind and outcome.
  virtual absl::StatusOr<std::vector<RollupRow>> Rollups(absl::Time start, absl::Time end) = 0;

  // Like Rollups, for a caller that sums rows into steps of `resolution`
  // starting at `start` (resolution >= end - start: one step). A store may
  // then return coarser rows (an hour, a day) wherever each lies wholly
  // inside one step; a row's `minute` is the start of its interval. The
  // default returns the per-minute rows, which are always right.
  virtual absl::StatusOr<std::vector<RollupRow>> RollupsAtResolution(absl::Time start,
                                                                     absl::Time end,
                                                                     absl::Duration resolution) {
    (void)resolution;
    return Rollups(start, end);
  }

  // RollupsAtResolution summed over route kinds and outcomes, per interval,
  // region, relay and port, ordered by minute, region, relay and port; the
  // same contract on coarse rows. The default sums RollupsAtResolution.
  virtual absl::StatusOr<std::vector<ReachabilityRow>> ReachabilityRollups(
      absl::Time start, absl::Time end, absl::Duration resolution);

  // Failed attempts matching `filter`, grouped; most frequent first, ties
  // by most recent.
  virtual absl::StatusOr<std::vector<FailureGroup>> FailureGroups(const AttemptFilter& filter) = 0;

  // FailureGroups with the example (evidence and agent) filled only for
  // the groups at positions [examples_from, examples_from + examples_count)
  // of that order, the others' left empty: a page of the dashboard needs
  // a page of examples. The default calls FailureGroups.
  virtual absl::StatusOr<std::vector<FailureGroup>> FailureGroupsPage(const AttemptFilter& filter,
                                                                      size_t examples_from,
                                                                      size_t examples_count) {
    (void)examples_from;
    (void)examples_count;
    return FailureGroups(filter);
  }

  // Per-site totals of attempts matching `filter` (its site member is
  // ignored), in site order.
  virtual absl::StatusOr<std::vector<SiteRow>> Sites(const AttemptFilter& filter) = 0;

  // Activity per `step` over [start, end): only steps with attempts, in
  // time order; `time` is the start of the step. `step` must be positive.
  virtual absl::StatusOr<std::vector<ActivityRow>> Activity(absl::Time start, absl::Time end,
                                                            absl::Duration step) = 0;

  // Sessions updated in [start, end) (of `site`, if not empty), most recent
  // first, skipping `offset` and returning at most `limit`.
  virtual absl::StatusOr<std::vector<SessionRow>> Sessions(absl::Time start, absl::Time end,
                                                           const std::string& site, size_t offset,
                                                           size_t limit) = 0;

  // One session with its attempts in sequence order. NOT_FOUND if unknown
  // (or its raw attempts were pruned).
  virtual absl::StatusOr<v1::SessionReport> Session(const std::string& agent_id,
                                                    const std::string& session_id) = 0;

  // Deletes raw attempts that started before `cutoff` (rollups stay).
  // Returns how many were deleted.
  virtual absl::StatusOr<uint64_t> PruneAttemptsBefore(absl::Time cutoff) = 0;

  // Raw attempts stored, for tests and metrics.
  virtual absl::StatusOr<uint64_t> CountAttempts() = 0;

  // Batches waiting for the committer (a health metric).
  virtual size_t QueueDepth() = 0;
};

// Opens the store a URL names: "sqlite:///abs/path.db" (created if
// missing), "sqlite::memory:", or "postgresql://user[:password]@host[:port]/
// database[?sslmode=...]" (libpq's URL; several collectors may share one
// database). Either is migrated to the current schema. INVALID_ARGUMENT for
// other URLs, FAILED_PRECONDITION for a database newer than this binary,
// UNAVAILABLE if the file cannot be opened or the server not reached.
// Messages never contain the URL's password.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url);

// `url` with any password replaced by "***", for messages and logs.
std::string RedactUrl(const std::string& url);

}  // namespace relayscope::collector

#endif  // COLLECTOR_STORE_STORE_H_
