#include "tests/support/telemetry_builders.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/proto_time.h"

namespace relayscope::test {

AttemptBuilder::AttemptBuilder() {
  Session("s-1");
  Sequence(1);
  StartedAt(absl::Now() - absl::Seconds(1));
  To("emea", "emea-1", 8200);
  Route(v1::ROUTE_KIND_DIRECT);
  Outcome(v1::OUTCOME_OK);
}

AttemptBuilder& AttemptBuilder::Session(absl::string_view session_id) {
  attempt_.set_session_id(std::string(session_id));
  return *this;
}

AttemptBuilder& AttemptBuilder::Sequence(uint64_t sequence) {
  attempt_.set_sequence(sequence);
  return *this;
}

AttemptBuilder& AttemptBuilder::StartedAt(absl::Time start) {
  attempt_.mutable_start_time()->Clear();
  attempt_.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  return *this;
}

AttemptBuilder& AttemptBuilder::To(absl::string_view region, absl::string_view relay,
                                   uint32_t port) {
  attempt_.set_region(std::string(region));
  attempt_.set_relay(std::string(relay));
  attempt_.set_port(port);
  return *this;
}

AttemptBuilder& AttemptBuilder::Address(absl::string_view address) {
  attempt_.set_address(std::string(address));
  return *this;
}

AttemptBuilder& AttemptBuilder::Route(v1::RouteKind kind) {
  attempt_.set_route_kind(kind);
  return *this;
}

AttemptBuilder& AttemptBuilder::Outcome(v1::Outcome outcome) {
  attempt_.set_outcome(outcome);
  return *this;
}

AttemptBuilder& AttemptBuilder::ProxyStatus(uint32_t status) {
  attempt_.set_proxy_status(status);
  return *this;
}

AttemptBuilder& AttemptBuilder::PageTitle(absl::string_view title) {
  attempt_.mutable_interference()->set_page_title(std::string(title));
  return *this;
}

AttemptBuilder& AttemptBuilder::Detail(absl::string_view detail) {
  attempt_.set_detail(std::string(detail));
  return *this;
}

AttemptBuilder& AttemptBuilder::Phase(v1::Phase phase, absl::Duration duration, bool completed) {
  v1::PhaseTiming* timing = attempt_.add_phases();
  timing->set_phase(phase);
  *timing->mutable_duration() = ToProtoDuration(duration);
  timing->set_completed(completed);
  return *this;
}

std::vector<v1::Attempt> Sequenced(const v1::Attempt& prototype, uint64_t first_sequence, int n) {
  std::vector<v1::Attempt> attempts(static_cast<size_t>(std::max(n, 0)), prototype);
  for (size_t i = 0; i < attempts.size(); ++i) attempts[i].set_sequence(first_sequence + i);
  return attempts;
}

v1::UploadRequest UploadBatch(uint64_t batch_id, absl::string_view agent_id,
                              absl::string_view session_id, std::vector<v1::Attempt> attempts) {
  v1::UploadRequest request;
  request.set_batch_id(batch_id);
  v1::SessionReport* session = request.mutable_session();
  session->mutable_agent()->set_agent_id(std::string(agent_id));
  session->set_session_id(std::string(session_id));
  for (v1::Attempt& attempt : attempts) {
    attempt.set_session_id(std::string(session_id));
    *session->add_attempts() = std::move(attempt);
  }
  return request;
}

}  // namespace relayscope::test
