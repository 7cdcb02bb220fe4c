#include "collector/store/store_internal.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

namespace relayscope::collector {
namespace internal {

int LatencyBucket(const v1::Attempt& attempt, v1::Phase phase) {
  for (const v1::PhaseTiming& timing : attempt.phases()) {
    if (timing.phase() != phase || !timing.completed()) continue;
    const int64_t ms = timing.duration().seconds() * 1000 + timing.duration().nanos() / 1000000;
    for (int i = 0; i < kLatencyBuckets - 1; ++i) {
      if (ms <= kLatencyBucketsMs[i]) return i;
    }
    return kLatencyBuckets - 1;
  }
  return -1;
}

std::string BucketColumns(const char* prefix) {
  std::vector<std::string> columns;
  columns.reserve(kLatencyBuckets);
  for (int i = 0; i < kLatencyBuckets; ++i) columns.push_back(absl::StrCat(prefix, i));
  return absl::StrJoin(columns, ", ");
}

void AddToRollups(const v1::Attempt& a, RollupDeltas* rollups) {
  RollupDelta& delta = (*rollups)[RollupKey{a.start_time().seconds() / 60 * 60, a.region(),
                                            a.relay(), a.port(), a.route_kind(), a.outcome()}];
  ++delta.attempts;
  if (int b = LatencyBucket(a, v1::PHASE_TCP_CONNECT); b >= 0) ++delta.connect[b];
  if (int b = LatencyBucket(a, v1::PHASE_HANDSHAKE); b >= 0) ++delta.handshake[b];
}

absl::Status CoverRange(const int64_t* widths, int level, int64_t from, int64_t to,
                        const std::function<absl::Status(int, int64_t, int64_t)>& read) {
  if (from >= to) return absl::OkStatus();
  if (level == 0) return read(0, from, to);
  const int64_t w = widths[level];
  const int64_t floor_from = FloorTo(from, w);
  const int64_t first = floor_from == from ? from : floor_from + w;
  const int64_t last = FloorTo(to, w);
  if (first >= last) return CoverRange(widths, level - 1, from, to, read);
  if (absl::Status st = CoverRange(widths, level - 1, from, first, read); !st.ok()) return st;
  if (absl::Status st = read(level, first, last); !st.ok()) return st;
  return CoverRange(widths, level - 1, last, to, read);
}

int UsableLevel(const int64_t* widths, int levels, int64_t from, int64_t to, int64_t step) {
  for (int level = 1; level < levels; ++level) {
    const int64_t w = widths[level];
    const bool usable = step >= to - from || (step % w == 0 && FloorTo(from, w) == from);
    if (!usable) return level - 1;
  }
  return levels - 1;
}

RollupDeltas CoarsenRollups(const RollupDeltas& rollups, int64_t width) {
  RollupDeltas coarse;
  for (const auto& [key, delta] : rollups) {
    RollupKey k = key;
    std::get<0>(k) = FloorTo(std::get<0>(key), width);
    RollupDelta& sum = coarse[k];
    sum.attempts += delta.attempts;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      sum.connect[i] += delta.connect[i];
      sum.handshake[i] += delta.handshake[i];
    }
  }
  return coarse;
}

ReachabilityDeltas ToReachability(const RollupDeltas& rollups, int64_t width) {
  ReachabilityDeltas out;
  for (const auto& [key, delta] : rollups) {
    ReachabilityDelta& sum = out[ReachabilityKey{FloorTo(std::get<0>(key), width), std::get<1>(key),
                                                 std::get<2>(key), std::get<3>(key)}];
    sum.attempts += delta.attempts;
    if (std::get<5>(key) == v1::OUTCOME_OK) sum.ok += delta.attempts;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      sum.connect[i] += delta.connect[i];
      sum.handshake[i] += delta.handshake[i];
    }
  }
  return out;
}

void AddFailure(int64_t width, int64_t start_us, int outcome, const std::string& region,
                const std::string& relay, uint32_t port, int route_kind, const std::string& agent,
                const std::string& site, FailureDeltas* failures) {
  // Floor division in microseconds, then seconds: exact for times before 1970 too.
  const int64_t width_us = width * 1000000;
  const int64_t bucket = (start_us - ((start_us % width_us) + width_us) % width_us) / 1000000;
  FailureDelta& d = (*failures)[FailureKey{bucket, outcome, region, relay, port, route_kind}];
  if (d.count == 0 || start_us < d.first_us) d.first_us = start_us;
  if (d.count == 0 || start_us > d.last_us) d.last_us = start_us;
  ++d.count;
  d.agents.push_back(IdHash(agent));
  d.sites.push_back(IdHash(site));
}

uint64_t IdHash(absl::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

std::string EncodeIdSet(std::vector<uint64_t> ids) {
  CountDistinct(&ids);
  std::string out(ids.size() * 8, '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int b = 0; b < 8; ++b) out[i * 8 + b] = static_cast<char>((ids[i] >> (8 * b)) & 0xff);
  }
  return out;
}

void DecodeIdSet(absl::string_view encoded, std::vector<uint64_t>* ids) {
  const size_t n = encoded.size() / 8;
  ids->reserve(ids->size() + n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(encoded[i * 8 + b]);
    ids->push_back(v);
  }
}

std::string UnionIdSets(absl::string_view a, absl::string_view b) {
  std::vector<uint64_t> ids;
  DecodeIdSet(a, &ids);
  DecodeIdSet(b, &ids);
  return EncodeIdSet(std::move(ids));
}

uint64_t CountDistinct(std::vector<uint64_t>* ids) {
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  return ids->size();
}

SessionUpdate TakeSessionMetadata(IngestBatch* batch) {
  SessionUpdate update;
  v1::SessionReport& meta = batch->session;
  update.carries_metadata = meta.has_verdict() || meta.proxies_size() > 0;
  meta.clear_attempts();
  *meta.mutable_agent() = batch->agent;
  meta.set_session_id(batch->session_id);
  meta.SerializeToString(&update.report);
  meta.Clear();
  return update;
}

absl::StatusOr<RangeSet> RangeSet::Parse(absl::string_view text) {
  RangeSet set;
  if (text.empty()) return set;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const size_t dash = part.find('-');
    const absl::string_view low = part.substr(0, dash);
    const absl::string_view high = dash == absl::string_view::npos ? low : part.substr(dash + 1);
    uint64_t first = 0, last = 0;
    // SimpleAtoi accepts a sign and spaces, which ToString never writes.
    auto digits = [](absl::string_view v) {
      return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
    };
    if (!digits(low) || !digits(high) || !absl::SimpleAtoi(low, &first) ||
        !absl::SimpleAtoi(high, &last) || first > last) {
      return absl::InvalidArgumentError(absl::StrCat("bad range \"", part, "\" in a range set"));
    }
    set.AddRange(first, last);
  }
  return set;
}

bool RangeSet::Contains(uint64_t value) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), value,
                             [](uint64_t v, const auto& range) { return v < range.first; });
  return it != ranges_.begin() && std::prev(it)->second >= value;
}

void RangeSet::AddRange(uint64_t first, uint64_t last) {
  // Appending past the end is the common case (ids and sequences grow).
  if (ranges_.empty() ||
      (ranges_.back().second != UINT64_MAX && ranges_.back().second + 1 < first)) {
    ranges_.emplace_back(first, last);
    return;
  }
  // The first range that ends at or after first - 1 (it may touch or overlap).
  auto lo =
      std::lower_bound(ranges_.begin(), ranges_.end(), first, [](const auto& range, uint64_t v) {
        return range.second != UINT64_MAX && range.second + 1 < v;
      });
  auto hi = lo;
  while (hi != ranges_.end() && (last == UINT64_MAX || hi->first <= last + 1)) {
    first = std::min(first, hi->first);
    last = std::max(last, hi->second);
    ++hi;
  }
  lo = ranges_.erase(lo, hi);
  ranges_.insert(lo, {first, last});
}

std::string RangeSet::ToString() const {
  std::string out;
  for (const auto& [first, last] : ranges_) {
    if (!out.empty()) out.push_back(',');
    absl::StrAppend(&out, first);
    if (last != first) absl::StrAppend(&out, "-", last);
  }
  return out;
}

void MoveColumnsOut(v1::Attempt* a, AttemptColumns* c) {
  c->sequence = a->sequence();
  c->start_us = google::protobuf::util::TimeUtil::TimestampToMicroseconds(a->start_time());
  c->region = std::move(*a->mutable_region());
  c->relay = std::move(*a->mutable_relay());
  c->port = a->port();
  c->route_kind = a->route_kind();
  c->outcome = a->outcome();
  c->proxy_status = a->proxy_status();
  a->clear_sequence();
  if (a->start_time().nanos() % 1000 == 0) a->clear_start_time();
  a->clear_region();
  a->clear_relay();
  a->clear_port();
  a->clear_route_kind();
  a->clear_outcome();
  a->clear_proxy_status();
}

void PutColumnsBack(const AttemptColumns& c, v1::Attempt* a) {
  a->set_sequence(c.sequence);
  if (!a->has_start_time()) {
    *a->mutable_start_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(c.start_us);
  }
  a->set_region(c.region);
  a->set_relay(c.relay);
  a->set_port(c.port);
  a->set_route_kind(static_cast<v1::RouteKind>(c.route_kind));
  a->set_outcome(static_cast<v1::Outcome>(c.outcome));
  a->set_proxy_status(static_cast<uint32_t>(c.proxy_status));
}

Where FilterClause(const AttemptFilter& filter, bool with_site, char prefix, int first) {
  Where where;
  where.next_placeholder = first;
  auto add = [&](Where::Value value) {
    where.values.push_back(std::move(value));
    return absl::StrCat(std::string(1, prefix), where.next_placeholder++);
  };
  where.sql = absl::StrCat("start_us >= ", add(absl::ToUnixMicros(filter.start)),
                           " AND start_us < ", add(absl::ToUnixMicros(filter.end)));
  Where dimensions = DimensionClause(filter, prefix, where.next_placeholder);
  absl::StrAppend(&where.sql, dimensions.sql);
  for (auto& value : dimensions.values) where.values.push_back(std::move(value));
  where.next_placeholder = dimensions.next_placeholder;
  if (with_site && !filter.site.empty()) {
    absl::StrAppend(&where.sql, " AND site = ", add(filter.site));
  }
  return where;
}

Where DimensionClause(const AttemptFilter& filter, char prefix, int first) {
  Where where;
  where.next_placeholder = first;
  auto add = [&](Where::Value value) {
    where.values.push_back(std::move(value));
    return absl::StrCat(std::string(1, prefix), where.next_placeholder++);
  };
  auto in_list = [&](const char* column, size_t n, auto value_at) {
    if (n == 0) return;
    absl::StrAppend(&where.sql, " AND ", column, " IN (");
    for (size_t i = 0; i < n; ++i) absl::StrAppend(&where.sql, i == 0 ? "" : ",", add(value_at(i)));
    absl::StrAppend(&where.sql, ")");
  };
  using Value = Where::Value;
  in_list("region", filter.regions.size(), [&](size_t i) { return Value(filter.regions[i]); });
  in_list("relay", filter.relays.size(), [&](size_t i) { return Value(filter.relays[i]); });
  in_list("port", filter.ports.size(),
          [&](size_t i) { return Value(static_cast<int64_t>(filter.ports[i])); });
  in_list("route_kind", filter.route_kinds.size(),
          [&](size_t i) { return Value(static_cast<int64_t>(filter.route_kinds[i])); });
  return where;
}

}  // namespace internal

std::string RedactUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t authority = scheme + 3;
  const size_t end = url.find_first_of("/?#", authority);
  const size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < authority) return url;
  const size_t colon = url.find(':', authority);
  if (colon == std::string::npos || colon > at) return url;
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

absl::StatusOr<CommitResult> Store::Commit(IngestBatch batch) {
  absl::Notification done;
  absl::StatusOr<CommitResult> result;
  CommitAsync(std::move(batch), [&](absl::StatusOr<CommitResult> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

absl::StatusOr<std::vector<ReachabilityRow>> Store::ReachabilityRollups(absl::Time start,
                                                                        absl::Time end,
                                                                        absl::Duration resolution) {
  absl::StatusOr<std::vector<RollupRow>> rows = RollupsAtResolution(start, end, resolution);
  if (!rows.ok()) return rows.status();
  std::map<std::tuple<absl::Time, std::string, std::string, uint32_t>, ReachabilityRow> sums;
  for (const RollupRow& r : *rows) {
    ReachabilityRow& sum = sums[{r.minute, r.region, r.relay, r.port}];
    if (sum.connect_buckets.empty()) {
      sum.minute = r.minute;
      sum.region = r.region;
      sum.relay = r.relay;
      sum.port = r.port;
      sum.connect_buckets.assign(kLatencyBuckets, 0);
      sum.handshake_buckets.assign(kLatencyBuckets, 0);
    }
    sum.attempts += r.attempts;
    if (r.outcome == v1::OUTCOME_OK) sum.ok += r.attempts;
    for (size_t i = 0; i < static_cast<size_t>(kLatencyBuckets); ++i) {
      if (i < r.connect_buckets.size()) sum.connect_buckets[i] += r.connect_buckets[i];
      if (i < r.handshake_buckets.size()) sum.handshake_buckets[i] += r.handshake_buckets[i];
    }
  }
  std::vector<ReachabilityRow> out;
  out.reserve(sums.size());
  for (auto& [key, row] : sums) out.push_back(std::move(row));
  return out;
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url == "sqlite::memory:") return internal::OpenSqliteStore(":memory:");
  if (absl::StartsWith(url, "sqlite://")) {
    const std::string path = url.substr(9);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", url, "\": use sqlite:///absolute/path.db"));
    }
    return internal::OpenSqliteStore(path);
  }
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    return internal::OpenPostgresStore(url);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", RedactUrl(url),
                   "\": unknown store; use sqlite:///path.db or postgresql://user@host/database"));
}

}  // namespace relayscope::collector
