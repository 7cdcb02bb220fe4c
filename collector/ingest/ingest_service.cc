#include "collector/ingest/ingest_service.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace relayscope::collector {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

IngestMetrics::IngestMetrics(prometheus::Registry& registry)
    : attempts_(prometheus::BuildCounter()
                    .Name("relayscope_attempts_total")
                    .Help("Attempts reported by agents, counted once each, by region, relay, "
                          "port, route and outcome.")
                    .Register(registry)),
      batches_(prometheus::BuildCounter()
                   .Name("relayscope_ingest_batches_total")
                   .Help("Ingest batches by result.")
                   .Register(registry)),
      rejected_(prometheus::BuildCounter()
                    .Name("relayscope_ingest_rejected_attempts_total")
                    .Help("Attempts refused by validation.")
                    .Register(registry)
                    .Add({})),
      duplicates_(prometheus::BuildCounter()
                      .Name("relayscope_ingest_duplicate_attempts_total")
                      .Help("Attempts received again (resent batches) and not counted again.")
                      .Register(registry)
                      .Add({})) {}

void IngestMetrics::CountAttempt(const v1::Attempt& a) {
  std::string route = v1::RouteKind_Name(a.route_kind()).substr(11);  // drop ROUTE_KIND_
  std::string outcome = v1::Outcome_Name(a.outcome()).substr(8);     // drop OUTCOME_
  for (char& c : route) c = static_cast<char>(std::tolower(c));
  for (char& c : outcome) c = static_cast<char>(std::tolower(c));
  attempts_
      .Add({{"region", a.region()},
            {"relay", a.relay()},
            {"port", a.port() == 0 ? std::string(kOther) : absl::StrCat(a.port())},
            {"route", route},
            {"outcome", outcome}})
      .Increment();
}

void IngestMetrics::CountBatch(const std::string& result) {
  batches_.Add({{"result", result}}).Increment();
}
void IngestMetrics::CountRejected(uint64_t n) { rejected_.Increment(static_cast<double>(n)); }
void IngestMetrics::CountDuplicates(uint64_t n) { duplicates_.Increment(static_cast<double>(n)); }

bool RateLimiter::Allow(const std::string& agent_id, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(agent_id);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_agents_) buckets_.erase(buckets_.begin());
    it = buckets_.emplace(agent_id, Bucket{rate_, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = std::min(rate_, bucket.tokens + rate_ * absl::ToDoubleSeconds(now - bucket.updated));
  bucket.updated = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

class UploadReactor final : public grpc::ServerBidiReactor<v1::UploadRequest, v1::UploadResponse> {
 public:
  UploadReactor(const IngestService& service, grpc::CallbackServerContext* context)
      : service_(service), peer_(context->peer()) {
    std::string authorization;
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      authorization.assign(it->second.data(), it->second.size());
    }
    auto holder = service_.tokens_->Authenticate(authorization);
    if (!holder.ok()) {
      service_.metrics_->CountBatch("unauthenticated");
      End(holder.status());
      return;
    }
    holder_ = *holder;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side: all its batches are acked
      End(absl::OkStatus());
      return;
    }
    if (absl::Status s = service_.validator_->ValidateEnvelope(request_); !s.ok()) {
      service_.metrics_->CountBatch("invalid");
      End(s);
      return;
    }
    const v1::SessionReport& session = request_.session();
    if (!service_.limiter_->Allow(session.agent().agent_id(), absl::Now())) {
      service_.metrics_->CountBatch("rate_limited");
      End(absl::ResourceExhaustedError("too many batches from this agent; slow down"));
      return;
    }
    response_.Clear();
    response_.set_batch_id(request_.batch_id());
    IngestBatch batch;
    batch.agent = session.agent();
    batch.session_id = session.session_id();
    batch.session = session;
    batch.session.clear_attempts();
    const absl::Time now = absl::Now();
    for (const v1::Attempt& original : session.attempts()) {
      v1::Attempt attempt = original;
      if (auto rejected = service_.validator_->ValidateAttempt(session.session_id(), now, &attempt)) {
        *response_.add_rejected() = *rejected;
        continue;
      }
      batch.attempts.push_back(std::move(attempt));
    }
    service_.metrics_->CountRejected(static_cast<uint64_t>(response_.rejected_size()));
    agent_id_ = batch.agent.agent_id();
    auto attempts = std::make_shared<std::vector<v1::Attempt>>(batch.attempts);
    service_.store_->CommitAsync(
        std::move(batch), [this, attempts](absl::StatusOr<CommitResult> result) {
          if (!result.ok()) {
            service_.metrics_->CountBatch(result.status().code() ==
                                                  absl::StatusCode::kResourceExhausted
                                              ? "store_full"
                                              : "store_error");
            End(result.status());
            return;
          }
          // Counted only after the commit: a failed commit counts nothing.
          for (size_t i = 0; i < attempts->size() && i < result->is_new.size(); ++i) {
            if (result->is_new[i]) service_.metrics_->CountAttempt((*attempts)[i]);
          }
          service_.metrics_->CountDuplicates(result->duplicates);
          service_.metrics_->CountBatch("ok");
          response_.set_accepted(result->accepted);
          response_.set_duplicates(result->duplicates);
          accepted_ += result->accepted;
          ++batches_;
          StartWrite(&response_);
        });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(absl::CancelledError("the agent went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void End(const absl::Status& status) {
    std::fprintf(stderr,
                 "event=ingest_stream peer=%s holder=%s agent=%s batches=%llu accepted=%llu "
                 "status=%s\n",
                 peer_.c_str(), holder_.c_str(), agent_id_.c_str(),
                 static_cast<unsigned long long>(batches_),
                 static_cast<unsigned long long>(accepted_),
                 absl::StatusCodeToString(status.code()).c_str());
    Finish(ToGrpcStatus(status));
  }

  const IngestService& service_;
  const std::string peer_;
  std::string holder_;
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
