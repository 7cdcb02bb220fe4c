#include "collector/ingest/site_window.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);

std::map<SiteWindow::Key, SiteWindow::Counts> Snapshot(SiteWindow& window, absl::Time now) {
  std::map<SiteWindow::Key, SiteWindow::Counts> out;
  window.Expire(now, [&](const SiteWindow::Key& key, const SiteWindow::Counts& counts) {
    out[key] = counts;
  });
  return out;
}

TEST(SiteWindow, CountsSitesAndThoseThatReachedPerKey) {
  SiteWindow window(absl::Minutes(15), 100);
  const SiteWindow::Key emea = {{"relay", "emea-1"}}, apac = {{"relay", "apac-1"}};
  window.Record(emea, "paris", false, kT0);
  window.Record(emea, "paris", true, kT0 + absl::Seconds(1));  // reached once: reachable
  window.Record(emea, "lyon", false, kT0);
  window.Record(emea, "lyon", false, kT0 + absl::Seconds(2));
  window.Record(apac, "paris", false, kT0);
  auto counts = Snapshot(window, kT0 + absl::Minutes(1));
  EXPECT_EQ(counts[emea].sites, 2u);
  EXPECT_EQ(counts[emea].reached, 1u);
  EXPECT_EQ(counts[apac].sites, 1u);
  EXPECT_EQ(counts[apac].reached, 0u);
  EXPECT_EQ(window.entries(), 3u);
}

TEST(SiteWindow, ExpiresOldSightingsAndReportsAnEmptiedKeyOnceAtZero) {
  SiteWindow window(absl::Minutes(15), 100);
  const SiteWindow::Key key = {{"port", "443"}};
  window.Record(key, "paris", true, kT0);
  window.Record(key, "paris", false, kT0 + absl::Minutes(10));
  // At +20 min the success (at 0) is out of the window, the failure (at 10)
  // is not: tried, not reached.
  auto counts = Snapshot(window, kT0 + absl::Minutes(20));
  EXPECT_EQ(counts[key].sites, 1u);
  EXPECT_EQ(counts[key].reached, 0u);
  // At +30 min nothing is left: the key is visited once with zeros ...
  counts = Snapshot(window, kT0 + absl::Minutes(30));
  ASSERT_EQ(counts.count(key), 1u);
  EXPECT_EQ(counts[key].sites, 0u);
  EXPECT_EQ(window.entries(), 0u);
  // ... and then forgotten.
  EXPECT_TRUE(Snapshot(window, kT0 + absl::Minutes(31)).empty());
}

TEST(SiteWindow, StaysBoundedAndUndercountsWhenFull) {
  SiteWindow window(absl::Minutes(15), 3);
  const SiteWindow::Key key = {{"relay", "emea-1"}};
  for (int i = 0; i < 10; ++i) window.Record(key, "site-" + std::to_string(i), true, kT0);
  EXPECT_EQ(window.entries(), 3u);
  EXPECT_EQ(Snapshot(window, kT0)[key].sites, 3u);
  // A known site is still updated when the table is full.
  window.Record(key, "site-0", false, kT0 + absl::Minutes(14));
  EXPECT_EQ(Snapshot(window, kT0 + absl::Minutes(16))[key].sites, 1u);
}

}  // namespace
}  // namespace relayscope::collector
