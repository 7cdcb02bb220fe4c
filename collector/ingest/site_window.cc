#include "collector/ingest/site_window.h"

namespace relayscope::collector {

void SiteWindow::Record(const Key& key, const std::string& site, bool reached, absl::Time now) {
  auto& sites = sites_[key];
  auto it = sites.find(site);
  if (it == sites.end()) {
    if (entries_ >= max_entries_) return;
    it = sites.emplace(site, Seen()).first;
    ++entries_;
  }
  it->second.last = std::max(it->second.last, now);
  if (reached) it->second.last_reached = std::max(it->second.last_reached, now);
}

void SiteWindow::Expire(absl::Time now,
                        const std::function<void(const Key&, const Counts&)>& visit) {
  for (auto key = sites_.begin(); key != sites_.end();) {
    Counts counts;
    for (auto it = key->second.begin(); it != key->second.end();) {
      if (now - it->second.last > window_) {
        it = key->second.erase(it);
        --entries_;
        continue;
      }
      ++counts.sites;
      if (now - it->second.last_reached <= window_) ++counts.reached;
      ++it;
    }
    visit(key->first, counts);
    key = key->second.empty() ? sites_.erase(key) : std::next(key);
  }
}

}  // namespace relayscope::collector
