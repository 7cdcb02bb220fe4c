// The Ingest gRPC service: agents stream batches of attempts; the stream is
// authenticated, and each batch goes to the Ingestor (validated,
// rate-limited, committed, counted) and is acknowledged once durable.
//
// Uses gRPC's callback API: no thread per stream. The reactor works in
// lock-step (read a batch, commit, ack, read the next), so acks are in
// order and one slow agent cannot queue unbounded work.
#ifndef COLLECTOR_INGEST_INGEST_SERVICE_H_
#define COLLECTOR_INGEST_INGEST_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "collector/auth/tokens.h"
#include "collector/ingest/ingestor.h"
#include "relayscope/v1/ingest.grpc.pb.h"

namespace relayscope::collector {

class IngestService final : public v1::Ingest::CallbackService {
 public:
  // `tokens` authenticates each stream ("authorization: Bearer <token>");
  // `ingestor` does the rest. Both must outlive the service.
  IngestService(const TokenAuthenticator* tokens, Ingestor* ingestor)
      : tokens_(tokens), ingestor_(ingestor) {}

  // The generated base also has the synchronous Upload; keep it visible
  // (-Woverloaded-virtual) even though only the callback one is used.
  using v1::Ingest::CallbackService::Upload;
  grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse>* Upload(
      grpc::CallbackServerContext* context) override;

 private:
  friend class UploadReactor;
  const TokenAuthenticator* tokens_;
  Ingestor* ingestor_;
};

}  // namespace relayscope::collector

#endif  // COLLECTOR_INGEST_INGEST_SERVICE_H_
