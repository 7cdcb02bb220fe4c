// A token-bucket rate limit per key (an agent id, or a token holder), with
// a bounded key table: at most `batches_per_second` batches per key, in
// bursts of the same size. Time is passed in, so tests drive it.
#ifndef COLLECTOR_INGEST_RATE_LIMITER_H_
#define COLLECTOR_INGEST_RATE_LIMITER_H_

#include <cstddef>
#include <list>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace relayscope::collector {

class RateLimiter {
 public:
  // At most `max_keys` keys are remembered; a new key beyond that evicts
  // the least recently used one (whose next batch starts a full bucket).
  explicit RateLimiter(double batches_per_second, size_t max_keys = 100000);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // True if `key` may send one more batch at `now`, and takes it from its
  // bucket; false if its bucket is empty. Thread-safe.
  bool Allow(const std::string& key, absl::Time now);

  // Keys remembered (at most max_keys).
  size_t size() const;

 private:
  struct Bucket {
    std::string key;
    double tokens;
    absl::Time updated;
  };
  // Most recently used first. std::list keeps iterators valid across
  // splices, so the index can point into it.
  using Recency = std::list<Bucket>;

  const double rate_;
  const size_t max_keys_;
  mutable absl::Mutex mu_;
  Recency recency_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Recency::iterator> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_RATE_LIMITER_H_
