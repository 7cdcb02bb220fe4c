// relayscope-collector: receives agents' telemetry over gRPC, stores it,
// and exposes Prometheus metrics. Parses flags into a CollectorConfig,
// starts the CollectorServer, serves until SIGTERM or SIGINT.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "collector/server/collector_server.h"
#include "collector/store/store.h"
#include "common/cli.h"
#include "common/files.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC address (host:port; port 0 = any)");
ABSL_FLAG(std::string, store, "sqlite:///var/lib/relayscope/collector.db",
          "Store URL: sqlite:///path.db, or postgresql://user@host:5432/db for several "
          "collectors (keep the password out of the command line: PGPASSFILE or PGPASSWORD)");
ABSL_FLAG(std::string, catalogue, "/etc/relayscope/catalogue.textproto",
          "Relay catalogue; names it does not list are counted as \"other\"");
ABSL_FLAG(std::string, tokens, "", "Agent token file (\"<name> <sha256-hex>\" per line)");
ABSL_FLAG(std::string, query_tokens, "",
          "Token file for FleetQuery callers such as the dashboard (same format; separate "
          "from the agents' so an agent token cannot read fleet data)");
ABSL_FLAG(absl::Duration, tokens_reload_interval, absl::Seconds(5),
          "How often the token files are checked for changes; a changed file is re-read, so "
          "revoking or adding a token needs no restart (0: read at start only)");
ABSL_FLAG(bool, allow_unauthenticated, false,
          "Accept agents and FleetQuery callers without a token (local demo and tests only)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls_key, serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(std::string, metrics, "127.0.0.1:9465", "host:port for /metrics (empty: off)");
ABSL_FLAG(std::string, ready_file, "", "Written once serving: grpc=host:port, metrics=host:port");
ABSL_FLAG(int, max_message_bytes, 4 << 20, "Largest message an agent may send");
// Connection-level bounds against clients that hold resources without using
// them (slow-loris): unauthenticated streams end at once, but a TCP
// connection that never finishes its handshake, or one that keeps a valid
// stream open and silent, would otherwise live forever.
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "Close a connection that has not completed its TLS/HTTP2 handshake by then");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(5),
          "Close a connection with no open stream for this long");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "Ask a client to reconnect (GOAWAY) after this long; agents open a connection per "
          "upload, so only idle or stuck streams reach it");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Minutes(1),
          "After --max-connection-age, streams still open get this long, then are cancelled");
ABSL_FLAG(int, max_streams_per_connection, 100, "Concurrent streams one connection may open");
ABSL_FLAG(double, agent_batches_per_second, 20, "Per-agent rate limit");
ABSL_FLAG(double, token_batches_per_second, 0,
          "Rate limit per token holder (the name in --tokens), over all the agent ids it "
          "sends: bounds a flood of made-up agent ids under one token. Size it above the "
          "holder's fleet (agents / upload interval, with room for a spool flush); 0: none");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24 * 30),
          "Raw attempts older than this are pruned hourly (rollups stay)");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "relayscope-collector: %s\n", message.c_str());
  return 1;
}

relayscope::collector::CollectorConfig ConfigFromFlags() {
  relayscope::collector::CollectorConfig c;
  c.listen = absl::GetFlag(FLAGS_listen);
  c.store = absl::GetFlag(FLAGS_store);
  c.catalogue = absl::GetFlag(FLAGS_catalogue);
  c.tokens = absl::GetFlag(FLAGS_tokens);
  c.query_tokens = absl::GetFlag(FLAGS_query_tokens);
  c.tokens_reload_interval = absl::GetFlag(FLAGS_tokens_reload_interval);
  c.allow_unauthenticated = absl::GetFlag(FLAGS_allow_unauthenticated);
  c.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  c.tls_key = absl::GetFlag(FLAGS_tls_key);
  c.metrics = absl::GetFlag(FLAGS_metrics);
  c.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  c.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  c.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  c.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  c.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  c.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  c.agent_batches_per_second = absl::GetFlag(FLAGS_agent_batches_per_second);
  c.token_batches_per_second = absl::GetFlag(FLAGS_token_batches_per_second);
  c.retention = absl::GetFlag(FLAGS_retention);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relayscope;
  ParseCommandLine(argc, argv,
                   "Receives relayscope agents' telemetry, stores it and exposes metrics.\n"
                   "  relayscope-collector --store=sqlite:///var/lib/relayscope/collector.db "
                   "--catalogue=... --tokens=/etc/relayscope/tokens");
  InstallStopSignalHandlers();

  const collector::CollectorConfig config = ConfigFromFlags();
  auto server = collector::CollectorServer::Create(config);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  const std::string& grpc_address = (*server)->grpc_address();
  const std::string& metrics_address = (*server)->metrics_address();
  std::fprintf(stderr, "event=listening grpc=%s metrics=%s store=%s\n", grpc_address.c_str(),
               metrics_address.c_str(), collector::RedactUrl(config.store).c_str());
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    std::string content = absl::StrCat("grpc=", grpc_address, "\n");
    if (!metrics_address.empty()) absl::StrAppend(&content, "metrics=", metrics_address, "\n");
    if (auto written = WriteFileAtomically(ready, content); !written.ok()) {
      return Fail(std::string(written.message()));
    }
  }

  const int signal_number = WaitForStopSignal();
  std::fprintf(stderr, "event=stopping signal=%d\n", signal_number);
  (*server)->Shutdown();
  return 0;
}
