#include "tests/rig/fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tests/rig/net.h"

namespace relayscope::rig {

void RigTest::SetUp() {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root: creates a network namespace, runs iptables and daemons "
                    "as nobody (CI runs as root)";
  }
  absl::Status ns = EnterPrivateNetworkNamespace();
  ASSERT_TRUE(ns.ok()) << ns;
  std::string pattern = (std::filesystem::temp_directory_path() / "relayscope-rig-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  dir_ = pattern;
  chmod(dir_.c_str(), 0755);
}

void RigTest::TearDown() {
  if (dir_.empty()) return;
  if (HasFailure()) {
    std::cerr << "rig: keeping the scenario dir for inspection: " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace relayscope::rig
