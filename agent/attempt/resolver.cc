#include "agent/attempt/resolver.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/socket.h"

namespace relayscope::agent {
namespace {

// What a lookup thread and the caller waiting for it share; kept alive by
// whichever of them lasts longer.
struct PendingLookup {
  absl::Mutex mu;
  std::optional<absl::StatusOr<std::vector<std::string>>> result ABSL_GUARDED_BY(mu);
  Wakeup done;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> GetaddrinfoLookup(const std::string& host) {
  StartSockets();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    const std::string message = absl::StrCat(host, ": ", gai_strerror(rc));
    if (rc == EAI_NONAME || rc == EAI_NODATA) return absl::NotFoundError(message);
    return absl::UnavailableError(message);
  }
  std::vector<std::string> addresses;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (ai->ai_family == AF_INET) {
      raw = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    }
    if (raw == nullptr || inet_ntop(ai->ai_family, raw, text, sizeof(text)) == nullptr) continue;
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.emplace_back(text);
    }
  }
  freeaddrinfo(list);
  if (addresses.empty()) return absl::NotFoundError(absl::StrCat(host, ": no address"));
  return addresses;
}

SystemResolver::SystemResolver(Options options)
    : clock_(options.clock != nullptr ? *options.clock : Clock::Real()),
      lookup_(options.lookup ? std::move(options.lookup) : Lookup(GetaddrinfoLookup)) {}

absl::StatusOr<std::vector<std::string>> SystemResolver::Resolve(const std::string& host,
                                                                 absl::Time deadline) {
  auto pending = std::make_shared<PendingLookup>();
  std::thread([pending, lookup = lookup_, host] {
    auto result = lookup(host);
    {
      absl::MutexLock lock(&pending->mu);
      pending->result = std::move(result);
    }
    pending->done.Notify();
  }).detach();
  for (;;) {
    {
      absl::MutexLock lock(&pending->mu);
      if (pending->result.has_value()) return *std::move(pending->result);
    }
    if (clock_.Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(host, ": no answer before the deadline"));
    }
    clock_.WaitUntil(pending->done, deadline);
  }
}

}  // namespace relayscope::agent
