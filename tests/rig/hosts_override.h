// What names resolve to, as a test says: a hosts file written by the test
// and bind-mounted over /etc/hosts inside a private mount namespace, so the
// real getaddrinfo (nsswitch "files" comes before "dns") answers a relay's
// name with, say, a sinkhole address, and nothing outside the test sees it.
//
//   auto hosts = HostsOverride::Start({{"relay.sinkhole.test", "0.0.0.0"}}, dir());
//   // getaddrinfo("relay.sinkhole.test") -> 0.0.0.0, in this thread and in the
//   // threads and processes it starts from now on
//
// unshare(CLONE_NEWNS) moves the calling thread only (like RigTest's
// network namespace): start it from the test's thread before the threads
// that must see it. The destructor unmounts the file, so /etc/hosts reads
// as before again; the (private, now identical) mount namespace stays.
#ifndef TESTS_RIG_HOSTS_OVERRIDE_H_
#define TESTS_RIG_HOSTS_OVERRIDE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace relayscope::rig {

class HostsOverride {
 public:
  // (name, address) lines, in order; "localhost" stays 127.0.0.1 / ::1.
  using Entries = std::vector<std::pair<std::string, std::string>>;

  // Writes `dir`/hosts, enters a private mount namespace (once per thread;
  // / is made private recursively, so no mount propagates to the host) and
  // bind-mounts the file over /etc/hosts. PERMISSION_DENIED when not root,
  // INTERNAL naming the failed step otherwise.
  static absl::StatusOr<std::unique_ptr<HostsOverride>> Start(const Entries& entries,
                                                              const std::string& dir);
  ~HostsOverride();
  HostsOverride(const HostsOverride&) = delete;
  HostsOverride& operator=(const HostsOverride&) = delete;

  // The file mounted over /etc/hosts.
  const std::string& path() const { return path_; }

 private:
  explicit HostsOverride(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_HOSTS_OVERRIDE_H_
