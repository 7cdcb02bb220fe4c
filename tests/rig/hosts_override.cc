#include "tests/rig/hosts_override.h"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/errno_text.h"

namespace relayscope::rig {

absl::StatusOr<std::unique_ptr<HostsOverride>> HostsOverride::Start(const Entries& entries,
                                                                    const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/hosts");
  {
    std::ofstream out(path);
    out << "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";
    for (const auto& [name, address] : entries) out << address << " " << name << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  if (unshare(CLONE_NEWNS) != 0) {
    const int err = errno;
    const std::string message = absl::StrCat("unshare(CLONE_NEWNS): ", ErrnoText(err));
    if (err == EPERM) return absl::PermissionDeniedError(absl::StrCat(message, " (needs root)"));
    return absl::InternalError(message);
  }
  // Without this, the bind mount below could propagate to the host's
  // mount namespace (systemd makes / shared).
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("making / private: ", ErrnoText(errno)));
  }
  if (mount(path.c_str(), "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) {
    return absl::InternalError(
        absl::StrCat("bind-mounting ", path, " over /etc/hosts: ", ErrnoText(errno)));
  }
  return std::unique_ptr<HostsOverride>(new HostsOverride(path));
}

HostsOverride::~HostsOverride() { umount2("/etc/hosts", MNT_DETACH); }

}  // namespace relayscope::rig
