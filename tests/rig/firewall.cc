#include "tests/rig/firewall.h"

#include "absl/strings/str_cat.h"
#include "tests/rig/process.h"

namespace relayscope::rig {

Firewall::~Firewall() { Clear(); }

absl::Status Firewall::Drop(absl::string_view address, uint16_t port) {
  return Add(address, port, /*reject=*/false);
}

absl::Status Firewall::Reject(absl::string_view address, uint16_t port) {
  return Add(address, port, /*reject=*/true);
}

namespace {

// "iptables -w -A INPUT -p tcp -d address --dport port" (ip6tables for IPv6).
std::vector<std::string> IncomingTcp(absl::string_view address, uint16_t port) {
  const bool v6 = address.find(':') != absl::string_view::npos;
  return {v6 ? "/usr/sbin/ip6tables" : "/usr/sbin/iptables",
          "-w",
          "-A",
          "INPUT",
          "-p",
          "tcp",
          "-d",
          std::string(address),
          "--dport",
          absl::StrCat(port)};
}

}  // namespace

absl::Status Firewall::Add(absl::string_view address, uint16_t port, bool reject) {
  std::vector<std::string> rule = IncomingTcp(address, port);
  if (reject) {
    rule.insert(rule.end(), {"-j", "REJECT", "--reject-with", "tcp-reset"});
  } else {
    rule.insert(rule.end(), {"-j", "DROP"});
  }
  return Run(std::move(rule));
}

absl::Status Firewall::Unreachable(absl::string_view address, uint16_t port, bool network) {
  const bool v6 = address.find(':') != absl::string_view::npos;
  const char* kind = v6 ? (network ? "icmp6-no-route" : "icmp6-addr-unreachable")
                        : (network ? "icmp-net-unreachable" : "icmp-host-unreachable");
  return Run({v6 ? "/usr/sbin/ip6tables" : "/usr/sbin/iptables", "-w", "-A", "INPUT", "-p", "tcp",
              "-d", std::string(address), "--dport", absl::StrCat(port), "-j", "REJECT",
              "--reject-with", kind});
}

absl::Status Firewall::BlockCarrying(absl::string_view address, uint16_t port,
                                     absl::string_view text, bool drop) {
  std::vector<std::string> rule = IncomingTcp(address, port);
  rule.insert(rule.end(), {"-m", "string", "--string", std::string(text), "--algo", "bm", "-j"});
  if (drop) {
    rule.push_back("DROP");
  } else {
    rule.insert(rule.end(), {"REJECT", "--reject-with", "tcp-reset"});
  }
  return Run(std::move(rule));
}

absl::Status Firewall::DropUnlessFromUser(absl::string_view address, uid_t uid) {
  const bool v6 = address.find(':') != absl::string_view::npos;
  return Run({v6 ? "/usr/sbin/ip6tables" : "/usr/sbin/iptables", "-w", "-A", "OUTPUT", "-p", "tcp",
              "-d", std::string(address), "-m", "owner", "!", "--uid-owner", absl::StrCat(uid),
              "-j", "DROP"});
}

// Adds `rule` (an iptables -A command line) and remembers its -D twin.
absl::Status Firewall::Run(std::vector<std::string> rule) {
  auto result = RunCommand(rule);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("iptables failed: ", result->output));
  }
  rule[2] = "-D";
  rules_.push_back(std::move(rule));
  return absl::OkStatus();
}

void Firewall::Clear() {
  for (const auto& rule : rules_) (void)RunCommand(rule);
  rules_.clear();
}

}  // namespace relayscope::rig
