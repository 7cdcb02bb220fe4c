#include "agent/attempt/fake_resolver.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace relayscope::agent {

void FakeResolver::Script(const std::string& host, std::vector<std::string> addresses,
                          absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  answers_[host] = Answer{std::move(addresses), absl::OkStatus(), latency, false};
}

void FakeResolver::ScriptError(const std::string& host, absl::Status error) {
  absl::MutexLock lock(&mu_);
  answers_[host] = Answer{{}, std::move(error), absl::ZeroDuration(), false};
}

void FakeResolver::ScriptHang(const std::string& host) {
  absl::MutexLock lock(&mu_);
  answers_[host] = Answer{{}, absl::OkStatus(), absl::ZeroDuration(), true};
}

absl::StatusOr<std::vector<std::string>> FakeResolver::Resolve(const std::string& host,
                                                               absl::Time deadline) {
  Answer answer;
  {
    absl::MutexLock lock(&mu_);
    asked_.push_back(host);
    auto it = answers_.find(host);
    if (it == answers_.end()) {
      return absl::NotFoundError(absl::StrCat(host, ": Name or service not known"));
    }
    answer = it->second;
  }
  // An answer without latency comes at once, even when other threads have
  // moved the clock past the deadline before this lookup ran (as a real
  // resolver's quick answer beats its caller's deadline check).
  if (answer.hang ||
      (answer.latency > absl::ZeroDuration() && clock_->Now() + answer.latency > deadline)) {
    Wakeup never;
    while (clock_->Now() < deadline) clock_->WaitUntil(never, deadline);
    return absl::DeadlineExceededError(absl::StrCat(host, ": no answer before the deadline"));
  }
  clock_->SleepUntil(clock_->Now() + answer.latency);
  if (!answer.error.ok()) return answer.error;
  return answer.addresses;
}

std::vector<std::string> FakeResolver::asked() {
  absl::MutexLock lock(&mu_);
  return asked_;
}

}  // namespace relayscope::agent
