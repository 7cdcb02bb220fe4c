// A full disk under the store: commits fail with RESOURCE_EXHAUSTED, nothing
// committed before is lost, and commits work again once space returns. The
// store lives on a 512 KiB tmpfs in a private mount namespace (root only).
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "collector/store/store.h"
#include "common/errno_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

IngestBatch Batch(uint64_t first, int count) {
  IngestBatch batch;
  batch.agent.set_agent_id("agent-1");
  batch.session_id = "s-1";
  for (int i = 0; i < count; ++i) {
    batch.attempts.push_back(test::AttemptBuilder()
                                 .Sequence(first + i)
                                 .StartedAt(absl::FromUnixSeconds(1764000000 + i))
                                 .Detail(std::string(400, 'x'))
                                 .Build());
  }
  return batch;
}

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: mounts a tmpfs in a mount namespace";
    ASSERT_EQ(unshare(CLONE_NEWNS), 0) << ErrnoText(errno);
    ASSERT_EQ(mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    std::string pattern = "/tmp/relayscope-full-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_EQ(mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=512k"), 0) << ErrnoText(errno);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  // Fills the file system; returns the filler's path.
  std::string Fill() {
    std::string filler = dir_ + "/filler";
    FILE* f = std::fopen(filler.c_str(), "wb");
    std::string block(4096, 'f');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    std::fclose(f);
    return filler;
  }
  std::string dir_;
};

TEST_F(DiskFull, CommitIsRefusedNothingAckedIsLostAndItRecovers) {
  auto store = OpenStore("sqlite://" + dir_ + "/collector.db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto first = (*store)->Commit(Batch(1, 10));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->accepted, 10u);

  const std::string filler = Fill();
  absl::StatusOr<CommitResult> full = (*store)->Commit(Batch(11, 300));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_THAT(std::string(full.status().message()), ::testing::HasSubstr("store is full"));
  auto count = (*store)->CountAttempts();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 10u);  // the acknowledged batch is intact, nothing half-written

  std::filesystem::remove(filler);
  auto recovered = (*store)->Commit(Batch(11, 300));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->accepted, 300u);
  EXPECT_EQ(*(*store)->CountAttempts(), 310u);
}

}  // namespace
}  // namespace relayscope::collector
