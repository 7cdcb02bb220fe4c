#include "dashboard-api/collector_client.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace relayscope::dashboard {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CollectorCredentials(
    bool insecure, const std::string& ca_file) {
  if (insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions tls;
  if (!ca_file.empty()) {
    auto roots = ReadFileToString(ca_file);
    if (!roots.ok()) {
      return absl::Status(roots.status().code(), absl::StrCat("--ca: ", roots.status().message()));
    }
    tls.pem_root_certs = *std::move(roots);
  }
  return grpc::SslCredentials(tls);
}

absl::StatusOr<std::string> ReadCollectorToken(const std::string& path) {
  if (path.empty()) return std::string();
  auto token = ReadFileToString(path);
  if (!token.ok()) {
    return absl::Status(token.status().code(),
                        absl::StrCat("--collector-token-file: ", token.status().message()));
  }
  return std::string(absl::StripAsciiWhitespace(*token));
}

absl::Status ProbeCollector(v1::FleetQuery::StubInterface& stub, const std::string& token,
                            absl::Duration timeout, absl::Time now) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::GetActivityRequest request;
  const int64_t end = absl::ToUnixSeconds(now);
  request.mutable_range()->mutable_start()->set_seconds(end - 60);
  request.mutable_range()->mutable_end()->set_seconds(end);
  v1::GetActivityResponse response;
  const grpc::Status status = stub.GetActivity(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return absl::OkStatus();
}

}  // namespace relayscope::dashboard
