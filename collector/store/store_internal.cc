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
  if (with_site && !filter.site.empty()) {
    absl::StrAppend(&where.sql, " AND site = ", add(filter.site));
  }
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
