#include "collector/ingest/rate_limiter.h"

#include <algorithm>

namespace relayscope::collector {

RateLimiter::RateLimiter(double batches_per_second, size_t max_keys)
    : rate_(batches_per_second), max_keys_(std::max<size_t>(max_keys, 1)) {}

bool RateLimiter::Allow(const std::string& key, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    if (recency_.size() >= max_keys_) {
      index_.erase(recency_.back().key);
      recency_.pop_back();
    }
    recency_.push_front(Bucket{key, rate_, now});
    found = index_.emplace(key, recency_.begin()).first;
  } else {
    recency_.splice(recency_.begin(), recency_, found->second);
  }
  Bucket& bucket = *found->second;
  // A wall clock that steps back refills nothing, and takes nothing back.
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  bucket.tokens = std::min(rate_, bucket.tokens + rate_ * elapsed);
  bucket.updated = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

size_t RateLimiter::size() const {
  absl::MutexLock lock(&mu_);
  return recency_.size();
}

}  // namespace relayscope::collector
