// relayscope-collector: receives agents' telemetry over gRPC, stores it,
// and exposes Prometheus metrics. Parses flags, builds the objects, serves
// until SIGTERM or SIGINT.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "collector/auth/tokens.h"
#include "collector/ingest/ingest_metrics.h"
#include "collector/ingest/ingest_service.h"
#include "collector/ingest/ingestor.h"
#include "collector/ingest/rate_limiter.h"
#include "collector/ingest/validator.h"
#include "collector/query/fleet_query_service.h"
#include "collector/query/query_engine.h"
#include "collector/store/store.h"
#include "common/catalogue.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/metrics_endpoint.h"

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

}  // namespace

int main(int argc, char** argv) {
  using namespace relayscope;
  using namespace relayscope::collector;
  absl::SetProgramUsageMessage(
      "Receives relayscope agents' telemetry, stores it and exposes metrics.\n"
      "  relayscope-collector --store=sqlite:///var/lib/relayscope/collector.db "
      "--catalogue=... --tokens=/etc/relayscope/tokens");
  std::vector<std::string> arg_storage = NormalizeFlagNames(argc, argv);
  std::vector<char*> arg_pointers = ArgvPointers(arg_storage);
  absl::ParseCommandLine(static_cast<int>(arg_storage.size()), arg_pointers.data());

  InstallStopSignalHandlers();

  auto catalogue = LoadCatalogue(absl::GetFlag(FLAGS_catalogue));
  if (!catalogue.ok()) return Fail(std::string(catalogue.status().message()));
  TokenAuthenticator tokens = TokenAuthenticator::AllowAll();
  if (!absl::GetFlag(FLAGS_tokens).empty()) {
    auto loaded = TokenAuthenticator::Load(absl::GetFlag(FLAGS_tokens));
    if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
    tokens = *std::move(loaded);
  } else if (!absl::GetFlag(FLAGS_allow_unauthenticated)) {
    return Fail("give --tokens, or --allow_unauthenticated for a local demo");
  }
  // FleetQuery callers: their own token file; with neither it nor
  // --allow_unauthenticated, every query is refused (UNAUTHENTICATED).
  absl::StatusOr<TokenAuthenticator> query_tokens = TokenAuthenticator::DenyAll();
  if (!absl::GetFlag(FLAGS_query_tokens).empty()) {
    query_tokens = TokenAuthenticator::Load(absl::GetFlag(FLAGS_query_tokens));
  } else if (absl::GetFlag(FLAGS_allow_unauthenticated)) {
    query_tokens = TokenAuthenticator::AllowAll();
  }
  if (!query_tokens.ok()) return Fail(std::string(query_tokens.status().message()));
  auto store = OpenStore(absl::GetFlag(FLAGS_store));
  if (!store.ok()) return Fail(std::string(store.status().message()));

  auto registry = std::make_shared<prometheus::Registry>();
  IngestMetrics metrics(*registry);
  Validator validator(*catalogue);
  RateLimiter limiter(absl::GetFlag(FLAGS_agent_batches_per_second));
  const double token_rate = absl::GetFlag(FLAGS_token_batches_per_second);
  if (token_rate < 0) return Fail("--token-batches-per-second must be 0 (none) or more");
  std::optional<RateLimiter> holder_limiter;
  if (token_rate > 0) holder_limiter.emplace(token_rate);
  Ingestor ingestor(store->get(), &validator, &metrics, &limiter,
                    holder_limiter ? &*holder_limiter : nullptr);
  IngestService ingest(&tokens, &ingestor);
  QueryEngine query_engine(store->get());
  FleetQueryService fleet_query(&query_engine, &*query_tokens);

  MetricsEndpoint metrics_endpoint;
  if (!absl::GetFlag(FLAGS_metrics).empty()) {
    auto served = ServeMetrics(absl::GetFlag(FLAGS_metrics), registry);
    if (!served.ok()) return Fail(std::string(served.status().message()));
    metrics_endpoint = *std::move(served);
  }
  const std::string& metrics_address = metrics_endpoint.address;

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    auto key = ReadFileToString(absl::GetFlag(FLAGS_tls_key));
    auto cert = ReadFileToString(absl::GetFlag(FLAGS_tls_cert));
    if (!key.ok() || !cert.ok()) {
      return Fail(absl::StrCat("--tls-key/--tls-cert: ",
                               (key.ok() ? cert.status() : key.status()).message()));
    }
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(tls);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  const auto millis = [](absl::Duration d) {
    return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
  };
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             millis(absl::GetFlag(FLAGS_handshake_timeout)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             millis(absl::GetFlag(FLAGS_max_connection_idle)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             millis(absl::GetFlag(FLAGS_max_connection_age)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             millis(absl::GetFlag(FLAGS_max_connection_age_grace)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             absl::GetFlag(FLAGS_max_streams_per_connection));
  builder.RegisterService(&ingest);
  builder.RegisterService(&fleet_query);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen)));
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string grpc_address = absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
  std::fprintf(stderr, "event=listening grpc=%s metrics=%s store=%s\n", grpc_address.c_str(),
               metrics_address.c_str(), RedactUrl(absl::GetFlag(FLAGS_store)).c_str());
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    std::string content = absl::StrCat("grpc=", grpc_address, "\n");
    if (!metrics_address.empty()) absl::StrAppend(&content, "metrics=", metrics_address, "\n");
    if (auto written = WriteFileAtomically(ready, content); !written.ok()) {
      return Fail(std::string(written.message()));
    }
  }

  // Retention: prune raw attempts hourly, in the background.
  absl::Notification stopping;
  std::thread retention([&] {
    do {
      auto pruned = (*store)->PruneAttemptsBefore(absl::Now() - absl::GetFlag(FLAGS_retention));
      if (pruned.ok() && *pruned > 0) {
        std::fprintf(stderr, "event=retention pruned=%llu\n",
                     static_cast<unsigned long long>(*pruned));
      }
    } while (!stopping.WaitForNotificationWithTimeout(absl::Hours(1)));
  });

  // Token files: revocation, rotation and expiry dates take effect without
  // a restart. A file that no longer parses is reported once and the
  // tokens in use are kept (nobody is locked out by a typo).
  std::thread token_reload([&] {
    const absl::Duration interval = absl::GetFlag(FLAGS_tokens_reload_interval);
    if (interval <= absl::ZeroDuration()) return;
    while (!stopping.WaitForNotificationWithTimeout(interval)) {
      for (TokenAuthenticator* file : {&tokens, &*query_tokens}) {
        auto reloaded = file->ReloadIfChanged();
        if (!reloaded.ok()) {
          std::fprintf(stderr,
                       "event=tokens_reload_failed file=%s tokens_in_use=%zu error=\"%s\"\n",
                       file->path().c_str(), file->size(),
                       absl::CHexEscape(reloaded.status().message()).c_str());
        } else if (*reloaded) {
          std::fprintf(stderr, "event=tokens_reloaded file=%s tokens=%zu\n", file->path().c_str(),
                       file->size());
        }
      }
    }
  });

  // The site gauges also move when nobody reports: sites leave the window.
  std::thread site_gauges([&] {
    while (!stopping.WaitForNotificationWithTimeout(absl::Seconds(5))) {
      metrics.UpdateActiveSites(absl::Now());
    }
  });

  const int signal_number = WaitForStopSignal();
  std::fprintf(stderr, "event=stopping signal=%d\n", signal_number);
  // Streams get a few seconds to finish their in-flight batch.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  stopping.Notify();
  retention.join();
  site_gauges.join();
  token_reload.join();
  return 0;
}
