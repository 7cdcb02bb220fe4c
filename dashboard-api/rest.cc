#include "dashboard-api/rest.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace relayscope::dashboard {
namespace {

constexpr size_t kMaxQueryLength = 8192;
constexpr size_t kMaxValues = 64;  // per list parameter
constexpr int kTargetPoints = 60;  // points on a chart when no step is given

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Decode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return absl::InvalidArgumentError("query string has a truncated percent escape");
      }
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError("query string has a bad percent escape");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Parameters of one request, checked against the endpoint's allowed names.
class Args {
 public:
  static absl::StatusOr<Args> Make(absl::string_view query, const std::set<std::string>& allowed) {
    ASSIGN_OR_RETURN(Params params, ParseQueryString(query));
    for (const auto& [name, value] : params) {
      if (!allowed.count(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown parameter '", name,
                         "' (this endpoint takes: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return Args(std::move(params));
  }

  // The single value of `name`; INVALID_ARGUMENT if given twice.
  absl::StatusOr<std::optional<std::string>> One(const std::string& name) const {
    std::optional<std::string> found;
    for (const auto& [n, v] : params_) {
      if (n != name) continue;
      if (found) return absl::InvalidArgumentError(absl::StrCat(name, ": give it once"));
      found = v;
    }
    return found;
  }

  // Every value of `name`, repeated or comma-separated, empty items dropped.
  absl::StatusOr<std::vector<std::string>> List(const std::string& name) const {
    std::vector<std::string> values;
    for (const auto& [n, v] : params_) {
      if (n != name) continue;
      for (absl::string_view item : absl::StrSplit(v, ',', absl::SkipEmpty())) {
        values.emplace_back(absl::StripAsciiWhitespace(item));
      }
    }
    if (values.size() > kMaxValues) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": at most ", kMaxValues, " values"));
    }
    return values;
  }

 private:
  explicit Args(Params params) : params_(std::move(params)) {}
  Params params_;
};

// "15m", "1h30m", "7d": absl durations plus whole days.
absl::StatusOr<absl::Duration> ParseDurationParam(const std::string& name,
                                                  const std::string& text) {
  absl::Duration d;
  int64_t days = 0;
  if (absl::EndsWith(text, "d") && absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) &&
      days >= 0 && days <= 3650) {
    d = absl::Hours(24 * days);
  } else if (text == "0") {
    d = absl::ZeroDuration();
  } else if (!absl::ParseDuration(text, &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": '", text, "' is not a duration (like 90s, 15m, 6h or 7d)"));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must not be negative"));
  }
  return d;
}

absl::StatusOr<absl::Time> ParseTimeParam(const std::string& name, const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": '", text, "' is not an RFC 3339 time (like 2026-11-25T10:00:00Z)"));
  }
  return t;
}

// window=<duration> (ending now; default 1h) or start=<time>[&end=<time>].
absl::StatusOr<std::pair<absl::Time, absl::Time>> ParseRange(const Args& args, absl::Time now,
                                                             v1::TimeRange* range) {
  ASSIGN_OR_RETURN(const auto window, args.One("window"));
  ASSIGN_OR_RETURN(const auto start_text, args.One("start"));
  ASSIGN_OR_RETURN(const auto end_text, args.One("end"));
  absl::Time start, end = now;
  if (window && (start_text || end_text)) {
    return absl::InvalidArgumentError("window: give either window or start/end, not both");
  }
  if (end_text && !start_text) return absl::InvalidArgumentError("start: required with end");
  if (start_text) {
    ASSIGN_OR_RETURN(start, ParseTimeParam("start", *start_text));
    if (end_text) {
      ASSIGN_OR_RETURN(end, ParseTimeParam("end", *end_text));
    }
  } else {
    ASSIGN_OR_RETURN(const absl::Duration d, ParseDurationParam("window", window.value_or("1h")));
    if (d == absl::ZeroDuration()) return absl::InvalidArgumentError("window must be positive");
    start = end - d;
  }
  // protobuf's Timestamp spans the years 1 to 9999, and TimeUtil aborts the
  // process on anything outside ("start=infinite-future", "window=9e15h").
  using google::protobuf::util::TimeUtil;
  const absl::Time first = absl::FromUnixSeconds(TimeUtil::kTimestampMinSeconds);
  const absl::Time last = absl::FromUnixSeconds(TimeUtil::kTimestampMaxSeconds);
  if (start < first || start > last || end < first || end > last) {
    return absl::InvalidArgumentError(absl::StrCat(
        start_text ? "start/end" : "window", ": the range must lie within the years 1 to 9999"));
  }
  *range->mutable_start() = ToProtoTimestamp(start);
  *range->mutable_end() = ToProtoTimestamp(end);
  return std::pair{start, end};
}

// step=<duration>; absent: about kTargetPoints points over the range, in
// whole minutes.
absl::Status ParseStep(const Args& args, absl::Duration span, google::protobuf::Duration* step) {
  ASSIGN_OR_RETURN(const auto text, args.One("step"));
  absl::Duration d;
  if (text) {
    ASSIGN_OR_RETURN(d, ParseDurationParam("step", *text));
  } else {
    const int64_t minutes =
        std::max<int64_t>(1, (absl::ToInt64Minutes(span) + kTargetPoints - 1) / kTargetPoints);
    d = absl::Minutes(minutes);
  }
  *step = ToProtoDuration(d);
  return absl::OkStatus();
}

absl::StatusOr<v1::RouteKind> ParseRoute(const std::string& text) {
  v1::RouteKind kind;
  std::string name = absl::AsciiStrToUpper(text);
  if (!absl::StartsWith(name, "ROUTE_KIND_")) name = "ROUTE_KIND_" + name;
  if (!v1::RouteKind_Parse(name, &kind) || kind == v1::ROUTE_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("route: '", text,
                     "' is not one of direct, http_connect, https_proxy, socks4, socks4a, "
                     "socks5"));
  }
  return kind;
}

absl::Status ParseFilter(const Args& args, bool with_site, v1::Filter* filter) {
  ASSIGN_OR_RETURN(const auto regions, args.List("region"));
  for (const auto& r : regions) filter->add_regions(r);
  ASSIGN_OR_RETURN(const auto relays, args.List("relay"));
  for (const auto& r : relays) filter->add_relays(r);
  ASSIGN_OR_RETURN(const auto ports, args.List("port"));
  for (const auto& p : ports) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(p, &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("port: '", p, "' is not a port (1-65535)"));
    }
    filter->add_ports(port);
  }
  ASSIGN_OR_RETURN(const auto routes, args.List("route"));
  for (const auto& r : routes) {
    ASSIGN_OR_RETURN(const v1::RouteKind kind, ParseRoute(r));
    filter->add_route_kinds(kind);
  }
  if (with_site) {
    ASSIGN_OR_RETURN(const auto site, args.One("site"));
    if (site) filter->set_site(*site);
  }
  return absl::OkStatus();
}

// page_size and page_token into any of the List requests.
template <typename Request>
absl::Status ParsePage(const Args& args, Request* request) {
  ASSIGN_OR_RETURN(const auto size, args.One("page_size"));
  uint32_t page_size = 0;
  if (size && (!absl::SimpleAtoi(*size, &page_size) || page_size == 0 || page_size > 500)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: '", *size, "' is not a number from 1 to 500"));
  }
  request->set_page_size(page_size);
  ASSIGN_OR_RETURN(const auto token, args.One("page_token"));
  if (token) request->set_page_token(*token);
  return absl::OkStatus();
}

const std::set<std::string> kRangeParams = {"window", "start", "end"};
std::set<std::string> With(std::set<std::string> base, std::initializer_list<const char*> more) {
  for (const char* name : more) base.insert(name);
  return base;
}

// What protobuf accepts in a string field (its own check): anything else
// would fail the FleetQuery call itself, as a confusing 502, or break the
// JSON of an error that quotes it.
bool IsUtf8(absl::string_view text) {
  return google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                             static_cast<int>(text.size()));
}

HttpResponse BadRequest(const absl::Status& status) {
  return ErrorResponse(400, "INVALID_ARGUMENT", status.message());
}

}  // namespace

absl::StatusOr<Params> ParseQueryString(absl::string_view query) {
  if (query.size() > kMaxQueryLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("query string is longer than ", kMaxQueryLength, " bytes"));
  }
  Params params;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    ASSIGN_OR_RETURN(std::string name, Decode(pair.substr(0, eq)));
    std::string value;
    if (eq != absl::string_view::npos) {
      ASSIGN_OR_RETURN(value, Decode(pair.substr(eq + 1)));
    }
    if (name.empty())
      return absl::InvalidArgumentError("query string has a parameter with no name");
    if (!IsUtf8(name) || !IsUtf8(value)) {
      return absl::InvalidArgumentError("query string is not UTF-8 once decoded");
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

HttpResponse ErrorResponse(int http_status, absl::string_view status_name,
                           absl::string_view message) {
  google::protobuf::Struct error;
  auto& fields = *(*error.mutable_fields())["error"].mutable_struct_value()->mutable_fields();
  fields["code"].set_number_value(http_status);
  fields["status"].set_string_value(std::string(status_name));
  fields["message"].set_string_value(std::string(message));
  HttpResponse response;
  response.status = http_status;
  (void)google::protobuf::util::MessageToJsonString(error, &response.body);
  return response;
}

RestApi::RestApi(std::shared_ptr<v1::FleetQuery::StubInterface> stub, Options options)
    : stub_(std::move(stub)), options_(std::move(options)) {}

template <typename Request, typename Response>
HttpResponse RestApi::Call(const Request& request,
                           grpc::Status (v1::FleetQuery::StubInterface::*method)(
                               grpc::ClientContext*, const Request&, Response*)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
  Response response;
  const grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  const std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  switch (status.error_code()) {
    case grpc::StatusCode::OK: {
      HttpResponse ok;
      google::protobuf::util::JsonPrintOptions json;
      json.always_print_primitive_fields = true;
      json.preserve_proto_field_names = true;
      if (auto printed = google::protobuf::util::MessageToJsonString(response, &ok.body, json);
          !printed.ok()) {
        return ErrorResponse(500, "INTERNAL", "cannot print the collector's answer as JSON");
      }
      return ok;
    }
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return ErrorResponse(400, name, status.error_message());
    case grpc::StatusCode::NOT_FOUND:
      return ErrorResponse(404, name, status.error_message());
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ErrorResponse(503, name,
                           absl::StrCat("collector unavailable: ", status.error_message()));
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return ErrorResponse(
          502, name,
          absl::StrCat("the collector refused the dashboard's credentials (check "
                       "--collector-token-file and the collector's --query-tokens): ",
                       status.error_message()));
    default:
      return ErrorResponse(502, name, absl::StrCat("collector error: ", status.error_message()));
  }
}

HttpResponse RestApi::Get(absl::string_view path, absl::string_view query) {
  constexpr absl::string_view kPrefix = "/api/v1/";
  // Not a path we serve, and not one an error message (JSON) can quote.
  if (!IsUtf8(path)) return ErrorResponse(404, "NOT_FOUND", "no such API path (not UTF-8)");
  if (!absl::StartsWith(path, kPrefix)) {
    return ErrorResponse(404, "NOT_FOUND", absl::StrCat("no such API path: ", path));
  }
  const absl::string_view endpoint = path.substr(kPrefix.size());
  const absl::Time now = options_.now();

  if (endpoint == "reachability") {
    auto args = Args::Make(
        query, With(kRangeParams, {"step", "group_by", "region", "relay", "port", "route"}));
    if (!args.ok()) return BadRequest(args.status());
    v1::ReachabilityRequest request;
    auto range = ParseRange(*args, now, request.mutable_range());
    if (!range.ok()) return BadRequest(range.status());
    if (auto s = ParseStep(*args, range->second - range->first, request.mutable_step()); !s.ok()) {
      return BadRequest(s);
    }
    auto group_by = args->List("group_by");
    if (!group_by.ok()) return BadRequest(group_by.status());
    for (const std::string& g : *group_by) {
      v1::Dimension dimension;
      std::string name = "DIMENSION_" + absl::AsciiStrToUpper(g == "route" ? "route_kind" : g);
      if (!v1::Dimension_Parse(name, &dimension) || dimension == v1::DIMENSION_UNSPECIFIED) {
        return BadRequest(absl::InvalidArgumentError(
            absl::StrCat("group_by: '", g, "' is not one of region, relay, port, route, outcome")));
      }
      request.add_group_by(dimension);
    }
    if (auto s = ParseFilter(*args, /*with_site=*/false, request.mutable_filter()); !s.ok()) {
      return BadRequest(s);
    }
    return Call(request, &v1::FleetQuery::StubInterface::GetReachability);
  }
  if (endpoint == "failure-patterns") {
    auto args = Args::Make(query, With(kRangeParams, {"region", "relay", "port", "route", "site",
                                                      "page_size", "page_token"}));
    if (!args.ok()) return BadRequest(args.status());
    v1::ListFailurePatternsRequest request;
    if (auto r = ParseRange(*args, now, request.mutable_range()); !r.ok()) {
      return BadRequest(r.status());
    }
    if (auto s = ParseFilter(*args, /*with_site=*/true, request.mutable_filter()); !s.ok()) {
      return BadRequest(s);
    }
    if (auto s = ParsePage(*args, &request); !s.ok()) return BadRequest(s);
    return Call(request, &v1::FleetQuery::StubInterface::ListFailurePatterns);
  }
  if (endpoint == "sites") {
    auto args = Args::Make(query, With(kRangeParams, {"page_size", "page_token"}));
    if (!args.ok()) return BadRequest(args.status());
    v1::ListSitesRequest request;
    if (auto r = ParseRange(*args, now, request.mutable_range()); !r.ok()) {
      return BadRequest(r.status());
    }
    if (auto s = ParsePage(*args, &request); !s.ok()) return BadRequest(s);
    return Call(request, &v1::FleetQuery::StubInterface::ListSites);
  }
  if (endpoint == "sessions") {
    auto args = Args::Make(query, With(kRangeParams, {"site", "page_size", "page_token"}));
    if (!args.ok()) return BadRequest(args.status());
    v1::ListSessionsRequest request;
    if (auto r = ParseRange(*args, now, request.mutable_range()); !r.ok()) {
      return BadRequest(r.status());
    }
    auto site = args->One("site");
    if (!site.ok()) return BadRequest(site.status());
    if (*site) request.set_site(**site);
    if (auto s = ParsePage(*args, &request); !s.ok()) return BadRequest(s);
    return Call(request, &v1::FleetQuery::StubInterface::ListSessions);
  }
  if (absl::StartsWith(endpoint, "sessions/")) {
    std::vector<std::string> parts = absl::StrSplit(endpoint.substr(9), '/');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return ErrorResponse(404, "NOT_FOUND",
                           "session paths are /api/v1/sessions/{agent_id}/{session_id}");
    }
    auto args = Args::Make(query, {});
    if (!args.ok()) return BadRequest(args.status());
    v1::GetSessionRequest request;
    request.set_agent_id(parts[0]);
    request.set_session_id(parts[1]);
    return Call(request, &v1::FleetQuery::StubInterface::GetSession);
  }
  if (endpoint == "activity") {
    auto args = Args::Make(query, With(kRangeParams, {"step"}));
    if (!args.ok()) return BadRequest(args.status());
    v1::GetActivityRequest request;
    auto range = ParseRange(*args, now, request.mutable_range());
    if (!range.ok()) return BadRequest(range.status());
    if (auto s = ParseStep(*args, range->second - range->first, request.mutable_step()); !s.ok()) {
      return BadRequest(s);
    }
    return Call(request, &v1::FleetQuery::StubInterface::GetActivity);
  }
  return ErrorResponse(404, "NOT_FOUND", absl::StrCat("no such API path: ", path));
}

}  // namespace relayscope::dashboard
