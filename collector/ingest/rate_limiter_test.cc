#include "collector/ingest/rate_limiter.h"

#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1764000000);

TEST(RateLimiter, ABurstOfTheRateIsAllowedThenRefused) {
  RateLimiter limiter(3);
  EXPECT_TRUE(limiter.Allow("a", kStart));
  EXPECT_TRUE(limiter.Allow("a", kStart));
  EXPECT_TRUE(limiter.Allow("a", kStart));
  EXPECT_FALSE(limiter.Allow("a", kStart));
  // Another key has its own bucket.
  EXPECT_TRUE(limiter.Allow("b", kStart));
}

TEST(RateLimiter, BucketRefillsAtTheRateAndNeverBeyondTheBurst) {
  RateLimiter limiter(2);
  ASSERT_TRUE(limiter.Allow("a", kStart));
  ASSERT_TRUE(limiter.Allow("a", kStart));
  ASSERT_FALSE(limiter.Allow("a", kStart));
  // Half a second at 2/s brings back one batch, not two.
  EXPECT_TRUE(limiter.Allow("a", kStart + absl::Milliseconds(500)));
  EXPECT_FALSE(limiter.Allow("a", kStart + absl::Milliseconds(500)));
  // An hour of silence refills to the burst (2), no more.
  const absl::Time later = kStart + absl::Hours(1);
  EXPECT_TRUE(limiter.Allow("a", later));
  EXPECT_TRUE(limiter.Allow("a", later));
  EXPECT_FALSE(limiter.Allow("a", later));
}

TEST(RateLimiter, ClockSteppingBackNeitherRefillsNorLocksOut) {
  RateLimiter limiter(1);
  ASSERT_TRUE(limiter.Allow("a", kStart));
  EXPECT_FALSE(limiter.Allow("a", kStart - absl::Minutes(5)));
  // Refill counts from the stepped-back time, not from the future one.
  EXPECT_TRUE(limiter.Allow("a", kStart - absl::Minutes(5) + absl::Seconds(1)));
}

// The key table is bounded: a new key evicts the least recently used one,
// never a key that is busy (which would hand a flooding agent a fresh
// bucket each time the table fills).
TEST(RateLimiter, FullTableEvictsTheLeastRecentlyUsedKeyNotTheFirstByName) {
  RateLimiter limiter(1, /*max_keys=*/3);
  ASSERT_TRUE(limiter.Allow("a", kStart));  // alphabetically first
  ASSERT_TRUE(limiter.Allow("b", kStart));
  ASSERT_TRUE(limiter.Allow("c", kStart));
  EXPECT_FALSE(limiter.Allow("a", kStart));  // "a" is now the most recent
  ASSERT_TRUE(limiter.Allow("d", kStart));   // evicts "b", the least recent
  EXPECT_EQ(limiter.size(), 3u);
  // "a" keeps its exhausted bucket; "b" comes back with a full one.
  EXPECT_FALSE(limiter.Allow("a", kStart));
  EXPECT_TRUE(limiter.Allow("b", kStart));  // and evicts "c"
  EXPECT_FALSE(limiter.Allow("d", kStart));
  EXPECT_TRUE(limiter.Allow("c", kStart));
  EXPECT_EQ(limiter.size(), 3u);
}

TEST(RateLimiter, ZeroRateRefusesEverything) {
  RateLimiter limiter(0);
  EXPECT_FALSE(limiter.Allow("a", kStart));
  EXPECT_FALSE(limiter.Allow("a", kStart + absl::Hours(1)));
}

}  // namespace
}  // namespace relayscope::collector
