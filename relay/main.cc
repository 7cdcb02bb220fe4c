// relayscope-relay: the reference relay. Parses flags, starts the server and
// the metrics endpoint, and runs until SIGTERM or SIGINT.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/catalogue.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/metrics_endpoint.h"
#include "relay/relay_catalogue.h"
#include "relay/relay_server.h"

ABSL_FLAG(std::vector<std::string>, listen, {},
          "Addresses to serve the handshake on: 127.0.0.1:8200,[::1]:8200 (port 0 = any)");
ABSL_FLAG(std::string, catalogue, "",
          "Catalogue file; with --relay, listen on that relay's "
          "addresses x ports");
ABSL_FLAG(std::string, relay, "", "Relay id in --catalogue");
ABSL_FLAG(std::string, metrics, "", "host:port for the Prometheus /metrics endpoint (empty: off)");
ABSL_FLAG(std::string, ready_file, "",
          "Written once every listener is up: one bound address per line, then metrics=");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10), "Budget for one handshake");
ABSL_FLAG(int, workers, 16, "Handshakes served at once");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "relayscope-relay: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  relayscope::ParseCommandLine(
      argc, argv,
      "The reference relay: serves the relayscope handshake (protocol/handshake/PROTOCOL.md).\n"
      "  relayscope-relay --listen=127.0.0.1:8200\n"
      "  relayscope-relay --catalogue=deploy/catalogue/demo.textproto --relay=emea-1");

  relayscope::InstallStopSignalHandlers();

  relayscope::relay::RelayOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.workers = absl::GetFlag(FLAGS_workers);
  if (!absl::GetFlag(FLAGS_catalogue).empty()) {
    auto catalogue = relayscope::LoadCatalogue(absl::GetFlag(FLAGS_catalogue));
    if (!catalogue.ok()) return Fail(std::string(catalogue.status().message()));
    auto listen = relayscope::relay::ListenAddressesOf(*catalogue, absl::GetFlag(FLAGS_relay),
                                                       absl::GetFlag(FLAGS_catalogue));
    if (!listen.ok()) return Fail(std::string(listen.status().message()));
    options.listen.insert(options.listen.end(), listen->begin(), listen->end());
  }
  if (options.listen.empty())
    return Fail("nothing to listen on: give --listen or --catalogue and --relay");

  auto registry = std::make_shared<prometheus::Registry>();
  relayscope::MetricsEndpoint metrics;
  if (!absl::GetFlag(FLAGS_metrics).empty()) {
    auto served = relayscope::ServeMetrics(absl::GetFlag(FLAGS_metrics), registry);
    if (!served.ok()) return Fail(std::string(served.status().message()));
    metrics = *std::move(served);
  }
  const std::string& metrics_address = metrics.address;

  auto server = relayscope::relay::RelayServer::Start(options, registry);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  for (const std::string& address : (*server)->bound()) {
    std::fprintf(stderr, "event=listening address=%s\n", address.c_str());
  }
  if (!metrics_address.empty()) {
    std::fprintf(stderr, "event=metrics address=http://%s/metrics\n", metrics_address.c_str());
  }
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    std::string content = absl::StrJoin((*server)->bound(), "\n") + "\n";
    if (!metrics_address.empty()) absl::StrAppend(&content, "metrics=", metrics_address, "\n");
    if (auto written = relayscope::WriteFileAtomically(ready, content); !written.ok()) {
      return Fail(std::string(written.message()));
    }
  }

  const int signal_number = relayscope::WaitForStopSignal();
  std::fprintf(stderr, "event=stopping signal=%d\n", signal_number);
  (*server)->Shutdown();
  return 0;
}
