// A scripted resolver for unit tests of the DNS check and of sessions:
// names answer with the addresses or the error a test gives, after a fixed
// latency on a FakeClock, or never (until the deadline, which only other
// threads' sleeps or the test's Advance bring nearer).
#ifndef AGENT_ATTEMPT_FAKE_RESOLVER_H_
#define AGENT_ATTEMPT_FAKE_RESOLVER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/attempt/resolver.h"
#include "common/fake_clock.h"

namespace relayscope::agent {

class FakeResolver final : public Resolver {
 public:
  explicit FakeResolver(FakeClock* clock) : clock_(clock) {}

  // `host` answers `addresses` after `latency` (a SleepUntil on the clock;
  // none: at once, whatever the time).
  void Script(const std::string& host, std::vector<std::string> addresses,
              absl::Duration latency = absl::ZeroDuration());
  // `host` fails with `error` (e.g. absl::NotFoundError("...: Name or
  // service not known")).
  void ScriptError(const std::string& host, absl::Status error);
  // `host` never answers: Resolve waits (without moving the clock) until
  // the deadline and fails with DEADLINE_EXCEEDED.
  void ScriptHang(const std::string& host);

  // An unscripted name is NOT_FOUND.
  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host,
                                                   absl::Time deadline) override;

  // The names asked so far, in call order.
  std::vector<std::string> asked();

 private:
  struct Answer {
    std::vector<std::string> addresses;
    absl::Status error;
    absl::Duration latency;
    bool hang = false;
  };
  FakeClock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, Answer> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> asked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_FAKE_RESOLVER_H_
