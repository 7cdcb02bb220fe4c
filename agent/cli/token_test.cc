#include "agent/cli/token.h"

#include <cstdlib>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

constexpr char kToken[] = "rs-agent-token-Zq9";

class LoadTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/relayscope-token-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  std::string dir_;
};

TEST_F(LoadTokenTest, ReadsTheFirstLineOfTheFile) {
  const std::string path = Write("token", std::string(kToken) + "\nsecond line\n");
  auto token = LoadToken(path, FixedEnvironment({{"RELAYSCOPE_TOKEN", "from-env"}}));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kToken);
}

TEST_F(LoadTokenTest, AFileWithoutANewlineIsAToken) {
  auto token = LoadToken(Write("token", kToken), FixedEnvironment({}));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kToken);
}

// The message names the file, never what it holds.
TEST_F(LoadTokenTest, AMissingFileIsAnErrorNamingIt) {
  const std::string path = dir_ + "/no-such-token";
  auto token = LoadToken(path, FixedEnvironment({{"RELAYSCOPE_TOKEN", kToken}}));
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(token.status().message(), "cannot read --token-file " + path);
}

TEST_F(LoadTokenTest, AnEmptyFileIsAnError) {
  EXPECT_EQ(LoadToken(Write("token", ""), FixedEnvironment({})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Opens, but nothing can be read from it.
TEST_F(LoadTokenTest, ADirectoryIsAnError) {
  EXPECT_EQ(LoadToken(dir_, FixedEnvironment({})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(LoadTokenTest, WithoutAFileTheEnvironmentServes) {
  auto token = LoadToken("", FixedEnvironment({{"RELAYSCOPE_TOKEN", kToken}}));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, kToken);
}

TEST_F(LoadTokenTest, NeitherFileNorEnvironmentIsNoToken) {
  auto token = LoadToken("", FixedEnvironment({}));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "");
}

}  // namespace
}  // namespace relayscope::agent
