// FleetQuery on gRPC: the synchronous service (queries block on the store's
// reader, so they run on gRPC's sync thread pool, never on the callback
// threads that carry the ingest streams).
//
// Callers present "authorization: Bearer <token>" checked against their
// own token file (--query_tokens), separate from the agents' tokens, so an
// agent's token never reads fleet data.
#ifndef COLLECTOR_QUERY_FLEET_QUERY_SERVICE_H_
#define COLLECTOR_QUERY_FLEET_QUERY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collector/auth/tokens.h"
#include "collector/query/query_engine.h"
#include "relayscope/v1/query.grpc.pb.h"

namespace relayscope::collector {

class FleetQueryService final : public v1::FleetQuery::Service {
 public:
  // `engine` and `tokens` must outlive the service.
  FleetQueryService(QueryEngine* engine, const TokenAuthenticator* tokens);

  grpc::Status GetReachability(grpc::ServerContext* context, const v1::ReachabilityRequest* request,
                               v1::ReachabilityResponse* response) override;
  grpc::Status ListFailurePatterns(grpc::ServerContext* context,
                                   const v1::ListFailurePatternsRequest* request,
                                   v1::ListFailurePatternsResponse* response) override;
  grpc::Status ListSites(grpc::ServerContext* context, const v1::ListSitesRequest* request,
                         v1::ListSitesResponse* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override;
  grpc::Status GetSession(grpc::ServerContext* context, const v1::GetSessionRequest* request,
                          v1::GetSessionResponse* response) override;
  grpc::Status GetActivity(grpc::ServerContext* context, const v1::GetActivityRequest* request,
                           v1::GetActivityResponse* response) override;

 private:
  template <typename Request, typename Response>
  grpc::Status Serve(grpc::ServerContext* context, const Request& request, Response* response,
                     absl::StatusOr<Response> (QueryEngine::*method)(const Request&));

  QueryEngine* engine_;
  const TokenAuthenticator* tokens_;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_QUERY_FLEET_QUERY_SERVICE_H_
