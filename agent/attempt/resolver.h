// Looking a host name up on this machine, as the seam in front of the
// system resolver (CONVENTIONS.md §4): SystemResolver asks getaddrinfo;
// FakeResolver (agent/attempt/fake_resolver.h) answers as a test scripts.
//
// The session uses it for the DNS check (dns_check.h): the relay's name as
// this machine resolves it, compared with the catalogue's addresses.
#ifndef AGENT_ATTEMPT_RESOLVER_H_
#define AGENT_ATTEMPT_RESOLVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace relayscope::agent {

class Resolver {
 public:
  virtual ~Resolver() = default;
  // The addresses `host` resolves to, as literal strings in the resolver's
  // order, each once, or an error that says why not: NOT_FOUND (no such
  // name, or no address), UNAVAILABLE (the resolver failed, e.g. SERVFAIL or
  // no server), DEADLINE_EXCEEDED (no answer by `deadline`). Returns by
  // `deadline` (on the implementation's clock) whatever the resolver does.
  // Safe to call from many threads at once.
  virtual absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host,
                                                           absl::Time deadline) = 0;
};

// The real resolver: getaddrinfo (so /etc/hosts, nsswitch and resolv.conf
// apply, as for every other program on the machine), IPv4 and IPv6.
//
// getaddrinfo cannot be cancelled, so each lookup runs on a detached thread
// of its own and Resolve stops waiting for it at the deadline: a hanging
// resolver costs the caller its deadline, never more. The abandoned thread
// ends when getaddrinfo gives up (resolv.conf's timeout x attempts) and
// touches nothing but its own state.
class SystemResolver final : public Resolver {
 public:
  // The lookup itself, replaceable so that tests can make it hang.
  using Lookup = std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host)>;
  struct Options {
    // What `deadline` is measured on; nullptr: the system clock.
    Clock* clock = nullptr;
    // Empty: GetaddrinfoLookup.
    Lookup lookup;
  };
  SystemResolver() : SystemResolver(Options()) {}
  explicit SystemResolver(Options options);

  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host,
                                                   absl::Time deadline) override;

 private:
  Clock& clock_;
  Lookup lookup_;
};

// One blocking getaddrinfo(host) for TCP, AF_UNSPEC, without AI_ADDRCONFIG
// (so that a namespace with only loopback still gets its answers). Errors
// as Resolver::Resolve, with gai_strerror's words.
absl::StatusOr<std::vector<std::string>> GetaddrinfoLookup(const std::string& host);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_RESOLVER_H_
