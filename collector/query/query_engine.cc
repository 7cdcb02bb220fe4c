#include "collector/query/query_engine.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace relayscope::collector {
namespace {

constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr size_t kMaxIdLength = 128;

absl::StatusOr<absl::Time> ToTime(const google::protobuf::Timestamp& t, absl::string_view field) {
  if (t.seconds() < 0 || t.seconds() > kMaxTimestampSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a valid timestamp"));
  }
  return FromProtoTimestamp(t);
}

// How many steps of `step` it takes to cover `span` (rounded up).
int64_t StepsIn(absl::Duration span, absl::Duration step) {
  absl::Duration remainder;
  const int64_t whole = absl::IDivDuration(span, step, &remainder);
  return remainder > absl::ZeroDuration() ? whole + 1 : whole;
}

struct Range {
  absl::Time start;
  absl::Time end;
};

absl::StatusOr<Range> ValidateRange(const v1::TimeRange& range, bool has_range,
                                    absl::Duration max_range) {
  if (!has_range || !range.has_start())
    return absl::InvalidArgumentError("range.start is required");
  if (!range.has_end()) return absl::InvalidArgumentError("range.end is required");
  ASSIGN_OR_RETURN(const absl::Time start, ToTime(range.start(), "range.start"));
  ASSIGN_OR_RETURN(const absl::Time end, ToTime(range.end(), "range.end"));
  if (end <= start) return absl::InvalidArgumentError("range.end must be after range.start");
  if (end - start > max_range) {
    return absl::InvalidArgumentError(
        absl::StrCat("range is longer than the limit of ", absl::FormatDuration(max_range)));
  }
  return Range{start, end};
}

// A step for [start, end): zero means one step covering the whole range.
absl::StatusOr<absl::Duration> ValidateStep(const google::protobuf::Duration& step,
                                            const Range& range, int max_points) {
  if (step.seconds() < 0 || step.nanos() < 0 || step.nanos() > 999999999) {
    return absl::InvalidArgumentError("step must not be negative");
  }
  const absl::Duration d = FromProtoDuration(step);
  if (d == absl::ZeroDuration()) return range.end - range.start;
  if (d < absl::Minutes(1) || d % absl::Minutes(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError("step must be a whole number of minutes");
  }
  const int64_t points = StepsIn(range.end - range.start, d);
  if (points > max_points) {
    return absl::InvalidArgumentError(
        absl::StrCat("step gives ", points, " points; at most ", max_points, " are allowed"));
  }
  return d;
}

absl::Time FloorMinute(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t) - ((absl::ToUnixSeconds(t) % 60) + 60) % 60);
}

absl::Status ValidateFilter(const v1::Filter& filter) {
  auto check_names = [](const auto& names, absl::string_view field) -> absl::Status {
    for (const std::string& name : names) {
      if (name.empty() || name.size() > kMaxIdLength) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": names must have 1 to ", kMaxIdLength, " characters"));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(check_names(filter.regions(), "filter.regions"));
  RETURN_IF_ERROR(check_names(filter.relays(), "filter.relays"));
  for (uint32_t port : filter.ports()) {
    if (port > 65535) return absl::InvalidArgumentError("filter.ports: a port is at most 65535");
  }
  for (int kind : filter.route_kinds()) {
    if (!v1::RouteKind_IsValid(kind) || kind == v1::ROUTE_KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError("filter.route_kinds: unknown route kind");
    }
  }
  if (filter.site().size() > kMaxIdLength) {
    return absl::InvalidArgumentError("filter.site is too long");
  }
  return absl::OkStatus();
}

AttemptFilter ToAttemptFilter(const Range& range, const v1::Filter& filter) {
  AttemptFilter f;
  f.start = range.start;
  f.end = range.end;
  f.regions.assign(filter.regions().begin(), filter.regions().end());
  f.relays.assign(filter.relays().begin(), filter.relays().end());
  f.ports.assign(filter.ports().begin(), filter.ports().end());
  for (int kind : filter.route_kinds()) f.route_kinds.push_back(static_cast<v1::RouteKind>(kind));
  f.site = filter.site();
  return f;
}

template <typename T>
bool Matches(const google::protobuf::RepeatedField<T>& allowed, T value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}
bool Matches(const google::protobuf::RepeatedPtrField<std::string>& allowed,
             const std::string& value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

// FNV-1a over the query's serialization: stable across processes, so a
// token survives a collector restart or a different replica.
uint64_t Fingerprint(const google::protobuf::Message& query) {
  std::string bytes;
  query.SerializeToString(&bytes);
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// part / whole; 0 when whole is 0 (no attempts: nothing succeeded).
double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}
double SuccessRatio(const SiteRow& s) { return Ratio(s.attempts - s.failures, s.attempts); }

// Counts of one reachability point being summed up.
struct Accumulator {
  uint64_t attempts = 0;
  uint64_t ok = 0;
  std::vector<uint64_t> connect = std::vector<uint64_t>(kLatencyBuckets);
  std::vector<uint64_t> handshake = std::vector<uint64_t>(kLatencyBuckets);

  void Add(const RollupRow& row) {
    attempts += row.attempts;
    if (row.outcome == v1::OUTCOME_OK) ok += row.attempts;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      if (static_cast<size_t>(i) < row.connect_buckets.size()) connect[i] += row.connect_buckets[i];
      if (static_cast<size_t>(i) < row.handshake_buckets.size()) {
        handshake[i] += row.handshake_buckets[i];
      }
    }
  }
  void Add(const ReachabilityRow& row) {
    attempts += row.attempts;
    ok += row.ok;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      if (static_cast<size_t>(i) < row.connect_buckets.size()) connect[i] += row.connect_buckets[i];
      if (static_cast<size_t>(i) < row.handshake_buckets.size()) {
        handshake[i] += row.handshake_buckets[i];
      }
    }
  }
  void Add(const Accumulator& other) {
    attempts += other.attempts;
    ok += other.ok;
    for (int i = 0; i < kLatencyBuckets; ++i) {
      connect[i] += other.connect[i];
      handshake[i] += other.handshake[i];
    }
  }
  void Fill(absl::Time time, v1::ReachabilityPoint* point) const {
    *point->mutable_time() = ToProtoTimestamp(time);
    point->set_attempts(attempts);
    point->set_ok(ok);
    point->set_success_ratio(Ratio(ok, attempts));
    *point->mutable_connect_p50() = ToProtoDuration(HistogramQuantile(connect, 0.5));
    *point->mutable_connect_p95() = ToProtoDuration(HistogramQuantile(connect, 0.95));
    *point->mutable_handshake_p50() = ToProtoDuration(HistogramQuantile(handshake, 0.5));
    *point->mutable_handshake_p95() = ToProtoDuration(HistogramQuantile(handshake, 0.95));
  }
};

template <typename Response, typename Item>
void Paginate(std::vector<Item> items, size_t offset, size_t page_size,
              const google::protobuf::Message& query, Response* response,
              void (*add)(Item&&, Response*)) {
  const size_t end = std::min(items.size(), offset + page_size);
  for (size_t i = offset; i < end; ++i) add(std::move(items[i]), response);
  if (end < items.size()) response->set_next_page_token(MakePageToken(end, query));
}
// The dimensions a reachability request groups by.
struct GroupBy {
  bool region = false, relay = false, port = false, route = false, outcome = false;
};
absl::StatusOr<GroupBy> ParseGroupBy(const v1::ReachabilityRequest& request) {
  GroupBy group;
  for (int dimension : request.group_by()) {
    switch (dimension) {
      case v1::DIMENSION_REGION:
        group.region = true;
        break;
      case v1::DIMENSION_RELAY:
        group.relay = true;
        break;
      case v1::DIMENSION_PORT:
        group.port = true;
        break;
      case v1::DIMENSION_ROUTE_KIND:
        group.route = true;
        break;
      case v1::DIMENSION_OUTCOME:
        group.outcome = true;
        break;
      default:
        return absl::InvalidArgumentError("group_by: unknown dimension");
    }
  }
  return group;
}

// Download checks over a whole range: (service, port, route kind) ->
// (region, attempts per outcome).
using DownloadKey = std::tuple<std::string, uint32_t, int>;
using DownloadCounts = std::map<DownloadKey, std::pair<std::string, std::map<int, uint64_t>>>;

void FillDownloads(const DownloadCounts& downloads, v1::ReachabilityResponse* response) {
  for (const auto& [key, value] : downloads) {
    const auto& [region, outcomes] = value;
    v1::DownloadReachability* out = response->add_downloads();
    out->set_service(std::get<0>(key));
    out->set_region(region);
    out->set_port(std::get<1>(key));
    out->set_route_kind(static_cast<v1::RouteKind>(std::get<2>(key)));
    std::vector<std::pair<int, uint64_t>> counts(outcomes.begin(), outcomes.end());
    std::stable_sort(counts.begin(), counts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    uint64_t attempts = 0, ok = 0;
    for (const auto& [outcome, n] : counts) {
      attempts += n;
      if (outcome == v1::OUTCOME_OK) ok += n;
      v1::OutcomeCount* count = out->add_outcomes();
      count->set_outcome(static_cast<v1::Outcome>(outcome));
      count->set_attempts(n);
    }
    out->set_attempts(attempts);
    out->set_ok(ok);
    out->set_success_ratio(Ratio(ok, attempts));
  }
}

}  // namespace

std::string MakePageToken(size_t offset, const google::protobuf::Message& query) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("o=", offset, ";q=", absl::Hex(Fingerprint(query), absl::kZeroPad16)));
}

absl::StatusOr<size_t> ParsePageToken(const std::string& token,
                                      const google::protobuf::Message& query) {
  if (token.empty()) return 0;
  std::string text;
  if (token.size() > 256 || !absl::WebSafeBase64Unescape(token, &text)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  std::vector<std::string> parts = absl::StrSplit(text, ';');
  size_t offset = 0;
  if (parts.size() != 2 || !absl::StartsWith(parts[0], "o=") ||
      !absl::SimpleAtoi(parts[0].substr(2), &offset) || !absl::StartsWith(parts[1], "q=")) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  if (parts[1].substr(2) != absl::StrCat(absl::Hex(Fingerprint(query), absl::kZeroPad16))) {
    return absl::InvalidArgumentError(
        "page_token belongs to a different query (range, filter or order changed)");
  }
  return offset;
}

absl::Duration HistogramQuantile(const std::vector<uint64_t>& buckets, double q) {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  if (total == 0) return absl::ZeroDuration();
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0 || static_cast<double>(below + buckets[i]) < rank) {
      below += buckets[i];
      continue;
    }
    constexpr size_t kFinite = sizeof(kLatencyBucketsMs) / sizeof(kLatencyBucketsMs[0]);
    if (i >= kFinite) return absl::Milliseconds(kLatencyBucketsMs[kFinite - 1]);
    const double lower = i == 0 ? 0.0 : static_cast<double>(kLatencyBucketsMs[i - 1]);
    const double upper = static_cast<double>(kLatencyBucketsMs[i]);
    const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
    return absl::Microseconds(static_cast<int64_t>((lower + (upper - lower) * fraction) * 1000));
  }
  return absl::Milliseconds(kLatencyBucketsMs[buckets.size() - 2]);
}

QueryEngine::QueryEngine(Store* store, QueryLimits limits, std::set<std::string> download_services)
    : store_(store), limits_(limits), download_services_(std::move(download_services)) {}

absl::StatusOr<size_t> QueryEngine::PageSize(uint32_t requested) const {
  if (requested == 0) return static_cast<size_t>(limits_.default_page_size);
  return static_cast<size_t>(
      std::min<uint32_t>(requested, static_cast<uint32_t>(limits_.max_page_size)));
}

absl::StatusOr<v1::ReachabilityResponse> QueryEngine::GetReachability(
    const v1::ReachabilityRequest& request) {
  ASSIGN_OR_RETURN(Range range,
                   ValidateRange(request.range(), request.has_range(), limits_.max_range));
  // Rollups are per minute: widen the range to whole minutes.
  range.start = FloorMinute(range.start);
  if (FloorMinute(range.end) != range.end) range.end = FloorMinute(range.end) + absl::Minutes(1);
  ASSIGN_OR_RETURN(const absl::Duration step,
                   ValidateStep(request.step(), range, limits_.max_points));
  RETURN_IF_ERROR(ValidateFilter(request.filter()));
  if (!request.filter().site().empty()) {
    return absl::InvalidArgumentError(
        "filter.site: reachability comes from fleet-wide rollups, which do not keep sites; use "
        "ListFailurePatterns or ListSites for one site");
  }
  ASSIGN_OR_RETURN(const GroupBy group, ParseGroupBy(request));
  const bool by_region = group.region, by_relay = group.relay, by_port = group.port,
             by_route = group.route, by_outcome = group.outcome;
  const int64_t points = StepsIn(range.end - range.start, step);
  using Key = std::tuple<std::string, std::string, uint32_t, int, int>;
  std::map<Key, std::vector<Accumulator>> series;
  DownloadCounts downloads;
  const v1::Filter& filter = request.filter();
  auto add_point = [&](const Key& key, absl::Time minute, const auto& row) {
    std::vector<Accumulator>& acc = series[key];
    if (acc.empty()) acc.resize(static_cast<size_t>(points));
    absl::Duration unused;
    const int64_t index = absl::IDivDuration(minute - range.start, step, &unused);
    if (index < 0 || index >= points) return;
    acc[static_cast<size_t>(index)].Add(row);
  };
  auto add_downloads = [&](const std::vector<RollupRow>& rows) {
    for (const RollupRow& row : rows) {
      if (!IsDownload(row.relay) || !Matches(filter.regions(), row.region) ||
          !Matches(filter.relays(), row.relay) || !Matches(filter.ports(), row.port) ||
          !Matches(filter.route_kinds(), static_cast<int>(row.route_kind))) {
        continue;
      }
      auto& [region, outcomes] =
          downloads[DownloadKey{row.relay, row.port, static_cast<int>(row.route_kind)}];
      region = row.region;
      outcomes[static_cast<int>(row.outcome)] += row.attempts;
    }
  };
  // A matrix by region, relay and port (the dashboard's) reads the
  // reachability rollups, which sum route kinds and outcomes: a few dozen
  // rows per interval instead of a few hundred. Either way the store uses
  // 10-minute, hourly and daily rows where they fit in one step.
  if (!by_route && !by_outcome && filter.route_kinds().empty()) {
    ASSIGN_OR_RETURN(std::vector<ReachabilityRow> rows,
                     store_->ReachabilityRollups(range.start, range.end, step));
    bool any_download = false;
    for (const ReachabilityRow& row : rows) {
      if (!Matches(filter.regions(), row.region) || !Matches(filter.relays(), row.relay) ||
          !Matches(filter.ports(), row.port)) {
        continue;
      }
      if (IsDownload(row.relay)) {
        any_download = true;
        continue;
      }
      add_point(
          Key{by_region ? row.region : "", by_relay ? row.relay : "", by_port ? row.port : 0, 0, 0},
          row.minute, row);
    }
    // Download checks are reported per route kind and outcome over the
    // whole range: only when there are some, from the full rollups.
    if (any_download) {
      ASSIGN_OR_RETURN(
          std::vector<RollupRow> full,
          store_->RollupsAtResolution(range.start, range.end, range.end - range.start));
      add_downloads(full);
    }
  } else {
    ASSIGN_OR_RETURN(std::vector<RollupRow> rows,
                     store_->RollupsAtResolution(range.start, range.end, step));
    add_downloads(rows);
    for (const RollupRow& row : rows) {
      if (IsDownload(row.relay) || !Matches(filter.regions(), row.region) ||
          !Matches(filter.relays(), row.relay) || !Matches(filter.ports(), row.port) ||
          !Matches(filter.route_kinds(), static_cast<int>(row.route_kind))) {
        continue;
      }
      add_point(Key{by_region ? row.region : "", by_relay ? row.relay : "", by_port ? row.port : 0,
                    by_route ? static_cast<int>(row.route_kind) : 0,
                    by_outcome ? static_cast<int>(row.outcome) : 0},
                row.minute, row);
    }
  }

  v1::ReachabilityResponse response;
  for (const auto& [key, accumulators] : series) {
    v1::ReachabilitySeries* out = response.add_series();
    out->set_region(std::get<0>(key));
    out->set_relay(std::get<1>(key));
    out->set_port(std::get<2>(key));
    out->set_route_kind(static_cast<v1::RouteKind>(std::get<3>(key)));
    out->set_outcome(static_cast<v1::Outcome>(std::get<4>(key)));
    Accumulator total;
    for (size_t i = 0; i < accumulators.size(); ++i) {
      accumulators[i].Fill(range.start + step * static_cast<int64_t>(i), out->add_points());
      total.Add(accumulators[i]);
    }
    total.Fill(range.start, out->mutable_total());
  }
  FillDownloads(downloads, &response);
  return response;
}

absl::StatusOr<v1::ListFailurePatternsResponse> QueryEngine::ListFailurePatterns(
    const v1::ListFailurePatternsRequest& request) {
  ASSIGN_OR_RETURN(const Range range,
                   ValidateRange(request.range(), request.has_range(), limits_.max_range));
  RETURN_IF_ERROR(ValidateFilter(request.filter()));
  ASSIGN_OR_RETURN(const size_t page_size, PageSize(request.page_size()));
  v1::ListFailurePatternsRequest query = request;
  query.clear_page_size();
  query.clear_page_token();
  ASSIGN_OR_RETURN(const size_t offset, ParsePageToken(request.page_token(), query));
  // Examples (evidence) only for the page shown.
  ASSIGN_OR_RETURN(
      std::vector<FailureGroup> groups,
      store_->FailureGroupsPage(ToAttemptFilter(range, request.filter()), offset, page_size));
  v1::ListFailurePatternsResponse response;
  Paginate<v1::ListFailurePatternsResponse, FailureGroup>(
      std::move(groups), offset, page_size, query, &response,
      [](FailureGroup&& g, v1::ListFailurePatternsResponse* out) {
        v1::FailurePattern* p = out->add_patterns();
        p->set_outcome(g.outcome);
        p->set_region(g.region);
        p->set_relay(g.relay);
        p->set_port(g.port);
        p->set_route_kind(g.route_kind);
        p->set_proxy_status(g.example.proxy_status());
        p->set_count(g.count);
        p->set_sites(g.sites);
        p->set_agents(g.agents);
        *p->mutable_first_seen() = ToProtoTimestamp(g.first_seen);
        *p->mutable_last_seen() = ToProtoTimestamp(g.last_seen);
        if (g.example.has_interference()) *p->mutable_example() = g.example.interference();
        p->set_example_detail(g.example.detail());
        p->set_example_agent_id(g.example_agent_id);
        p->set_example_session_id(g.example.session_id());
      });
  for (v1::FailurePattern& p : *response.mutable_patterns()) {
    p.set_target(IsDownload(p.relay()) ? v1::TARGET_DOWNLOAD : v1::TARGET_RELAY);
  }
  return response;
}

absl::StatusOr<v1::ListSitesResponse> QueryEngine::ListSites(const v1::ListSitesRequest& request) {
  ASSIGN_OR_RETURN(const Range range,
                   ValidateRange(request.range(), request.has_range(), limits_.max_range));
  ASSIGN_OR_RETURN(const size_t page_size, PageSize(request.page_size()));
  v1::ListSitesRequest query = request;
  query.clear_page_size();
  query.clear_page_token();
  ASSIGN_OR_RETURN(const size_t offset, ParsePageToken(request.page_token(), query));
  AttemptFilter filter;
  filter.start = range.start;
  filter.end = range.end;
  ASSIGN_OR_RETURN(std::vector<SiteRow> sites, store_->Sites(filter));
  std::stable_sort(sites.begin(), sites.end(), [](const SiteRow& a, const SiteRow& b) {
    if (a.failures != b.failures) return a.failures > b.failures;
    if (SuccessRatio(a) != SuccessRatio(b)) return SuccessRatio(a) < SuccessRatio(b);
    return a.site < b.site;
  });
  v1::ListSitesResponse response;
  Paginate<v1::ListSitesResponse, SiteRow>(std::move(sites), offset, page_size, query, &response,
                                           [](SiteRow&& s, v1::ListSitesResponse* out) {
                                             v1::SiteSummary* summary = out->add_sites();
                                             summary->set_site(s.site);
                                             summary->set_agents(s.agents);
                                             summary->set_sessions(s.sessions);
                                             summary->set_attempts(s.attempts);
                                             summary->set_failures(s.failures);
                                             summary->set_success_ratio(SuccessRatio(s));
                                             *summary->mutable_last_seen() =
                                                 ToProtoTimestamp(s.last_seen);
                                             summary->set_top_failure(s.top_failure);
                                           });
  return response;
}

absl::StatusOr<v1::ListSessionsResponse> QueryEngine::ListSessions(
    const v1::ListSessionsRequest& request) {
  ASSIGN_OR_RETURN(const Range range,
                   ValidateRange(request.range(), request.has_range(), limits_.max_range));
  if (request.site().size() > kMaxIdLength) return absl::InvalidArgumentError("site is too long");
  ASSIGN_OR_RETURN(const size_t page_size, PageSize(request.page_size()));
  v1::ListSessionsRequest query = request;
  query.clear_page_size();
  query.clear_page_token();
  ASSIGN_OR_RETURN(const size_t offset, ParsePageToken(request.page_token(), query));
  // One more than a page tells whether another page exists.
  ASSIGN_OR_RETURN(std::vector<SessionRow> rows,
                   store_->Sessions(range.start, range.end, request.site(), offset, page_size + 1));
  v1::ListSessionsResponse response;
  for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
    const SessionRow& row = rows[i];
    v1::SessionSummary* s = response.add_sessions();
    s->set_agent_id(row.agent_id);
    s->set_session_id(row.session_id);
    s->set_site(row.site);
    *s->mutable_updated() = ToProtoTimestamp(row.updated);
    if (row.report.has_start_time()) *s->mutable_start_time() = row.report.start_time();
    s->set_verdict(row.report.verdict().status());
    s->set_summary(row.report.verdict().summary());
    s->set_attempts(row.attempts);
    s->set_failures(row.failures);
  }
  if (rows.size() > page_size) {
    response.set_next_page_token(MakePageToken(offset + page_size, query));
  }
  return response;
}

absl::StatusOr<v1::GetSessionResponse> QueryEngine::GetSession(
    const v1::GetSessionRequest& request) {
  for (const auto& [value, field] : {std::pair{&request.agent_id(), "agent_id"},
                                     std::pair{&request.session_id(), "session_id"}}) {
    if (value->empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
    if (value->size() > kMaxIdLength) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is too long"));
    }
  }
  ASSIGN_OR_RETURN(v1::SessionReport session,
                   store_->Session(request.agent_id(), request.session_id()));
  v1::GetSessionResponse response;
  *response.mutable_session() = std::move(session);
  return response;
}

absl::StatusOr<v1::GetActivityResponse> QueryEngine::GetActivity(
    const v1::GetActivityRequest& request) {
  ASSIGN_OR_RETURN(const Range range,
                   ValidateRange(request.range(), request.has_range(), limits_.max_range));
  ASSIGN_OR_RETURN(const absl::Duration step,
                   ValidateStep(request.step(), range, limits_.max_points));
  ASSIGN_OR_RETURN(std::vector<ActivityRow> rows, store_->Activity(range.start, range.end, step));
  v1::GetActivityResponse response;
  size_t next = 0;
  for (absl::Time t = range.start; t < range.end; t += step) {
    v1::ActivityPoint* point = response.add_points();
    *point->mutable_time() = ToProtoTimestamp(t);
    if (next < rows.size() && rows[next].time == t) {
      point->set_agents(rows[next].agents);
      point->set_sites(rows[next].sites);
      point->set_sessions(rows[next].sessions);
      point->set_attempts(rows[next].attempts);
      ++next;
    }
  }
  return response;
}

}  // namespace relayscope::collector
