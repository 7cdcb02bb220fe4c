// relayscope-dashboard: a stateless gateway in front of the collector's
// FleetQuery service. Serves the REST/JSON API (/api/v1/...), the web
// dashboard, /healthz, /readyz and /metrics until SIGTERM or SIGINT.
#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "common/files.h"
#include "dashboard-api/collector_client.h"
#include "dashboard-api/rest.h"
#include "dashboard-api/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8080", "HTTP address (host:port; port 0 = any)");
ABSL_FLAG(std::string, collector, "127.0.0.1:50051", "The collector's gRPC address");
ABSL_FLAG(bool, insecure, false, "Talk to the collector without TLS (local demo only)");
ABSL_FLAG(std::string, ca, "", "PEM CA bundle for the collector (default: system roots)");
ABSL_FLAG(std::string, collector_token_file, "",
          "File holding the FleetQuery token (listed in the collector's --query-tokens)");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(5), "Deadline of each call to the collector");
ABSL_FLAG(int, threads, 8, "HTTP worker threads");
ABSL_FLAG(std::string, ready_file, "", "Written once serving: http=host:port");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "relayscope-dashboard: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relayscope;
  using namespace relayscope::dashboard;
  ParseCommandLine(argc, argv,
                   "Serves the relayscope dashboard and REST API from a collector's FleetQuery.\n"
                   "  relayscope-dashboard --listen=127.0.0.1:8080 --collector=collector:50051 "
                   "--collector-token-file=/etc/relayscope/dashboard.token");
  InstallStopSignalHandlers();

  auto credentials = CollectorCredentials(absl::GetFlag(FLAGS_insecure), absl::GetFlag(FLAGS_ca));
  if (!credentials.ok()) return Fail(std::string(credentials.status().message()));
  RestApi::Options api_options;
  api_options.deadline = absl::GetFlag(FLAGS_deadline);
  auto token = ReadCollectorToken(absl::GetFlag(FLAGS_collector_token_file));
  if (!token.ok()) return Fail(std::string(token.status().message()));
  api_options.token = *std::move(token);
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_collector), *credentials);
  std::shared_ptr<v1::FleetQuery::StubInterface> stub = v1::FleetQuery::NewStub(channel);
  RestApi api(stub, api_options);

  DashboardServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.collector_ready = [&stub, &api_options] {
    return ProbeCollector(*stub, api_options.token);
  };
  auto server = DashboardServer::Start(options, &api);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  std::fprintf(stderr, "event=listening http=%s collector=%s\n", (*server)->address().c_str(),
               absl::GetFlag(FLAGS_collector).c_str());
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    if (auto written =
            WriteFileAtomically(ready, absl::StrCat("http=", (*server)->address(), "\n"));
        !written.ok()) {
      return Fail(std::string(written.message()));
    }
  }
  const int signal_number = WaitForStopSignal();
  std::fprintf(stderr, "event=stopping signal=%d\n", signal_number);
  return 0;
}
