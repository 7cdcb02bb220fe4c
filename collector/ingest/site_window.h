// Which sites reported on something in a recent window, and which of them
// reached it: "how many sites can reach relay X right now" without the
// site ever becoming a metric label. Keys are bounded label sets (a region,
// a relay, a port: folded by the validator); sites are bounded in total.
//
// Callers look a key's slot up once (slots are never freed, so the pointer
// stays valid) and then record sightings against it; counts are kept up to
// date as sites arrive or first reach the key, and made exact again for the
// window by Expire.
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
  struct Slot {
    Key key;
    Counts counts;

   private:
    friend class SiteWindow;
    struct Seen {
      absl::Time last = absl::InfinitePast();
      absl::Time last_reached = absl::InfinitePast();
      bool counted_reached = false;
    };
    std::map<std::string, Seen> sites;
  };

  SiteWindow(absl::Duration window, size_t max_entries)
      : window_(window), max_entries_(max_entries) {}

  // The slot of `key`, created on first use; valid as long as the window.
  Slot* Find(const Key& key);
  // `site` reported an attempt on the slot's key at `now`, successful or
  // not. Returns true when the slot's counts changed (a new site, or a site
  // that now reached it). When the table is full a new (key, site) is
  // dropped: counts undercount rather than grow without bound.
  bool Record(Slot* slot, const std::string& site, bool reached, absl::Time now);
  // Forgets sightings older than the window, recounts, and calls `visit`
  // for every slot (a slot whose sites all left reads zero).
  void Expire(absl::Time now, const std::function<void(const Slot&)>& visit);
  size_t entries() const { return entries_; }

 private:
  const absl::Duration window_;
  const size_t max_entries_;
  std::map<Key, Slot> slots_;
  size_t entries_ = 0;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_SITE_WINDOW_H_
