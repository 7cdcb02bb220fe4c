#include "collector/ingest/ingest_service.h"

#include <cstdio>
#include <string>
#include <utility>

#include "collector/auth/grpc_status.h"

namespace relayscope::collector {

// Adapts one Upload stream to the Ingestor: authenticate once, then read a
// batch, ingest it, write its ack, read the next.
class UploadReactor final : public grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse> {
 public:
  UploadReactor(const IngestService& service, grpc::CallbackServerContext* context)
      : ingestor_(*service.ingestor_), peer_(context->peer()) {
    std::string authorization;
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    auto holder = service.tokens_->Authenticate(authorization);
    if (!holder.ok()) {
      ingestor_.CountUnauthenticated();
      End(holder.status());
      return;
    }
    caller_.holder = *std::move(holder);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side: all its batches are acked
      End(absl::OkStatus());
      return;
    }
    std::string agent_id = request_.session().agent().agent_id();
    ingestor_.IngestAsync(
        caller_, std::move(request_),
        [this,
         agent_id = std::move(agent_id)](absl::StatusOr<v1::UploadResponse> response) mutable {
          // Only an id that passed envelope validation reaches the log.
          if (response.ok() || response.status().code() != absl::StatusCode::kInvalidArgument) {
            agent_id_ = std::move(agent_id);
          }
          if (!response.ok()) {
            End(response.status());
            return;
          }
          response_ = *std::move(response);
          accepted_ += response_.accepted();
          ++batches_;
          StartWrite(&response_);
        });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the agent went away"));
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void End(const absl::Status& status) {
    std::fprintf(stderr,
                 "event=ingest_stream peer=%s holder=%s agent=%s batches=%llu accepted=%llu "
                 "status=%s\n",
                 peer_.c_str(), caller_.holder.c_str(), agent_id_.c_str(),
                 static_cast<unsigned long long>(batches_),
                 static_cast<unsigned long long>(accepted_),
                 absl::StatusCodeToString(status.code()).c_str());
    Finish(ToGrpcStatus(status));
  }

  Ingestor& ingestor_;
  const std::string peer_;
  Caller caller_;
  std::string agent_id_;
  uint64_t batches_ = 0;
  uint64_t accepted_ = 0;
  v1::UploadRequest request_;
  v1::UploadResponse response_;
};

grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>* IngestService::Upload(
    grpc::CallbackServerContext* context) {
  return new UploadReactor(*this, context);
}

}  // namespace relayscope::collector
