// What the store backends (SQLite, PostgreSQL) share: the group-commit queue,
// rollup aggregation, session metadata of a batch, and the attempt filter as
// SQL. Not part of the store's interface.
#ifndef COLLECTOR_STORE_STORE_INTERNAL_H_
#define COLLECTOR_STORE_STORE_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "collector/store/store.h"

namespace relayscope::collector::internal {

// The latency bucket of `phase` in `attempt`, or -1 if the phase did not
// complete (then it is not in the histogram).
int LatencyBucket(const v1::Attempt& attempt, v1::Phase phase);

// The rollup tables' histogram columns: "c0, c1, ..." (connect) or
// "h0, h1, ..." (handshake), kLatencyBuckets of them.
std::string BucketColumns(const char* prefix);

// (minute in Unix seconds, region, relay, port, route kind, outcome).
using RollupKey = std::tuple<int64_t, std::string, std::string, uint32_t, int, int>;

struct RollupDelta {
  uint64_t attempts = 0;
  std::vector<uint64_t> connect = std::vector<uint64_t>(kLatencyBuckets);
  std::vector<uint64_t> handshake = std::vector<uint64_t>(kLatencyBuckets);
};

// Ordered by key: writing rollups in this order everywhere means two
// writers never wait for each other's rows in opposite orders.
using RollupDeltas = std::map<RollupKey, RollupDelta>;

// Counts a newly stored attempt into its minute's rollup.
void AddToRollups(const v1::Attempt& attempt, RollupDeltas* rollups);

// The start of the `width`-second interval holding `seconds` (both Unix
// seconds; width > 0).
inline int64_t FloorTo(int64_t seconds, int64_t width) {
  return seconds - ((seconds % width) + width) % width;
}

// Splits [from, to) into the coarsest intervals of `widths[level]` that lie
// wholly inside it and finer ones at the ragged ends (level 0 at the very
// ends), calling `read(level, from, to)` for each piece, in time order.
// Every width divides the next.
absl::Status CoverRange(const int64_t* widths, int level, int64_t from, int64_t to,
                        const std::function<absl::Status(int, int64_t, int64_t)>& read);

// Of `levels` rollup levels `widths` (seconds, finest first), the coarsest
// whose rows never straddle two of a caller's steps of `step` seconds
// starting at `from` over [from, to).
int UsableLevel(const int64_t* widths, int levels, int64_t from, int64_t to, int64_t step);

// `rollups` (per minute) summed into `width`-second rows.
RollupDeltas CoarsenRollups(const RollupDeltas& rollups, int64_t width);

// Reachability rollups: (interval start, region, relay, port), summed over
// route kinds and outcomes.
using ReachabilityKey = std::tuple<int64_t, std::string, std::string, uint32_t>;
struct ReachabilityDelta {
  uint64_t attempts = 0;
  uint64_t ok = 0;
  std::vector<uint64_t> connect = std::vector<uint64_t>(kLatencyBuckets);
  std::vector<uint64_t> handshake = std::vector<uint64_t>(kLatencyBuckets);
};
using ReachabilityDeltas = std::map<ReachabilityKey, ReachabilityDelta>;
// The per-minute `rollups` summed into `width`-second reachability rows.
ReachabilityDeltas ToReachability(const RollupDeltas& rollups, int64_t width);

// Failure-pattern rollups: (interval start, outcome, region, relay, port,
// route kind) of failed attempts, with their count, first and last start
// and the sets of agents and sites (IdHash values) that saw them. Sets,
// not counts: distinct agents over a window are the size of the union of
// its intervals' sets, which counts cannot give.
using FailureKey = std::tuple<int64_t, int, std::string, std::string, uint32_t, int>;
struct FailureDelta {
  uint64_t count = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  std::vector<uint64_t> agents;  // IdHash values, unsorted, may repeat
  std::vector<uint64_t> sites;
};
using FailureDeltas = std::map<FailureKey, FailureDelta>;
// Widths of the failure-pattern rollup levels, finest first (seconds).
inline constexpr int64_t kFailureLevelSeconds[] = {600, 3600, 86400};
inline constexpr int kFailureLevels = 3;
// Counts one newly stored failed attempt into its `width`-second interval.
void AddFailure(int64_t width, int64_t start_us, int outcome, const std::string& region,
                const std::string& relay, uint32_t port, int route_kind, const std::string& agent,
                const std::string& site, FailureDeltas* failures);

// A stable 64-bit hash of an agent or site id (FNV-1a, then a SplitMix64
// finalizer), the same in every process and on every backend. Two ids of
// one group collide with probability about n^2 / 2^65 (below 1e-9 for
// n = 100 000), so the distinct counts built on it are exact in practice.
uint64_t IdHash(absl::string_view id);
// An id set as stored: its hashes sorted and distinct, 8 bytes each,
// little-endian.
std::string EncodeIdSet(std::vector<uint64_t> ids);
// Appends the hashes of an encoded set to `ids`.
void DecodeIdSet(absl::string_view encoded, std::vector<uint64_t>* ids);
// The union of two encoded sets, encoded.
std::string UnionIdSets(absl::string_view a, absl::string_view b);
// Sorts `ids` and returns how many distinct values it holds.
uint64_t CountDistinct(std::vector<uint64_t>* ids);

// The session row a batch writes: the latest batch that carries metadata
// (proxies or a verdict) wins; a batch of attempts only creates the row if
// it is missing.
struct SessionUpdate {
  bool carries_metadata = false;
  std::string report;  // serialized SessionReport without attempts
};
// Takes the session report out of `batch` (its attempts are not part of it).
SessionUpdate TakeSessionMetadata(IngestBatch* batch);

// A set of non-negative integers (a session's stored sequence numbers, or
// the ids of its attempts) kept as sorted, disjoint, non-adjacent ranges,
// written as text: "1-12,14,20-31". A session's sequences are almost always
// one range, so the set costs a few bytes however many attempts it holds.
class RangeSet {
 public:
  RangeSet() = default;
  // Parses ToString's form; ranges may come in any order and overlap (a
  // migration writes them so). Anything else is INVALID_ARGUMENT.
  static absl::StatusOr<RangeSet> Parse(absl::string_view text);

  bool Contains(uint64_t value) const;
  void Add(uint64_t value) { AddRange(value, value); }
  void AddRange(uint64_t first, uint64_t last);
  bool empty() const { return ranges_.empty(); }
  // [first, last] pairs in order.
  const std::vector<std::pair<uint64_t, uint64_t>>& ranges() const { return ranges_; }
  std::string ToString() const;

 private:
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
};

// The fields of an attempt the attempts table holds in columns: the stored
// blob leaves them out (a third of its bytes) and reads put them back.
struct AttemptColumns {
  uint64_t sequence = 0;
  int64_t start_us = 0;
  std::string region, relay;
  uint32_t port = 0;
  int route_kind = 0;
  int outcome = 0;
  int64_t proxy_status = 0;
};
// Fills `columns` from `attempt` and clears those fields in it. The start
// time stays in the blob when it is finer than a microsecond (the column's
// unit), so a read always gives back the attempt as it was sent.
void MoveColumnsOut(v1::Attempt* attempt, AttemptColumns* columns);
// Puts the columns back into an attempt parsed from its stored blob.
void PutColumnsBack(const AttemptColumns& columns, v1::Attempt* attempt);

// Distinct sessions are counted by this key: agent and session ids are
// printable, so the unit separator (a literal 0x1f, which SQLite and
// PostgreSQL both accept) cannot occur in either.
inline constexpr char kSessionKey[] = "agent_id || '\x1f' || session_id";

// A WHERE clause over the attempts table with numbered placeholders
// (`?N` for SQLite, `$N` for PostgreSQL) and their values in order.
struct Where {
  using Value = std::variant<int64_t, std::string>;
  std::string sql;
  std::vector<Value> values;
  int next_placeholder = 1;  // the first placeholder number after these
};
Where FilterClause(const AttemptFilter& filter, bool with_site, char placeholder_prefix,
                   int first_placeholder = 1);
// FilterClause's conditions on region, relay, port and route kind only
// (" AND ..." each, empty when there are none): they apply to rollup tables
// too.
Where DimensionClause(const AttemptFilter& filter, char placeholder_prefix,
                      int first_placeholder = 1);

// Group commit: batches queue up while the previous group commits; the
// committer thread hands everything queued to `commit_group` at once (one
// transaction, one sync), which must call every entry's `done`. `Pending`
// is the backend's queued item: it has `std::optional<absl::Time>
// prune_before` (set: a retention prune whose result's `accepted` is the
// number of attempts deleted) and `Store::CommitCallback done`.
//
// The callers' `done` run on a second thread, after the group's commit,
// with the group's items freed there too: the committer goes straight on
// to the next group while the acks of the last one are sent (P2 in
// bench/README.md). Callbacks still run in commit order.
//
// StartCommitters runs several committer threads instead (a server store
// with one connection each): an idle committer takes everything queued, as
// the single one does, so while one group waits for its commit the next
// idle committer takes what arrived meanwhile; each knows its index. One
// completer serves them all, in the order their groups committed.
template <typename Pending>
class CommitQueue {
 public:
  using GroupFn = std::function<void(std::deque<Pending>& group)>;
  using IndexedGroupFn = std::function<void(int committer, std::deque<Pending>& group)>;

  explicit CommitQueue(size_t max_queued) : max_queued_(max_queued) {}
  // Drains what is queued, then stops the committers.
  ~CommitQueue() { Stop(); }
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  void Start(GroupFn commit_group) {
    StartCommitters(1,
                    [fn = std::move(commit_group)](int, std::deque<Pending>& group) { fn(group); });
  }
  void StartCommitters(int committers, IndexedGroupFn commit_group) {
    commit_group_ = std::move(commit_group);
    for (int i = 0; i < committers; ++i) committers_.emplace_back([this, i] { Loop(i); });
    completer_ = std::thread([this] { Complete(); });
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& committer : committers_) {
      if (committer.joinable()) committer.join();
    }
    {
      absl::MutexLock lock(&completions_mu_);
      committer_done_ = true;
    }
    if (completer_.joinable()) completer_.join();
  }

  // Queues a batch; RESOURCE_EXHAUSTED through its `done` when the queue is
  // full or stopping.
  void Submit(Pending pending) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_ && queue_.size() < max_queued_) {
        queue_.push_back(std::move(pending));
        return;
      }
    }
    pending.done(absl::ResourceExhaustedError("store queue is full; retry later"));
  }

  // Runs a prune through the committer (so it never races a commit), and
  // waits for it.
  absl::StatusOr<uint64_t> Prune(absl::Time cutoff) {
    absl::Notification done;
    absl::StatusOr<uint64_t> result = absl::InternalError("not run");
    Pending prune;
    prune.prune_before = cutoff;
    prune.done = [&](absl::StatusOr<CommitResult> r) {
      result = r.ok() ? absl::StatusOr<uint64_t>(r->accepted) : r.status();
      done.Notify();
    };
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::UnavailableError("the store is closing");
      queue_.push_back(std::move(prune));
    }
    done.WaitForNotification();
    return result;
  }

  size_t Depth() {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

 private:
  // A committed group on its way to its callers.
  struct Completion {
    std::deque<Pending> group;
    std::vector<std::pair<Store::CommitCallback, absl::StatusOr<CommitResult>>> results;
  };

  void Loop(int committer) {
    for (;;) {
      Completion completion;
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](CommitQueue* q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                   return !q->queue_.empty() || q->stopping_;
                                 },
                                 this),
                             absl::Milliseconds(100));
        if (queue_.empty()) {
          if (stopping_) return;
          continue;
        }
        completion.group.swap(queue_);
      }
      // The backend's calls to `done` only collect the results here.
      completion.results.reserve(completion.group.size());
      for (Pending& pending : completion.group) {
        pending.done = [&results = completion.results,
                        done = std::move(pending.done)](absl::StatusOr<CommitResult> r) mutable {
          results.emplace_back(std::move(done), std::move(r));
        };
      }
      commit_group_(committer, completion.group);
      absl::MutexLock lock(&completions_mu_);
      completions_.push_back(std::move(completion));
    }
  }

  void Complete() {
    for (;;) {
      std::deque<Completion> ready;
      {
        absl::MutexLock lock(&completions_mu_);
        completions_mu_.Await(absl::Condition(
            +[](CommitQueue* q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return !q->completions_.empty() || q->committer_done_;
            },
            this));
        if (completions_.empty()) return;  // the committer has stopped
        ready.swap(completions_);
      }
      for (Completion& completion : ready) {
        for (auto& [done, result] : completion.results) done(std::move(result));
      }
    }
  }

  const size_t max_queued_;
  IndexedGroupFn commit_group_;
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> committers_;
  absl::Mutex completions_mu_;
  std::deque<Completion> completions_ ABSL_GUARDED_BY(completions_mu_);
  bool committer_done_ ABSL_GUARDED_BY(completions_mu_) = false;
  std::thread completer_;
};

// Backends, opened by OpenStore.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

}  // namespace relayscope::collector::internal

#endif  // COLLECTOR_STORE_STORE_INTERNAL_H_
