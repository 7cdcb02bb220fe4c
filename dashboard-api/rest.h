// The dashboard's REST/JSON API: turns /api/v1/... requests into FleetQuery
// calls on the collector and their replies into JSON (protobuf's json_util,
// so field names are the proto's). Transport-free: the HTTP server
// (server.h) hands it a parsed request and writes back what it returns.
//
// Errors are JSON too: {"error": {"code": 400, "status": "INVALID_ARGUMENT",
// "message": "..."}}, with 400 naming the bad parameter, 404 for unknown
// paths or sessions, 503 when the collector cannot be reached.
//
// The API is described in dashboard-api/openapi.yaml.
#ifndef DASHBOARD_API_REST_H_
#define DASHBOARD_API_REST_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "relayscope/v1/query.grpc.pb.h"

namespace relayscope::dashboard {

// Query parameters in order of appearance (a name may repeat).
using Params = std::vector<std::pair<std::string, std::string>>;

// Parses "a=1&b=x%20y" (form-encoded: '+' is a space). INVALID_ARGUMENT for
// an over-long query string, a bad percent escape or an empty name.
absl::StatusOr<Params> ParseQueryString(absl::string_view query);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class RestApi {
 public:
  struct Options {
    // Sent as "authorization: Bearer <token>" on every call (empty: none).
    std::string token;
    // Deadline of each FleetQuery call.
    absl::Duration deadline = absl::Seconds(5);
    // The clock for relative windows ("window=1h" ends now).
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  RestApi(std::shared_ptr<v1::FleetQuery::StubInterface> stub, Options options);

  // Handles a GET of `path` (starting with /api/v1/) with `query` (the raw
  // query string). Never throws; every outcome is an HttpResponse.
  HttpResponse Get(absl::string_view path, absl::string_view query);

 private:
  template <typename Request, typename Response>
  HttpResponse Call(const Request& request, grpc::Status (v1::FleetQuery::StubInterface::*method)(
                                                grpc::ClientContext*, const Request&, Response*));

  std::shared_ptr<v1::FleetQuery::StubInterface> stub_;
  Options options_;
};

// The JSON error body for `status` (code, status name, message).
HttpResponse ErrorResponse(int http_status, absl::string_view status_name,
                           absl::string_view message);

}  // namespace relayscope::dashboard

#endif  // DASHBOARD_API_REST_H_
