#include "collector/query/fleet_query_service.h"

#include <string>

#include "collector/auth/grpc_status.h"

namespace relayscope::collector {

FleetQueryService::FleetQueryService(QueryEngine* engine, const TokenAuthenticator* tokens)
    : engine_(engine), tokens_(tokens) {}

template <typename Request, typename Response>
grpc::Status FleetQueryService::Serve(
    grpc::ServerContext* context, const Request& request, Response* response,
    absl::StatusOr<Response> (QueryEngine::*method)(const Request&)) {
  const auto& metadata = context->client_metadata();
  auto header = metadata.find("authorization");
  const std::string authorization = header == metadata.end()
                                        ? std::string()
                                        : std::string(header->second.data(), header->second.size());
  if (auto caller = tokens_->Authenticate(authorization); !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  absl::StatusOr<Response> result = (engine_->*method)(request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status FleetQueryService::GetReachability(grpc::ServerContext* context,
                                                const v1::ReachabilityRequest* request,
                                                v1::ReachabilityResponse* response) {
  return Serve(context, *request, response, &QueryEngine::GetReachability);
}

grpc::Status FleetQueryService::ListFailurePatterns(grpc::ServerContext* context,
                                                    const v1::ListFailurePatternsRequest* request,
                                                    v1::ListFailurePatternsResponse* response) {
  return Serve(context, *request, response, &QueryEngine::ListFailurePatterns);
}

grpc::Status FleetQueryService::ListSites(grpc::ServerContext* context,
                                          const v1::ListSitesRequest* request,
                                          v1::ListSitesResponse* response) {
  return Serve(context, *request, response, &QueryEngine::ListSites);
}

grpc::Status FleetQueryService::ListSessions(grpc::ServerContext* context,
                                             const v1::ListSessionsRequest* request,
                                             v1::ListSessionsResponse* response) {
  return Serve(context, *request, response, &QueryEngine::ListSessions);
}

grpc::Status FleetQueryService::GetSession(grpc::ServerContext* context,
                                           const v1::GetSessionRequest* request,
                                           v1::GetSessionResponse* response) {
  return Serve(context, *request, response, &QueryEngine::GetSession);
}

grpc::Status FleetQueryService::GetActivity(grpc::ServerContext* context,
                                            const v1::GetActivityRequest* request,
                                            v1::GetActivityResponse* response) {
  return Serve(context, *request, response, &QueryEngine::GetActivity);
}

}  // namespace relayscope::collector
