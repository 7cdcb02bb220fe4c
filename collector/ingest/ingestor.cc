#include "collector/ingest/ingestor.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"

namespace relayscope::collector {

Ingestor::Ingestor(Store* store, const Validator* validator, IngestMetrics* metrics,
                   RateLimiter* agent_limiter, RateLimiter* holder_limiter,
                   std::function<absl::Time()> now)
    : store_(store),
      validator_(validator),
      metrics_(metrics),
      agent_limiter_(agent_limiter),
      holder_limiter_(holder_limiter),
      now_(std::move(now)) {}

void Ingestor::CountUnauthenticated() { metrics_->CountBatch("unauthenticated"); }

void Ingestor::IngestAsync(const Caller& caller, v1::UploadRequest request, Done done) {
  if (absl::Status s = validator_->ValidateEnvelope(request); !s.ok()) {
    metrics_->CountBatch("invalid");
    done(s);
    return;
  }
  request.DiscardUnknownFields();
  const v1::SessionReport& session = request.session();
  if (!agent_limiter_->Allow(session.agent().agent_id(), now_())) {
    metrics_->CountBatch("rate_limited");
    done(absl::ResourceExhaustedError("too many batches from this agent; slow down"));
    return;
  }
  if (holder_limiter_ != nullptr && !holder_limiter_->Allow(caller.holder, now_())) {
    metrics_->CountBatch("rate_limited");
    done(absl::ResourceExhaustedError("too many batches under this token; slow down"));
    return;
  }
  auto response = std::make_shared<v1::UploadResponse>();
  response->set_batch_id(request.batch_id());
  // The attempts move out of the request, so neither the session nor any
  // attempt is copied.
  google::protobuf::RepeatedPtrField<v1::Attempt> received;
  received.Swap(request.mutable_session()->mutable_attempts());
  IngestBatch batch;
  batch.agent = session.agent();
  batch.session_id = session.session_id();
  batch.session = session;
  batch.attempts.reserve(static_cast<size_t>(received.size()));
  auto samples = std::make_shared<std::vector<IngestMetrics::Sample>>();
  samples->reserve(static_cast<size_t>(received.size()));
  const absl::Time now = now_();
  for (v1::Attempt& attempt : received) {
    if (auto rejected = validator_->ValidateAttempt(session.session_id(), now, &attempt)) {
      *response->add_rejected() = *std::move(rejected);
      continue;
    }
    samples->push_back(metrics_->Resolve(attempt));
    batch.attempts.push_back(std::move(attempt));
  }
  for (const v1::RejectedAttempt& rejected : response->rejected()) {
    metrics_->CountRejected(rejected);
  }
  const std::string site = batch.agent.site();
  const absl::Time handed_over = now_();
  metrics_->SetQueueDepth(store_->QueueDepth());
  store_->CommitAsync(
      std::move(batch), [this, response, samples, site, handed_over,
                         done = std::move(done)](absl::StatusOr<CommitResult> result) {
        const absl::Time committed = now_();
        metrics_->ObserveCommit(committed - handed_over);
        if (!result.ok()) {
          metrics_->CountBatch(result.status().code() == absl::StatusCode::kResourceExhausted
                                   ? "store_full"
                                   : "store_error");
          done(result.status());
          return;
        }
        // Counted only after the commit: a failed commit counts nothing.
        metrics_->Count(*samples, result->is_new, site, committed);
        metrics_->CountDuplicates(result->duplicates);
        metrics_->UpdateActiveSites(committed);
        metrics_->CountBatch("ok");
        response->set_accepted(result->accepted);
        response->set_duplicates(result->duplicates);
        done(std::move(*response));
      });
}

absl::StatusOr<v1::UploadResponse> Ingestor::Ingest(const Caller& caller,
                                                    v1::UploadRequest request) {
  absl::Notification finished;
  absl::StatusOr<v1::UploadResponse> out;
  IngestAsync(caller, std::move(request), [&](absl::StatusOr<v1::UploadResponse> result) {
    out = std::move(result);
    finished.Notify();
  });
  finished.WaitForNotification();
  return out;
}

}  // namespace relayscope::collector
