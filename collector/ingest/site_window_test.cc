#include "collector/ingest/site_window.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1764000000);

std::map<SiteWindow::Key, SiteWindow::Counts> Snapshot(SiteWindow& window, absl::Time now) {
  std::map<SiteWindow::Key, SiteWindow::Counts> out;
  window.Expire(now, [&](const SiteWindow::Slot& slot) { out[slot.key] = slot.counts; });
  return out;
}

TEST(SiteWindow, CountsSitesAndThoseThatReachedPerKeyAsTheyArrive) {
  SiteWindow window(absl::Minutes(15), 100);
  const SiteWindow::Key emea = {{"relay", "emea-1"}}, apac = {{"relay", "apac-1"}};
  SiteWindow::Slot* e = window.Find(emea);
  SiteWindow::Slot* a = window.Find(apac);
  EXPECT_EQ(window.Find(emea), e);                                       // one slot per key, stable
  EXPECT_TRUE(window.Record(e, "paris", false, kT0));                    // new site
  EXPECT_TRUE(window.Record(e, "paris", true, kT0 + absl::Seconds(1)));  // now reached
  EXPECT_FALSE(window.Record(e, "paris", true, kT0 + absl::Seconds(2)));  // nothing new
  EXPECT_TRUE(window.Record(e, "lyon", false, kT0));
  EXPECT_FALSE(window.Record(e, "lyon", false, kT0 + absl::Seconds(2)));
  window.Record(a, "paris", false, kT0);
  // Kept up to date without a sweep ...
  EXPECT_EQ(e->counts.sites, 2u);
  EXPECT_EQ(e->counts.reached, 1u);
  // ... and the same after one.
  auto counts = Snapshot(window, kT0 + absl::Minutes(1));
  EXPECT_EQ(counts[emea].sites, 2u);
  EXPECT_EQ(counts[emea].reached, 1u);
  EXPECT_EQ(counts[apac].sites, 1u);
  EXPECT_EQ(counts[apac].reached, 0u);
  EXPECT_EQ(window.entries(), 3u);
}

TEST(SiteWindow, ExpiresOldSightingsAndAnEmptiedKeyReadsZero) {
  SiteWindow window(absl::Minutes(15), 100);
  const SiteWindow::Key key = {{"port", "443"}};
  SiteWindow::Slot* slot = window.Find(key);
  window.Record(slot, "paris", true, kT0);
  window.Record(slot, "paris", false, kT0 + absl::Minutes(10));
  // At +20 min the success (at 0) is out of the window, the failure (at 10)
  // is not: tried, not reached.
  auto counts = Snapshot(window, kT0 + absl::Minutes(20));
  EXPECT_EQ(counts[key].sites, 1u);
  EXPECT_EQ(counts[key].reached, 0u);
  // Reaching it again counts at once.
  EXPECT_TRUE(window.Record(slot, "paris", true, kT0 + absl::Minutes(21)));
  EXPECT_EQ(slot->counts.reached, 1u);
  // Later nothing is left: the key reads zero (its gauge falls to 0).
  counts = Snapshot(window, kT0 + absl::Minutes(40));
  ASSERT_EQ(counts.count(key), 1u);
  EXPECT_EQ(counts[key].sites, 0u);
  EXPECT_EQ(window.entries(), 0u);
}

TEST(SiteWindow, StaysBoundedAndUndercountsWhenFull) {
  SiteWindow window(absl::Minutes(15), 3);
  const SiteWindow::Key key = {{"relay", "emea-1"}};
  SiteWindow::Slot* slot = window.Find(key);
  for (int i = 0; i < 10; ++i) window.Record(slot, "site-" + std::to_string(i), true, kT0);
  EXPECT_EQ(window.entries(), 3u);
  EXPECT_EQ(Snapshot(window, kT0)[key].sites, 3u);
  // A known site is still updated when the table is full.
  window.Record(slot, "site-0", false, kT0 + absl::Minutes(14));
  EXPECT_EQ(Snapshot(window, kT0 + absl::Minutes(16))[key].sites, 1u);
}

}  // namespace
}  // namespace relayscope::collector
