#include "collector/server/collector_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/catalogue.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace relayscope::collector {

namespace {

int ClampedMillis(absl::Duration d) {
  return static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, std::numeric_limits<int32_t>::max()));
}

std::chrono::system_clock::time_point Deadline(absl::Duration from_now) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(from_now);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const CollectorConfig& config) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  auto key = ReadFileToString(config.tls_key);
  auto cert = ReadFileToString(config.tls_cert);
  if (!key.ok() || !cert.ok()) {
    const absl::Status& error = key.ok() ? cert.status() : key.status();
    return absl::Status(error.code(), absl::StrCat("--tls-key/--tls-cert: ", error.message()));
  }
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(tls);
}

// The query engine tells download checks from relay attempts by these.
std::set<std::string> DownloadServiceIds(const v1::Catalogue& catalogue) {
  std::set<std::string> ids;
  for (const v1::DownloadService& service : catalogue.downloads()) ids.insert(service.id());
  return ids;
}

}  // namespace

absl::StatusOr<AuthPolicy> AuthPolicy::FromConfig(const CollectorConfig& config) {
  AuthPolicy policy;
  if (!config.tokens.empty()) {
    ASSIGN_OR_RETURN(policy.agents, TokenAuthenticator::Load(config.tokens));
  } else if (config.allow_unauthenticated) {
    policy.agents = TokenAuthenticator::AllowAll();
  } else {
    return absl::InvalidArgumentError("give --tokens, or --allow_unauthenticated for a local demo");
  }
  if (!config.query_tokens.empty()) {
    ASSIGN_OR_RETURN(policy.readers, TokenAuthenticator::Load(config.query_tokens));
  } else if (config.allow_unauthenticated) {
    policy.readers = TokenAuthenticator::AllowAll();
  }
  return policy;
}

absl::StatusOr<std::unique_ptr<CollectorServer>> CollectorServer::Create(
    const CollectorConfig& config) {
  ASSIGN_OR_RETURN(v1::Catalogue catalogue, LoadCatalogue(config.catalogue));
  ASSIGN_OR_RETURN(AuthPolicy auth, AuthPolicy::FromConfig(config));
  if (config.token_batches_per_second < 0) {
    return absl::InvalidArgumentError("--token-batches-per-second must be 0 (none) or more");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(config.store));
  std::unique_ptr<CollectorServer> server(
      new CollectorServer(config, std::move(catalogue), std::move(auth), std::move(store)));
  RETURN_IF_ERROR(server->Start());
  return server;
}

CollectorServer::CollectorServer(const CollectorConfig& config, v1::Catalogue catalogue,
                                 AuthPolicy auth, std::unique_ptr<Store> store)
    : config_(config),
      store_(std::move(store)),
      registry_(std::make_shared<prometheus::Registry>()),
      auth_(std::move(auth)),
      metrics_(*registry_),
      validator_(catalogue),
      agent_limiter_(config.agent_batches_per_second),
      ingestor_(store_.get(), &validator_, &metrics_, &agent_limiter_,
                config.token_batches_per_second > 0
                    ? &holder_limiter_.emplace(config.token_batches_per_second)
                    : nullptr,
                config.now),
      ingest_(&auth_.agents, &ingestor_),
      query_engine_(store_.get(), {}, DownloadServiceIds(catalogue)),
      fleet_query_(&query_engine_, &auth_.readers) {}

absl::Status CollectorServer::Start() {
  if (!config_.metrics.empty()) {
    ASSIGN_OR_RETURN(metrics_endpoint_, ServeMetrics(config_.metrics, registry_));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(config_));
  // Both are process-wide switches that builders read; setting them again
  // is harmless, but once is enough.
  static std::once_flag plugins;
  std::call_once(plugins, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, credentials, &port_);
  builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
  // Connection-level bounds against clients that hold resources without
  // using them (slow-loris): see the flags' help.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ClampedMillis(config_.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ClampedMillis(config_.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ClampedMillis(config_.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ClampedMillis(config_.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config_.max_streams_per_connection);
  builder.RegisterService(&ingest_);
  builder.RegisterService(&fleet_query_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen));
  }
  grpc_address_ = absl::StrCat(config_.listen.substr(0, config_.listen.rfind(':')), ":", port_);
  StartLoops();
  return absl::OkStatus();
}

void CollectorServer::PruneOldAttempts() {
  auto pruned = store_->PruneAttemptsBefore(config_.now() - config_.retention);
  if (pruned.ok() && *pruned > 0) {
    std::fprintf(stderr, "event=retention pruned=%llu\n", static_cast<unsigned long long>(*pruned));
  }
}

void CollectorServer::ReloadTokens() {
  // A file that no longer parses is reported once and the tokens in use
  // are kept: nobody is locked out by a typo.
  for (TokenAuthenticator* file : {&auth_.agents, &auth_.readers}) {
    auto reloaded = file->ReloadIfChanged();
    if (!reloaded.ok()) {
      std::fprintf(stderr, "event=tokens_reload_failed file=%s tokens_in_use=%zu error=\"%s\"\n",
                   file->path().c_str(), file->size(),
                   absl::CHexEscape(reloaded.status().message()).c_str());
    } else if (*reloaded) {
      std::fprintf(stderr, "event=tokens_reloaded file=%s tokens=%zu\n", file->path().c_str(),
                   file->size());
    }
  }
}

void CollectorServer::StartLoops() {
  // Retention: raw attempts are pruned at start and then every interval.
  loops_.emplace_back([this] {
    do {
      PruneOldAttempts();
    } while (!stopping_.WaitForNotificationWithTimeout(config_.retention_interval));
  });
  // Revocation, rotation and expiry dates take effect without a restart.
  if (config_.tokens_reload_interval > absl::ZeroDuration()) {
    loops_.emplace_back([this] {
      while (!stopping_.WaitForNotificationWithTimeout(config_.tokens_reload_interval)) {
        ReloadTokens();
      }
    });
  }
  // The site gauges also move when nobody reports: sites leave the window.
  loops_.emplace_back([this] {
    while (!stopping_.WaitForNotificationWithTimeout(config_.site_gauges_interval)) {
      metrics_.UpdateActiveSites(config_.now());
    }
  });
}

void CollectorServer::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) server_->Shutdown(Deadline(config_.shutdown_grace));
  stopping_.Notify();
  for (std::thread& loop : loops_) loop.join();
}

CollectorServer::~CollectorServer() { Shutdown(); }

std::shared_ptr<grpc::Channel> CollectorServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

}  // namespace relayscope::collector
