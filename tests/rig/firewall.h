// iptables rules inside the test's private network namespace: DROP makes a
// port time out (no answer to SYN), REJECT with tcp-reset makes it refuse
// at once. IPv6 addresses go to ip6tables. Rules are removed on destruction
// (and vanish with the namespace anyway).
#ifndef TESTS_RIG_FIREWALL_H_
#define TESTS_RIG_FIREWALL_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace relayscope::rig {

class Firewall {
 public:
  Firewall() = default;
  ~Firewall();
  Firewall(const Firewall&) = delete;
  Firewall& operator=(const Firewall&) = delete;

  // Incoming TCP to address:port is silently dropped. INTERNAL with
  // iptables' output if the rule cannot be added.
  absl::Status Drop(absl::string_view address, uint16_t port);
  // Incoming TCP to address:port is answered with a TCP reset.
  absl::Status Reject(absl::string_view address, uint16_t port);
  // Incoming TCP to address:port is answered with ICMP host-unreachable
  // (EHOSTUNREACH at the client) or, with `network`, net-unreachable
  // (ENETUNREACH).
  absl::Status Unreachable(absl::string_view address, uint16_t port, bool network);
  // Outgoing TCP to `address` (any port) is dropped unless the sending
  // process runs as `uid`: "only the proxy may go out", when the proxy
  // runs as that user (squid and dante run as nobody in the rig).
  absl::Status DropUnlessFromUser(absl::string_view address, uid_t uid);
  // Incoming TCP to address:port whose packet carries `text` (iptables'
  // string match, Boyer-Moore over the whole packet) is answered with a
  // TCP reset, or with `drop` silently dropped: a filter on, say, the
  // server name in a TLS ClientHello, while other packets pass.
  absl::Status BlockCarrying(absl::string_view address, uint16_t port, absl::string_view text,
                             bool drop);
  // Removes every rule this object added.
  void Clear();

 private:
  absl::Status Add(absl::string_view address, uint16_t port, bool reject);
  absl::Status Run(std::vector<std::string> rule);
  std::vector<std::vector<std::string>> rules_;  // argv for -D
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_FIREWALL_H_
