// Which sites reported on something in a recent window, and which of them
// reached it: "how many sites can reach relay X right now" without the
// site ever becoming a metric label. Keys are bounded label sets (a region,
// a relay, a port: folded by the validator); sites are bounded in total.
#ifndef COLLECTOR_INGEST_SITE_WINDOW_H_
#define COLLECTOR_INGEST_SITE_WINDOW_H_

#include <cstddef>
#include <functional>
#include <map>
#include <string>

#include "absl/time/time.h"

namespace relayscope::collector {

class SiteWindow {
 public:
  using Key = std::map<std::string, std::string>;  // metric labels
  struct Counts {
    size_t sites = 0;    // sites that reported on the key in the window
    size_t reached = 0;  // of them, those with a successful attempt in it
  };

  SiteWindow(absl::Duration window, size_t max_entries)
      : window_(window), max_entries_(max_entries) {}

  // `site` reported an attempt on `key` at `now`, successful or not. When
  // the table is full a new (key, site) is dropped: counts undercount
  // rather than grow without bound.
  void Record(const Key& key, const std::string& site, bool reached, absl::Time now);
  // Forgets what is older than the window, then calls `visit` for every key
  // (keys whose sites all expired are visited once more with zero counts,
  // then forgotten, so a gauge drops to 0 instead of freezing).
  void Expire(absl::Time now, const std::function<void(const Key&, const Counts&)>& visit);
  size_t entries() const { return entries_; }

 private:
  struct Seen {
    absl::Time last = absl::InfinitePast();
    absl::Time last_reached = absl::InfinitePast();
  };
  const absl::Duration window_;
  const size_t max_entries_;
  std::map<Key, std::map<std::string, Seen>> sites_;
  size_t entries_ = 0;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_SITE_WINDOW_H_
