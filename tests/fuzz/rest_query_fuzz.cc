// The dashboard's REST query parameters: ParseQueryString, then the whole
// RestApi::Get for every endpoint (window/start/end, step, group_by, the
// filters, paging) against a fake FleetQuery stub that checks what the
// collector would be asked. The first byte picks the endpoint; the rest is
// the raw query string (or, for the last choice, "path?query").
#include <google/protobuf/util/time_util.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "dashboard-api/rest.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace v1 = relayscope::v1;
using google::protobuf::util::TimeUtil;
using relayscope::dashboard::Params;

void CheckRange(const v1::TimeRange& range) {
  for (const auto* t : {&range.start(), &range.end()}) {
    FUZZ_CHECK(t->seconds() >= TimeUtil::kTimestampMinSeconds &&
               t->seconds() <= TimeUtil::kTimestampMaxSeconds);
    FUZZ_CHECK(t->nanos() >= 0 && t->nanos() <= 999999999);
  }
}

void CheckStep(const google::protobuf::Duration& step) {
  FUZZ_CHECK(step.seconds() >= 0 && step.seconds() <= TimeUtil::kDurationMaxSeconds);
  FUZZ_CHECK(step.nanos() >= 0 && step.nanos() <= 999999999);
}

template <typename Request>
void CheckPage(const Request& request) {
  FUZZ_CHECK(request.page_size() <= 500);
}

void CheckFilter(const v1::Filter& filter) {
  FUZZ_CHECK(filter.regions_size() <= 64 && filter.relays_size() <= 64);
  for (uint32_t port : filter.ports()) FUZZ_CHECK(port >= 1 && port <= 65535);
  for (int kind : filter.route_kinds()) {
    FUZZ_CHECK(v1::RouteKind_IsValid(kind) && kind != v1::ROUTE_KIND_UNSPECIFIED);
  }
}

// What the collector would be asked, checked; answers empty and OK.
class CheckingStub final : public v1::FleetQuery::StubInterface {
 public:
  grpc::Status GetReachability(grpc::ClientContext*, const v1::ReachabilityRequest& request,
                               v1::ReachabilityResponse*) override {
    CheckRange(request.range());
    CheckStep(request.step());
    CheckFilter(request.filter());
    for (int d : request.group_by()) FUZZ_CHECK(v1::Dimension_IsValid(d) && d != 0);
    return grpc::Status::OK;
  }
  grpc::Status ListFailurePatterns(grpc::ClientContext*,
                                   const v1::ListFailurePatternsRequest& request,
                                   v1::ListFailurePatternsResponse*) override {
    CheckRange(request.range());
    CheckFilter(request.filter());
    CheckPage(request);
    return grpc::Status::OK;
  }
  grpc::Status ListSites(grpc::ClientContext*, const v1::ListSitesRequest& request,
                         v1::ListSitesResponse*) override {
    CheckRange(request.range());
    CheckPage(request);
    return grpc::Status::OK;
  }
  grpc::Status ListSessions(grpc::ClientContext*, const v1::ListSessionsRequest& request,
                            v1::ListSessionsResponse*) override {
    CheckRange(request.range());
    CheckPage(request);
    return grpc::Status::OK;
  }
  grpc::Status GetSession(grpc::ClientContext*, const v1::GetSessionRequest& request,
                          v1::GetSessionResponse*) override {
    FUZZ_CHECK(!request.agent_id().empty() && !request.session_id().empty());
    return grpc::Status::OK;
  }
  grpc::Status GetActivity(grpc::ClientContext*, const v1::GetActivityRequest& request,
                           v1::GetActivityResponse*) override {
    CheckRange(request.range());
    CheckStep(request.step());
    return grpc::Status::OK;
  }

 private:
  // The asynchronous API is never used by RestApi.
#define RELAYSCOPE_FUZZ_NO_ASYNC(Method, Request, Response)                          \
  grpc::ClientAsyncResponseReaderInterface<v1::Response>* Async##Method##Raw(        \
      grpc::ClientContext*, const v1::Request&, grpc::CompletionQueue*) override {   \
    std::abort();                                                                    \
  }                                                                                  \
  grpc::ClientAsyncResponseReaderInterface<v1::Response>* PrepareAsync##Method##Raw( \
      grpc::ClientContext*, const v1::Request&, grpc::CompletionQueue*) override {   \
    std::abort();                                                                    \
  }
  RELAYSCOPE_FUZZ_NO_ASYNC(GetReachability, ReachabilityRequest, ReachabilityResponse)
  RELAYSCOPE_FUZZ_NO_ASYNC(ListFailurePatterns, ListFailurePatternsRequest,
                           ListFailurePatternsResponse)
  RELAYSCOPE_FUZZ_NO_ASYNC(ListSites, ListSitesRequest, ListSitesResponse)
  RELAYSCOPE_FUZZ_NO_ASYNC(ListSessions, ListSessionsRequest, ListSessionsResponse)
  RELAYSCOPE_FUZZ_NO_ASYNC(GetSession, GetSessionRequest, GetSessionResponse)
  RELAYSCOPE_FUZZ_NO_ASYNC(GetActivity, GetActivityRequest, GetActivityResponse)
#undef RELAYSCOPE_FUZZ_NO_ASYNC
};

relayscope::dashboard::RestApi& TheApi() {
  static relayscope::dashboard::RestApi* api = [] {
    relayscope::dashboard::RestApi::Options options;
    // Fixed, so a reproducer reproduces: 2026-11-25T00:00:00Z.
    options.now = [] { return absl::FromUnixSeconds(1764028800); };
    return new relayscope::dashboard::RestApi(std::make_shared<CheckingStub>(), options);
  }();
  return *api;
}

constexpr const char* kPaths[] = {
    "/api/v1/reachability", "/api/v1/failure-patterns",     "/api/v1/sites",
    "/api/v1/sessions",     "/api/v1/sessions/agent-7/s-7", "/api/v1/activity",
};
constexpr size_t kPathCount = sizeof(kPaths) / sizeof(kPaths[0]);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t choice = data[0] % (kPathCount + 1);
  absl::string_view query(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string path;
  if (choice < kPathCount) {
    path = kPaths[choice];
  } else {
    const size_t mark = query.find('?');
    path = absl::StrCat("/api/v1/", query.substr(0, mark));
    query = mark == absl::string_view::npos ? absl::string_view() : query.substr(mark + 1);
  }

  const absl::StatusOr<Params> params = relayscope::dashboard::ParseQueryString(query);
  if (params.ok()) {
    for (const auto& [name, value] : *params) FUZZ_CHECK(!name.empty());
  } else {
    FUZZ_CHECK(params.status().code() == absl::StatusCode::kInvalidArgument);
  }

  const relayscope::dashboard::HttpResponse response = TheApi().Get(path, query);
  FUZZ_CHECK(response.status == 200 || response.status == 400 || response.status == 404);
  FUZZ_CHECK(response.content_type == "application/json");
  FUZZ_CHECK(!response.body.empty() && response.body.front() == '{' && response.body.back() == '}');
  if (choice < kPathCount && !params.ok()) FUZZ_CHECK(response.status == 400);
  if (response.status == 400) {
    FUZZ_CHECK(response.body.find("INVALID_ARGUMENT") != std::string::npos);
  }
  return 0;
}
