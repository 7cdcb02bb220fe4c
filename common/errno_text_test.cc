#include "common/errno_text.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(ErrnoText, NamesTheErrorLikeStrerror) {
  EXPECT_EQ(ErrnoText(ENOENT), "No such file or directory");
  EXPECT_EQ(ErrnoText(ENOSPC), "No space left on device");
}

TEST(ErrnoText, UnknownValueStillSaysWhichNumber) {
  EXPECT_NE(ErrnoText(123456).find("123456"), std::string::npos);
}

}  // namespace
}  // namespace relayscope
