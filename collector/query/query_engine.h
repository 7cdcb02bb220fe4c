// Answers FleetQuery requests from the store: validates each request (time
// ranges, steps, page tokens, names), runs the store's queries and shapes
// the replies. Reachability comes from the rollups only (per minute, 10
// minutes, hour and day; the dashboard's matrix from the ones summed per
// region, relay and port); failure patterns from the store's failure
// rollups and the attempts at a window's ragged ends; the other queries
// group raw attempts (within retention) in the store.
//
// Transport-free, so it is unit-tested over a store filled with known
// attempts; collector/query/fleet_query_service.h puts it on gRPC.
//
// The store keeps no attempt target: download checks are told from relay
// attempts by their `relay` column naming one of the catalogue's download
// services (the validator keeps the two id sets apart). Reachability
// series are relays only; the download checks are its `downloads` rows.
#ifndef COLLECTOR_QUERY_QUERY_ENGINE_H_
#define COLLECTOR_QUERY_QUERY_ENGINE_H_

#include <functional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/store/store.h"
#include "relayscope/v1/query.pb.h"

namespace relayscope::collector {

struct QueryLimits {
  // Longest time range a query may cover.
  absl::Duration max_range = absl::Hours(24 * 90);
  // Most points per series (reachability) or in total (activity).
  int max_points = 1000;
  // Page size when the request leaves it at 0, and the largest honoured.
  int default_page_size = 50;
  int max_page_size = 500;
};

class QueryEngine {
 public:
  // `download_services`: the catalogue's DownloadService ids.
  explicit QueryEngine(Store* store, QueryLimits limits = {},
                       std::set<std::string> download_services = {});

  // INVALID_ARGUMENT (naming the field) for a bad range, step, filter or
  // page token; store errors pass through.
  absl::StatusOr<v1::ReachabilityResponse> GetReachability(const v1::ReachabilityRequest& request);
  absl::StatusOr<v1::ListFailurePatternsResponse> ListFailurePatterns(
      const v1::ListFailurePatternsRequest& request);
  absl::StatusOr<v1::ListSitesResponse> ListSites(const v1::ListSitesRequest& request);
  absl::StatusOr<v1::ListSessionsResponse> ListSessions(const v1::ListSessionsRequest& request);
  // NOT_FOUND if the store holds no such session.
  absl::StatusOr<v1::GetSessionResponse> GetSession(const v1::GetSessionRequest& request);
  absl::StatusOr<v1::GetActivityResponse> GetActivity(const v1::GetActivityRequest& request);

 private:
  absl::StatusOr<size_t> PageSize(uint32_t requested) const;

  bool IsDownload(const std::string& relay) const { return download_services_.count(relay) > 0; }

  Store* store_;
  QueryLimits limits_;
  const std::set<std::string> download_services_;
};

// Page tokens: opaque to clients; they carry the offset of the next page
// and a fingerprint of the query they belong to, so a token replayed with
// a different query is refused instead of silently skipping rows.
std::string MakePageToken(size_t offset, const google::protobuf::Message& query);
// INVALID_ARGUMENT if `token` is malformed or belongs to another query.
// An empty token is offset 0.
absl::StatusOr<size_t> ParsePageToken(const std::string& token,
                                      const google::protobuf::Message& query);

// The q-quantile (0..1) of a latency histogram kept with kLatencyBucketsMs
// bounds, interpolated linearly inside its bucket (as Prometheus'
// histogram_quantile does). Zero for an empty histogram; the last finite
// bound when the quantile falls into the +Inf bucket.
absl::Duration HistogramQuantile(const std::vector<uint64_t>& buckets, double q);

}  // namespace relayscope::collector

#endif  // COLLECTOR_QUERY_QUERY_ENGINE_H_
