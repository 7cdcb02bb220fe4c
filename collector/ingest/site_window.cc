#include "collector/ingest/site_window.h"

namespace relayscope::collector {

SiteWindow::Slot* SiteWindow::Find(const Key& key) {
  auto [it, inserted] = slots_.try_emplace(key);
  if (inserted) it->second.key = key;
  return &it->second;
}

bool SiteWindow::Record(Slot* slot, const std::string& site, bool reached, absl::Time now) {
  bool changed = false;
  auto it = slot->sites.find(site);
  if (it == slot->sites.end()) {
    if (entries_ >= max_entries_) return false;
    it = slot->sites.emplace(site, Slot::Seen()).first;
    ++entries_;
    ++slot->counts.sites;
    changed = true;
  }
  Slot::Seen& seen = it->second;
  seen.last = std::max(seen.last, now);
  if (reached) {
    seen.last_reached = std::max(seen.last_reached, now);
    if (!seen.counted_reached) {
      seen.counted_reached = true;
      ++slot->counts.reached;
      changed = true;
    }
  }
  return changed;
}

void SiteWindow::Expire(absl::Time now, const std::function<void(const Slot&)>& visit) {
  for (auto& [key, slot] : slots_) {
    slot.counts = Counts();
    for (auto it = slot.sites.begin(); it != slot.sites.end();) {
      if (now - it->second.last > window_) {
        it = slot.sites.erase(it);
        --entries_;
        continue;
      }
      it->second.counted_reached = now - it->second.last_reached <= window_;
      ++slot.counts.sites;
      if (it->second.counted_reached) ++slot.counts.reached;
      ++it;
    }
    visit(slot);
  }
}

}  // namespace relayscope::collector
