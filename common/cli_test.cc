#include "common/cli.h"

#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(NormalizeFlagNames, DashedNamesBecomeUnderscoresValuesStayAsTheyAre) {
  const char* argv[] = {"prog", "diagnose", "--report-dir=/tmp/a-b", "--proxy-user", "me-you",
                        "-x",   "--",       "--not-a-flag"};
  std::vector<std::string> out = NormalizeFlagNames(8, const_cast<char**>(argv));
  EXPECT_EQ(out, (std::vector<std::string>{"prog", "diagnose", "--report_dir=/tmp/a-b",
                                           "--proxy_user", "me-you", "-x", "--", "--not-a-flag"}));
  std::vector<char*> pointers = ArgvPointers(out);
  EXPECT_EQ(pointers.size(), 9u);
  EXPECT_EQ(pointers.back(), nullptr);
}

}  // namespace
}  // namespace relayscope
