#include "dashboard-api/server.h"

#include <civetweb.h>

#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/embedded_files.h"
#include "prometheus/text_serializer.h"

namespace relayscope::dashboard {
namespace {

// Defence in depth for the page: only our own script and styles run, so
// even a bug that let middlebox text into markup could not execute it.
constexpr char kSecurityHeaders[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

std::string ContentType(absl::string_view path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".yaml")) return "application/yaml; charset=utf-8";
  return "application/octet-stream";
}

const EmbeddedFile* FindAsset(absl::string_view path) {
  size_t count = 0;
  const EmbeddedFile* files = EmbeddedFiles(&count);
  for (size_t i = 0; i < count; ++i) {
    if (path == files[i].path) return &files[i];
  }
  return nullptr;
}

// A bounded label for metrics: never the raw path.
std::string HandlerLabel(absl::string_view path) {
  if (absl::StartsWith(path, "/api/v1/sessions/")) return "api_session";
  for (const char* name :
       {"reachability", "failure-patterns", "sites", "sessions", "activity", "openapi.yaml"}) {
    if (path == absl::StrCat("/api/v1/", name)) return absl::StrCat("api_", name);
  }
  if (absl::StartsWith(path, "/api/")) return "api_other";
  if (path == "/healthz" || path == "/readyz" || path == "/metrics")
    return std::string(path.substr(1));
  return FindAsset(path == "/" ? "web/index.html" : absl::StrCat("web", path)) ? "static" : "other";
}

void Send(mg_connection* connection, const HttpResponse& response, bool head) {
  const char* reason = mg_get_response_code_text(connection, response.status);
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
            response.status, reason, response.content_type.c_str(), response.body.size(),
            kSecurityHeaders);
  if (!head) mg_write(connection, response.body.data(), response.body.size());
}

}  // namespace

DashboardServer::DashboardServer(Options options, RestApi* api)
    : options_(std::move(options)),
      api_(api),
      registry_(std::make_shared<prometheus::Registry>()),
      requests_(&prometheus::BuildCounter()
                     .Name("relayscope_dashboard_requests_total")
                     .Help("HTTP requests by handler and status code")
                     .Register(*registry_)),
      duration_(&prometheus::BuildHistogram()
                     .Name("relayscope_dashboard_request_duration_seconds")
                     .Help("Time to answer an HTTP request, by handler")
                     .Register(*registry_)),
      collector_up_(&prometheus::BuildGauge()
                         .Name("relayscope_dashboard_collector_up")
                         .Help("1 if the last call to the collector got an answer, 0 if it was "
                               "unreachable")
                         .Register(*registry_)
                         .Add({})) {}

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(Options options,
                                                                        RestApi* api) {
  std::unique_ptr<DashboardServer> server(new DashboardServer(std::move(options), api));
  mg_init_library(0);
  const std::string threads = std::to_string(server->options_.threads);
  const char* mg_options[] = {"listening_ports",
                              server->options_.listen.c_str(),
                              "num_threads",
                              threads.c_str(),
                              "request_timeout_ms",
                              "15000",
                              "enable_keep_alive",
                              "no",
                              nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  server->context_ = mg_start(&callbacks, nullptr, mg_options);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", server->options_.listen));
  }
  mg_set_request_handler(server->context_, "/", &DashboardServer::HandleRequest, server.get());
  mg_server_port ports[4];
  const int n = mg_get_server_ports(server->context_, 4, ports);
  const std::string& listen = server->options_.listen;
  const std::string host = listen.substr(0, listen.rfind(':'));
  server->address_ = absl::StrCat(host, ":", n > 0 ? ports[0].port : 0);
  return server;
}

DashboardServer::~DashboardServer() {
  if (context_ != nullptr) mg_stop(context_);
}

HttpResponse DashboardServer::Route(const std::string& path, const std::string& query) {
  if (path == "/healthz") return {200, "application/json", "{\"status\":\"ok\"}"};
  if (path == "/readyz") {
    const absl::Status ready =
        options_.collector_ready ? options_.collector_ready() : absl::OkStatus();
    collector_up_->Set(ready.ok() ? 1 : 0);
    if (ready.ok()) return {200, "application/json", "{\"status\":\"ready\"}"};
    return ErrorResponse(503, "UNAVAILABLE",
                         absl::StrCat("collector unavailable: ", ready.message()));
  }
  if (path == "/metrics") {
    prometheus::TextSerializer serializer;
    return {200, "text/plain; version=0.0.4", serializer.Serialize(registry_->Collect())};
  }
  if (path == "/api/v1/openapi.yaml") {
    const EmbeddedFile* spec = FindAsset("openapi.yaml");
    return {200, ContentType("openapi.yaml"), std::string(spec->data, spec->size)};
  }
  if (absl::StartsWith(path, "/api/")) {
    HttpResponse response = api_->Get(path, query);
    if (response.status == 503) {
      collector_up_->Set(0);
    } else if (response.status < 500) {
      collector_up_->Set(1);
    }
    return response;
  }
  const std::string asset = path == "/" ? "web/index.html" : absl::StrCat("web", path);
  if (const EmbeddedFile* file = FindAsset(asset)) {
    return {200, ContentType(asset), std::string(file->data, file->size)};
  }
  return ErrorResponse(404, "NOT_FOUND", absl::StrCat("no such page: ", path));
}

int DashboardServer::HandleRequest(mg_connection* connection, void* self) {
  auto* server = static_cast<DashboardServer*>(self);
  const auto started = std::chrono::steady_clock::now();
  const mg_request_info* info = mg_get_request_info(connection);
  const std::string method = info->request_method ? info->request_method : "";
  const std::string path = info->local_uri ? info->local_uri : "/";
  const std::string query = info->query_string ? info->query_string : "";
  const std::string handler = HandlerLabel(path);
  HttpResponse response;
  if (method != "GET" && method != "HEAD") {
    response = ErrorResponse(405, "METHOD_NOT_ALLOWED", "only GET and HEAD are served");
  } else {
    response = server->Route(path, query);
  }
  Send(connection, response, method == "HEAD");
  server->requests_->Add({{"handler", handler}, {"code", std::to_string(response.status)}})
      .Increment();
  server->duration_
      ->Add({{"handler", handler}},
            prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                    0.25, 0.5, 1, 2.5, 5})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return response.status;
}

}  // namespace relayscope::dashboard
