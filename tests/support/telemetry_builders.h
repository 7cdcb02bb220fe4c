// Builders of telemetry for the tests and benchmarks: one attempt as an
// agent records it, and the upload batches an agent sends. Each test says
// only what matters to it; the rest defaults to an attempt the collector's
// validator accepts against the tests' catalogues (region emea, relay
// emea-1, port 8200, direct, ok).
//
//   v1::Attempt refused = AttemptBuilder().To("emea", "emea-1", 8443)
//                             .Outcome(v1::OUTCOME_CONNECTION_REFUSED).Build();
//   v1::UploadRequest batch = UploadBatch(1, "agent-1", "s-1", Sequenced(refused, 1, 20));
#ifndef TESTS_SUPPORT_TELEMETRY_BUILDERS_H_
#define TESTS_SUPPORT_TELEMETRY_BUILDERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "relayscope/v1/ingest.pb.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::test {

// One v1::Attempt. Starts as session "s-1", sequence 1, started one second
// before the builder was made, to emea/emea-1:8200 direct, outcome ok, with
// no phases.
class AttemptBuilder {
 public:
  AttemptBuilder();

  AttemptBuilder& Session(absl::string_view session_id);
  AttemptBuilder& Sequence(uint64_t sequence);
  // Whole seconds: the fixtures' start times are minute-aligned instants or
  // "a few seconds ago", and rollup buckets are whole minutes.
  AttemptBuilder& StartedAt(absl::Time start);
  AttemptBuilder& To(absl::string_view region, absl::string_view relay, uint32_t port);
  AttemptBuilder& Address(absl::string_view address);
  AttemptBuilder& Route(v1::RouteKind kind);
  AttemptBuilder& Outcome(v1::Outcome outcome);
  AttemptBuilder& ProxyStatus(uint32_t status);
  // The page title an interceptor answered with (protocol interference).
  AttemptBuilder& PageTitle(absl::string_view title);
  AttemptBuilder& Detail(absl::string_view detail);
  // Appends a phase that took `duration`.
  AttemptBuilder& Phase(v1::Phase phase, absl::Duration duration, bool completed);

  v1::Attempt Build() const { return attempt_; }

 private:
  v1::Attempt attempt_;
};

// `n` copies of `prototype` numbered first_sequence, first_sequence + 1, ...
std::vector<v1::Attempt> Sequenced(const v1::Attempt& prototype, uint64_t first_sequence, int n);

// A batch as an agent uploads it: `batch_id`, the agent and session ids,
// and `attempts`, each stamped with `session_id`.
v1::UploadRequest UploadBatch(uint64_t batch_id, absl::string_view agent_id,
                              absl::string_view session_id, std::vector<v1::Attempt> attempts);

}  // namespace relayscope::test

#endif  // TESTS_SUPPORT_TELEMETRY_BUILDERS_H_
